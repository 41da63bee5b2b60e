//! Per-subject limits of one gateway replica: calls per second and commands per minute
//! (token buckets) and open streams, and an idle timeout on streams (no total deadline: stdout of a long command
//! may flow for hours; a stream with nothing on it for the idle time is ended UNAVAILABLE
//! and the client resumes it).

use crate::sync::lock;
use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Status;

/// Subjects not seen for this long are forgotten (bounds the table).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// A token bucket: `rate` per second, up to `burst` saved.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

struct Subject {
    calls: Bucket,
    execs: Bucket,
    streams: usize,
}

pub struct SubjectLimits {
    rate: f64,
    burst: f64,
    /// Commands per minute (0: no limit).
    execs_per_minute: u32,
    max_streams: usize,
    table: Mutex<HashMap<String, Subject>>,
}

impl SubjectLimits {
    /// `rate` calls per second on average, bursts of twice that; `execs_per_minute`
    /// commands a minute (bursts of that many; 0: no limit); `max_streams` open streams.
    pub fn new(rate: u32, max_streams: usize, execs_per_minute: u32) -> Arc<SubjectLimits> {
        Arc::new(SubjectLimits {
            rate: rate as f64,
            burst: (rate as f64 * 2.0).max(1.0),
            execs_per_minute,
            max_streams,
            table: Mutex::new(HashMap::new()),
        })
    }

    fn with<T>(&self, sub: &str, f: impl FnOnce(&mut Subject, Instant) -> T) -> T {
        let now = Instant::now();
        let mut table = lock(&self.table);
        if table.len() > 10_000 {
            table.retain(|_, s| s.streams > 0 || now.duration_since(s.calls.at) < FORGET_AFTER);
        }
        let s = table.entry(sub.to_string()).or_insert(Subject {
            calls: Bucket {
                tokens: self.burst,
                at: now,
            },
            execs: Bucket {
                tokens: self.execs_per_minute as f64,
                at: now,
            },
            streams: 0,
        });
        f(s, now)
    }

    /// Counts one call of `sub`; RESOURCE_EXHAUSTED past the rate.
    pub fn call(&self, sub: &str) -> Result<(), Status> {
        if self.with(sub, |s, now| s.calls.take(now, self.rate, self.burst)) {
            return Ok(());
        }
        Err(Status::resource_exhausted(format!(
            "too many calls: this server allows {} calls per second per user",
            self.rate
        )))
    }

    /// Counts one command of `sub`; RESOURCE_EXHAUSTED past the per-minute quota.
    pub fn exec(&self, sub: &str) -> Result<(), Status> {
        let n = self.execs_per_minute;
        if n == 0 || self.with(sub, |s, now| s.execs.take(now, n as f64 / 60.0, n as f64)) {
            return Ok(());
        }
        Err(Status::resource_exhausted(format!(
            "too many commands: this server allows {n} commands per minute per user; wait a moment"
        )))
    }

    /// Opens one stream of `sub`; RESOURCE_EXHAUSTED past the limit. The stream counts
    /// until the returned guard is dropped.
    pub fn open_stream(self: &Arc<Self>, sub: &str) -> Result<StreamGuard, Status> {
        let max = self.max_streams;
        let opened = self.with(sub, |s, _| {
            if s.streams >= max {
                return false;
            }
            s.streams += 1;
            true
        });
        if !opened {
            return Err(Status::resource_exhausted(format!(
                "too many open streams: this server allows {max} per user"
            )));
        }
        Ok(StreamGuard {
            limits: self.clone(),
            sub: sub.to_string(),
        })
    }
}

pub struct StreamGuard {
    limits: Arc<SubjectLimits>,
    sub: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut table = lock(&self.limits.table);
        if let Some(s) = table.get_mut(&self.sub) {
            s.streams = s.streams.saturating_sub(1);
        }
    }
}

/// A stream that holds its subject's stream slot and ends UNAVAILABLE after `idle` with
/// no item.
pub struct Guarded<S> {
    inner: S,
    _guard: StreamGuard,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, guard: StreamGuard, idle: Duration) -> Self {
        Guarded {
            inner,
            _guard: guard,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            done: false,
        }
    }
}

impl<S, T> Stream for Guarded<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let deadline = tokio::time::Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                if item.is_none() {
                    self.done = true;
                }
                Poll::Ready(item)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    Poll::Ready(Some(Err(Status::unavailable(
                        "stream idle for too long; resume it from the last offset",
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

use std::future::Future;

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn rate_limits_per_subject() {
        let l = SubjectLimits::new(5, 2, 3);
        let ok = (0..20).filter(|_| l.call("a").is_ok()).count();
        assert_eq!(ok, 10, "a burst of twice the rate");
        assert_eq!(
            l.call("a").unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        assert!(l.call("b").is_ok(), "another subject has its own bucket");
    }

    #[test]
    fn commands_per_minute() {
        let l = SubjectLimits::new(5, 2, 3);
        assert!((0..3).all(|_| l.exec("a").is_ok()));
        assert_eq!(
            l.exec("a").unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        assert!(l.exec("b").is_ok());
        let unlimited = SubjectLimits::new(5, 2, 0);
        assert!((0..1000).all(|_| unlimited.exec("a").is_ok()));
    }

    #[test]
    fn streams_are_counted_until_dropped() {
        let l = SubjectLimits::new(5, 2, 3);
        let a = l.open_stream("a").unwrap();
        let _b = l.open_stream("a").unwrap();
        assert!(l.open_stream("a").is_err());
        assert!(l.open_stream("z").is_ok());
        drop(a);
        assert!(l.open_stream("a").is_ok());
    }

    #[tokio::test]
    async fn idle_streams_end_unavailable() {
        let l = SubjectLimits::new(5, 2, 3);
        let inner = futures::stream::pending::<Result<u8, Status>>();
        let mut s = Guarded::new(
            inner,
            l.open_stream("a").unwrap(),
            Duration::from_millis(50),
        );
        let item = s.next().await.unwrap();
        assert_eq!(item.unwrap_err().code(), tonic::Code::Unavailable);
        assert!(s.next().await.is_none());
        drop(s);
        assert!(l.open_stream("a").is_ok() && l.open_stream("a").is_ok());
    }
}
