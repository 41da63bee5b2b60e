//! A bounded, offset-addressed output buffer for one stdio stream.
//!
//! Bytes are addressed by their absolute offset since the stream began, so a reader that
//! lost its connection reopens at the offset it already has and gets exactly the rest.
//!
//! Two bounds: at most `cap` bytes that no reader has been sent (beyond that the producer
//! waits, which stops reading the process's pipe and so blocks the process: back-pressure
//! end to end), and the last `2 * cap` bytes sent (the replay window). "Sent" is not
//! "received": a reader whose connection drops reopens at what it received, which can be
//! megabytes behind (socket buffers on both sides, a proxy's, the browser's; measured up
//! to ~8 MB on loopback through a proxy). Bytes older than the window are dropped; a
//! reader asking for them starts at the oldest byte kept (and is told: see `Read::Data`).

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// Unsent bytes kept per stream (the replay window is twice this).
pub const DEFAULT_CAP: usize = 8 << 20;

#[derive(Default)]
struct Inner {
    /// Absolute offset of the first byte in `chunks`.
    start: u64,
    chunks: VecDeque<Bytes>,
    len: usize,
    /// Highest offset handed to any reader.
    sent: u64,
    closed: bool,
}

impl Inner {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Bytes no reader has been sent yet.
    fn unsent(&self) -> usize {
        (self.end() - self.sent.max(self.start)) as usize
    }

    /// Drops the bytes sent more than `replay` bytes before the furthest byte sent.
    fn trim(&mut self, replay: usize) {
        let keep_from = self.sent.saturating_sub(replay as u64);
        while self.start < keep_from {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            let n = ((keep_from - self.start) as usize).min(front.len());
            if n == front.len() {
                self.chunks.pop_front();
            } else {
                *front = front.slice(n..);
            }
            self.start += n as u64;
            self.len -= n;
        }
    }
}

pub struct OutputBuffer {
    cap: usize,
    inner: Mutex<Inner>,
    changed: Notify,
}

/// What a reader gets for an offset.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// Bytes starting at `offset` (which is above the requested one if older bytes were dropped).
    Data { offset: u64, data: Bytes },
    /// No bytes past the offset yet; wait and ask again.
    Pending,
    /// The stream has ended at or before this offset.
    Eof,
}

impl Default for OutputBuffer {
    fn default() -> Self {
        Self::new(DEFAULT_CAP)
    }
}

impl OutputBuffer {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::sync::lock(&self.inner)
    }

    /// Append bytes, waiting while `cap` bytes no reader has seen are buffered.
    pub async fn push(&self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        loop {
            let notified = self.changed.notified();
            {
                let mut inner = self.lock();
                inner.trim(2 * self.cap);
                let unsent = inner.unsent();
                if unsent == 0 || unsent + data.len() <= self.cap {
                    inner.len += data.len();
                    inner.chunks.push_back(data);
                    drop(inner);
                    self.changed.notify_waiters();
                    return;
                }
            }
            notified.await;
        }
    }

    /// Mark the end of the stream.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_waiters();
    }

    /// Up to `max` bytes at `offset` (or at the oldest kept byte if `offset` was dropped).
    pub fn read(&self, offset: u64, max: usize) -> Read {
        let max = max.max(1);
        let mut inner = self.lock();
        let offset = offset.max(inner.start);
        if offset >= inner.end() {
            return if inner.closed {
                Read::Eof
            } else {
                Read::Pending
            };
        }
        let mut skip = (offset - inner.start) as usize;
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut taken = 0;
        for chunk in &inner.chunks {
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            let n = (chunk.len() - skip).min(max - taken);
            pieces.push(chunk.slice(skip..skip + n));
            skip = 0;
            taken += n;
            if taken >= max {
                break;
            }
        }
        let data = match pieces.len() {
            1 => pieces.swap_remove(0),
            _ => Bytes::from(pieces.concat()),
        };
        let sent = offset + data.len() as u64;
        if sent > inner.sent {
            inner.sent = sent;
            drop(inner);
            // room may have opened up for a waiting producer
            self.changed.notify_waiters();
        }
        Read::Data { offset, data }
    }

    /// Wait for bytes past `offset`, or for the end. Returns `None` at EOF.
    pub async fn next(&self, offset: u64, max: usize) -> Option<(u64, Bytes)> {
        loop {
            let notified = self.changed.notified();
            match self.read(offset, max) {
                Read::Data { offset, data } => return Some((offset, data)),
                Read::Eof => return None,
                Read::Pending => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn data(r: Read) -> (u64, Vec<u8>) {
        match r {
            Read::Data { offset, data } => (offset, data.to_vec()),
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn replays_from_any_offset_and_ends_after_close() {
        let b = OutputBuffer::new(1024);
        b.push(Bytes::from_static(b"hello ")).await;
        b.push(Bytes::from_static(b"world")).await;
        assert_eq!(data(b.read(0, 100)), (0, b"hello world".to_vec()));
        assert_eq!(data(b.read(3, 4)), (3, b"lo w".to_vec()));
        assert_eq!(data(b.read(6, 100)), (6, b"world".to_vec()));
        assert_eq!(b.read(11, 100), Read::Pending);
        b.close();
        assert_eq!(b.read(11, 100), Read::Eof);
        assert_eq!(data(b.read(10, 100)), (10, b"d".to_vec()));
    }

    #[tokio::test]
    async fn producer_waits_for_readers_instead_of_dropping_unseen_bytes() {
        let b = Arc::new(OutputBuffer::new(8));
        b.push(Bytes::from_static(b"12345678")).await;
        let producer = {
            let b = b.clone();
            tokio::spawn(async move { b.push(Bytes::from_static(b"9abc")).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!producer.is_finished(), "must wait: nothing was read yet");
        assert_eq!(data(b.read(0, 6)), (0, b"123456".to_vec()));
        tokio::time::timeout(Duration::from_secs(1), producer)
            .await
            .expect("producer resumes once bytes were read")
            .unwrap();
        // nothing was dropped: all of it is in the replay window
        assert_eq!(data(b.read(0, 100)), (0, b"123456789abc".to_vec()));
    }

    #[tokio::test]
    async fn bytes_sent_stay_replayable_for_twice_the_cap() {
        // A reader took bytes 0..8 and lost its connection before they arrived; the
        // producer keeps going: the last 16 bytes sent stay for its reconnect.
        let b = OutputBuffer::new(8);
        b.push(Bytes::from_static(b"01234567")).await;
        assert_eq!(data(b.read(0, 8)), (0, b"01234567".to_vec()));
        b.push(Bytes::from_static(b"89abcdef")).await;
        assert_eq!(data(b.read(0, 100)), (0, b"0123456789abcdef".to_vec()));
        // bytes older than 16 behind the furthest sent go; a reader asking for them
        // starts at the oldest kept (TaskExecStdioRead turns that into DATA_LOSS)
        b.push(Bytes::from_static(b"ghij")).await;
        assert_eq!(data(b.read(16, 100)), (16, b"ghij".to_vec()));
        b.push(Bytes::from_static(b"klmn")).await;
        assert_eq!(data(b.read(0, 100)), (4, b"456789abcdefghijklmn".to_vec()));
    }

    #[tokio::test]
    async fn next_waits_for_data_and_eof() {
        let b = Arc::new(OutputBuffer::new(64));
        let reader = {
            let b = b.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut off = 0;
                while let Some((o, d)) = b.next(off, 3).await {
                    assert_eq!(o, off);
                    off += d.len() as u64;
                    got.extend_from_slice(&d);
                }
                got
            })
        };
        for piece in [&b"ab"[..], b"cdef", b"g"] {
            b.push(Bytes::copy_from_slice(piece)).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        b.close();
        assert_eq!(reader.await.unwrap(), b"abcdefg");
    }
}
