//! Ephemeral volumes live while their client heartbeats them (VolumeHeartbeat; Modal's
//! clients send one every 300 s from the start), as on Modal: one no client has
//! heartbeated for the TTL, and that no running sandbox mounts, is deleted with its files.
//! Heartbeat times are kept in memory, so after a restart every ephemeral volume gets a
//! full TTL again.

use crate::state::{State, VolumeRecord};
use crate::sync::lock;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Three missed heartbeats of Modal's clients.
pub const DEFAULT_TTL: Duration = Duration::from_secs(900);

impl State {
    /// A heartbeat (or the creation) of ephemeral volume `id`.
    pub fn volume_beat(&self, id: &str) {
        lock(&self.volume_beats).insert(id.to_string(), Instant::now());
    }

    /// Delete the ephemeral volumes whose heartbeats stopped; returns their ids.
    pub async fn sweep_ephemeral_volumes(&self) -> Vec<String> {
        let Ok(volumes) = self.store.list::<VolumeRecord>() else {
            return vec![];
        };
        let mounted: std::collections::HashSet<String> = lock(&self.mounted_volumes)
            .values()
            .flatten()
            .cloned()
            .collect();
        let now = Instant::now();
        let mut gone = Vec::new();
        for v in volumes.into_iter().filter(|v| v.ephemeral) {
            let expired = {
                let mut beats = lock(&self.volume_beats);
                let last = *beats.entry(v.id.clone()).or_insert(now);
                if mounted.contains(&v.id) {
                    // in use: as good as a heartbeat
                    beats.insert(v.id.clone(), now);
                    false
                } else {
                    now.duration_since(last) > self.ephemeral_ttl
                }
            };
            if !expired {
                continue;
            }
            if let Err(e) = self.store.delete::<VolumeRecord>(&v.id) {
                tracing::warn!(volume = %v.id, "deleting an expired ephemeral volume: {e:#}");
                continue;
            }
            lock(&self.volume_beats).remove(&v.id);
            let dir = self.backend.volumes.dir(&v.id);
            let _ =
                tokio::task::spawn_blocking(move || crate::backend::reap::remove_tree(&dir)).await;
            tracing::info!(volume = %v.id, "ephemeral volume expired: no heartbeat");
            gone.push(v.id);
        }
        gone
    }
}

/// Sweep every quarter of the TTL (at most every minute) while sandboxd runs.
pub fn spawn_sweeper(state: Arc<State>) {
    let every =
        (state.ephemeral_ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            state.sweep_ephemeral_volumes().await;
        }
    });
}
