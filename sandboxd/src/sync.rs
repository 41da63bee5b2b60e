//! sandboxd's one lock rule.
//!
//! Shared state sits in a `std::sync::Mutex`, taken with [`lock`] for a few statements
//! that never reach an `.await` (clippy's `await_holding_lock`, denied by the test
//! command, and the `Send` bound of spawned tasks hold every call site to it).
//!
//! A poisoned lock is taken all the same: a panic elsewhere must not turn every later
//! read into "nothing there" and every later write into a silent no-op, which is what
//! skipping the lock on `Err` did.
//!
//! The one exception is work that awaits and must run one at a time: ordered writes to
//! a stdin pipe, opening a port's connect proxy once, the gateway's single auth-token
//! fetch. Such work holds a `tokio::sync::Mutex` that owns that work's own state, and
//! nothing else uses one.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Take `m`, poisoned or not.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
