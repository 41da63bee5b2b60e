//! Bookkeeping around the stdio read streams: how many are open (served at
//! `/__sandboxd/stats`, so a test can see a client's cancel reach the server), and an
//! opt-in fault (`serve --fault-cut-stdio-after BYTES`) that ends every stdio stream with
//! UNAVAILABLE after that many bytes, so clients' resume-from-offset runs against a real
//! server.

use futures::Stream;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_stream::StreamExt;
use tonic::Status;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[derive(Default)]
pub struct StdioStreams {
    open: Arc<AtomicUsize>,
    /// Cut each stream after this many bytes (testing only).
    pub cut_after: Option<u64>,
}

struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StdioStreams {
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Count `stream` as open until it is dropped, and apply the fault if configured.
    pub fn track<T: Send + 'static>(
        &self,
        stream: impl Stream<Item = Result<T, Status>> + Send + 'static,
        len: fn(&T) -> usize,
    ) -> BoxStream<T> {
        self.open.fetch_add(1, Ordering::SeqCst);
        let guard = OpenGuard(self.open.clone());
        let cut_after = self.cut_after;
        let mut sent = 0u64;
        let mut cut = false;
        let stream = stream.map_while(move |item| {
            let _keep = &guard;
            if cut {
                return None;
            }
            if let (Some(limit), Ok(msg)) = (cut_after, &item) {
                if sent >= limit {
                    cut = true;
                    return Some(Err(Status::unavailable(
                        "stream cut by sandboxd --fault-cut-stdio-after (testing)",
                    )));
                }
                sent += len(msg) as u64;
            }
            Some(item)
        });
        Box::pin(stream)
    }
}
