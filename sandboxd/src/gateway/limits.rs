//! Per-subject limits of one gateway replica: calls per second (a token bucket) and open
//! streams, and an idle timeout on streams (no total deadline: stdout of a long command
//! may flow for hours; a stream with nothing on it for the idle time is ended UNAVAILABLE
//! and the client resumes it).

use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Status;

/// Subjects not seen for this long are forgotten (bounds the table).
const FORGET_AFTER: Duration = Duration::from_secs(600);

struct Bucket {
    tokens: f64,
    at: Instant,
    streams: usize,
}

pub struct SubjectLimits {
    rate: f64,
    burst: f64,
    max_streams: usize,
    table: Mutex<HashMap<String, Bucket>>,
}

impl SubjectLimits {
    /// `rate` calls per second on average, bursts of twice that; `max_streams` open streams.
    pub fn new(rate: u32, max_streams: usize) -> Arc<SubjectLimits> {
        Arc::new(SubjectLimits {
            rate: rate as f64,
            burst: (rate as f64 * 2.0).max(1.0),
            max_streams,
            table: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one call of `sub`; RESOURCE_EXHAUSTED past the rate.
    pub fn call(&self, sub: &str) -> Result<(), Status> {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() > 10_000 {
            table.retain(|_, b| b.streams > 0 || now.duration_since(b.at) < FORGET_AFTER);
        }
        let b = table.entry(sub.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
            streams: 0,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(Status::resource_exhausted(format!(
                "too many calls: this gateway allows {} calls per second per user",
                self.rate
            )));
        }
        b.tokens -= 1.0;
        Ok(())
    }

    /// Opens one stream of `sub`; RESOURCE_EXHAUSTED past the limit. The stream counts
    /// until the returned guard is dropped.
    pub fn open_stream(self: &Arc<Self>, sub: &str) -> Result<StreamGuard, Status> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let b = table.entry(sub.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: Instant::now(),
            streams: 0,
        });
        if b.streams >= self.max_streams {
            return Err(Status::resource_exhausted(format!(
                "too many open streams: this gateway allows {} per user",
                self.max_streams
            )));
        }
        b.streams += 1;
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
        let mut table = self.limits.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = table.get_mut(&self.sub) {
            b.streams = b.streams.saturating_sub(1);
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
        let l = SubjectLimits::new(5, 2);
        let ok = (0..20).filter(|_| l.call("a").is_ok()).count();
        assert_eq!(ok, 10, "a burst of twice the rate");
        assert_eq!(
            l.call("a").unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        assert!(l.call("b").is_ok(), "another subject has its own bucket");
    }

    #[test]
    fn streams_are_counted_until_dropped() {
        let l = SubjectLimits::new(5, 2);
        let a = l.open_stream("a").unwrap();
        let _b = l.open_stream("a").unwrap();
        assert!(l.open_stream("a").is_err());
        assert!(l.open_stream("z").is_ok());
        drop(a);
        assert!(l.open_stream("a").is_ok());
    }

    #[tokio::test]
    async fn idle_streams_end_unavailable() {
        let l = SubjectLimits::new(5, 2);
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
