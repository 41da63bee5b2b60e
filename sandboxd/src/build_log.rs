//! Image builds in progress as their watchers see them: each build's log so far and
//! whether it has finished, by image id. ImageJoinStreaming tails these while the build
//! (`builds`) runs; once finished, the log is in the image's record.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A build in progress: its log so far, and whether it has finished.
#[derive(Default)]
pub struct Build {
    lines: Mutex<Vec<String>>,
    finished: AtomicBool,
    changed: Notify,
}

impl Build {
    pub fn log(&self, line: impl Into<String>) {
        lock(&self.lines).push(line.into());
        self.changed.notify_waiters();
    }

    /// The log so far.
    pub fn all_lines(&self) -> Vec<String> {
        lock(&self.lines).clone()
    }

    /// Lines from `from` on, waiting for new ones; `None` once finished and all were read.
    pub async fn lines_from(&self, from: usize) -> Option<Vec<String>> {
        loop {
            let notified = self.changed.notified();
            let lines: Vec<String> = lock(&self.lines).iter().skip(from).cloned().collect();
            if !lines.is_empty() {
                return Some(lines);
            }
            if self.finished.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }
}

/// Running builds, by image id.
pub type Builds = Mutex<HashMap<String, Arc<Build>>>;
