//! Offset-checked stdin: every write carries the absolute offset of its first byte, so a
//! retried write is recognised and applied once.

use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::Mutex;

#[derive(Debug, Error, PartialEq)]
pub enum StdinError {
    #[error("stdin write at offset {got} but only {have} bytes were written so far; write from offset {have}")]
    Gap { got: u64, have: u64 },
    #[error("stdin is already closed (EOF was sent)")]
    Closed,
    #[error(
        "stdin write at offset {offset} of {len} bytes ends past the largest offset (2^64 - 1)"
    )]
    Overflow { offset: u64, len: u64 },
}

#[derive(Default)]
struct State {
    written: u64,
    eof: bool,
    pipe: Option<ChildStdin>,
}

#[derive(Default)]
pub struct StdinSink {
    /// Async (see `crate::sync`): a write awaits the pipe, and writes apply in order.
    state: Mutex<State>,
}

impl StdinSink {
    pub fn new(pipe: Option<ChildStdin>) -> Self {
        Self {
            state: Mutex::new(State {
                pipe,
                ..State::default()
            }),
        }
    }

    /// Write `data` that starts at absolute `offset`; bytes before `written` are a retry
    /// and skipped. `eof` closes the pipe after the data.
    pub async fn write(&self, offset: u64, data: &[u8], eof: bool) -> Result<(), StdinError> {
        let len = data.len() as u64;
        let end = offset
            .checked_add(len)
            .ok_or(StdinError::Overflow { offset, len })?;
        let mut st = self.state.lock().await;
        if st.eof {
            // a retry of what was already accepted, the EOF included, is fine
            return if end <= st.written {
                Ok(())
            } else {
                Err(StdinError::Closed)
            };
        }
        if offset > st.written {
            return Err(StdinError::Gap {
                got: offset,
                have: st.written,
            });
        }
        let fresh = &data[(st.written - offset).min(data.len() as u64) as usize..];
        if !fresh.is_empty() {
            if let Some(pipe) = st.pipe.as_mut() {
                // a process that closed its stdin just doesn't get the bytes
                if pipe.write_all(fresh).await.is_err() || pipe.flush().await.is_err() {
                    st.pipe = None;
                }
            }
            st.written = end.max(st.written);
        }
        if eof {
            st.eof = true;
            st.pipe = None; // dropping the pipe is the EOF
        }
        Ok(())
    }

    /// Let go of the pipe (its process has ended): writes are still accepted, and go
    /// nowhere, as they would to a process that closed its stdin.
    pub async fn release(&self) {
        self.state.lock().await.pipe = None;
    }

    pub async fn status(&self) -> (u64, bool) {
        let st = self.state.lock().await;
        (st.written, st.eof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_are_idempotent_and_gaps_refused() {
        let s = StdinSink::new(None);
        s.write(0, b"abc", false).await.unwrap();
        s.write(0, b"abc", false).await.unwrap();
        s.write(1, b"bcde", false).await.unwrap();
        assert_eq!(s.status().await, (5, false));
        assert_eq!(
            s.write(9, b"x", false).await,
            Err(StdinError::Gap { got: 9, have: 5 })
        );
        s.write(5, b"", true).await.unwrap();
        s.write(5, b"", true).await.unwrap();
        assert_eq!(s.write(5, b"z", false).await, Err(StdinError::Closed));
    }

    #[tokio::test]
    async fn offsets_that_overflow_are_refused_not_wrapped() {
        let s = StdinSink::new(None);
        s.write(0, b"abc", false).await.unwrap();
        assert_eq!(
            s.write(u64::MAX - 1, b"xyz", false).await,
            Err(StdinError::Overflow {
                offset: u64::MAX - 1,
                len: 3
            })
        );
        assert_eq!(s.status().await, (3, false), "nothing was applied");
        // an offset at the very end with no data is a (harmless) gap, not a panic
        assert!(s.write(u64::MAX, b"", false).await.is_err());
    }
}
