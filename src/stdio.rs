//! Stdio as Rust streams and sinks: a resumable output stream over reopenable server
//! streams ([`OutputStream`]: `Stream` and `AsyncRead`), and an offset-tracking stdin sink
//! ([`Stdin`]: `Sink` and `AsyncWrite`). The JS facade adapts them to web streams with
//! wasm-streams (pull-based: nothing is read from the network unless JS reads).

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{self, LocalBoxStream, StreamExt};
use futures_util::{Sink, SinkExt};

use crate::cursor::ReadCursor;
use crate::error::{Error, Result};
use crate::retry::{Attempts, Backoff, Decision};
use crate::utf8::Utf8Decoder;

/// One chunk of a server stream: its bytes and, when the server reports it, the absolute
/// offset of the attempt's first byte.
pub struct Chunk {
    /// Output bytes.
    pub data: Bytes,
    /// `starting_offset` of SandboxStdioReadV2 replies.
    pub starting_offset: Option<u64>,
}

/// An opened server stream.
pub type ChunkStream = LocalBoxStream<'static, std::result::Result<Chunk, crate::grpc::Status>>;
/// Opens the server stream at a byte offset.
pub type Opener = Rc<dyn Fn(u64) -> LocalBoxFuture<'static, Result<ChunkStream>>>;
/// Refreshes credentials after UNAUTHENTICATED.
pub type Refresher = Rc<dyn Fn() -> LocalBoxFuture<'static, Result<()>>>;
/// Sleeps some milliseconds.
pub type Sleeper = Rc<dyn Fn(u32) -> LocalBoxFuture<'static, ()>>;

struct ReadState {
    open: Opener,
    refresh: Refresher,
    sleep: Sleeper,
    cursor: ReadCursor,
    attempts: Attempts,
    current: Option<ChunkStream>,
    done: bool,
}

/// Output bytes, reopened at the delivered offset after a dropped connection (bounded
/// retries with backoff, then an error item). Ends when the server ends the stream OK.
pub fn resumable(
    from: u64,
    open: Opener,
    refresh: Refresher,
    sleep: Sleeper,
) -> LocalBoxStream<'static, Result<Bytes>> {
    let state = ReadState {
        open,
        refresh,
        sleep,
        cursor: ReadCursor::at(from),
        attempts: Attempts::new(Backoff::STREAM, true),
        current: None,
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let current = match st.current.as_mut() {
                Some(c) => c,
                None => {
                    st.cursor.begin_attempt();
                    match (st.open)(st.cursor.offset()).await {
                        Ok(s) => st.current.insert(s),
                        Err(e) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    }
                }
            };
            match current.next().await {
                Some(Ok(chunk)) => {
                    st.attempts.reset();
                    let skip = st.cursor.accept(chunk.starting_offset, chunk.data.len());
                    if skip < chunk.data.len() {
                        return Some((Ok(chunk.data.slice(skip..)), st));
                    }
                }
                None => return None,
                Some(Err(status)) => {
                    st.current = None;
                    match st.attempts.on_error(status.code()) {
                        Decision::Retry(ms) => (st.sleep)(ms).await,
                        Decision::RefreshAuth => {
                            if let Err(e) = (st.refresh)().await {
                                st.done = true;
                                return Some((Err(e), st));
                            }
                        }
                        Decision::Fail => {
                            st.done = true;
                            return Some((Err(status.into()), st));
                        }
                    }
                }
            }
        }
    })
    .boxed_local()
}

/// Decodes a byte stream as UTF-8 text, a code point split across chunks kept whole.
pub fn text<E: 'static>(
    bytes: LocalBoxStream<'static, std::result::Result<Bytes, E>>,
) -> LocalBoxStream<'static, std::result::Result<String, E>> {
    stream::unfold(
        (bytes, Utf8Decoder::new(), false),
        |(mut s, mut dec, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match s.next().await {
                    Some(Ok(b)) => {
                        let t = dec.push(&b);
                        if !t.is_empty() {
                            return Some((Ok(t), (s, dec, false)));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (s, dec, true))),
                    None => {
                        let t = dec.finish();
                        return if t.is_empty() {
                            None
                        } else {
                            Some((Ok(t), (s, dec, true)))
                        };
                    }
                }
            }
        },
    )
    .boxed_local()
}

/// Writes `data` (not `eof`) or EOF at an absolute offset; retried by the caller's policy.
pub type Writer = Rc<dyn Fn(u64, Bytes, bool) -> LocalBoxFuture<'static, Result<()>>>;

/// Largest stdin write sent in one request.
pub const MAX_WRITE: usize = 1 << 20;

/// A stdin sink: each item is written at the running offset (idempotent on retry);
/// closing sends EOF.
pub struct OffsetSink {
    write: Writer,
    offset: u64,
    pending: Option<LocalBoxFuture<'static, Result<u64>>>,
    eof_sent: bool,
}

impl OffsetSink {
    /// A sink at offset 0.
    pub fn new(write: Writer) -> Self {
        OffsetSink {
            write,
            offset: 0,
            pending: None,
            eof_sent: false,
        }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(f) = self.pending.as_mut() {
            let r = ready!(f.as_mut().poll(cx));
            self.pending = None;
            self.offset = r?;
        }
        Poll::Ready(Ok(()))
    }
}

impl Sink<Bytes> for OffsetSink {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Bytes) -> Result<()> {
        let this = self.get_mut();
        if this.eof_sent {
            return Err(Error::closed("stdin"));
        }
        let write = this.write.clone();
        let start = this.offset;
        this.pending = Some(Box::pin(async move {
            let mut offset = start;
            let mut rest = item;
            while !rest.is_empty() {
                let piece = rest.split_to(rest.len().min(MAX_WRITE));
                let n = piece.len() as u64;
                write(offset, piece, false).await?;
                offset += n;
            }
            Ok(offset)
        }));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if !this.eof_sent {
            this.eof_sent = true;
            let write = this.write.clone();
            let offset = this.offset;
            this.pending = Some(Box::pin(async move {
                write(offset, Bytes::new(), true).await?;
                Ok(offset)
            }));
        }
        this.poll_pending(cx)
    }
}

/// The output of a process or a sandbox (stdout or stderr): byte chunks as they arrive,
/// resumed at the delivered offset after a dropped connection, so nothing is lost or
/// repeated. A `Stream` of `Result<Bytes>`; [`into_async_read`](Self::into_async_read)
/// gives a `futures::io::AsyncRead`. Dropping it cancels its request.
pub struct OutputStream(LocalBoxStream<'static, Result<Bytes>>);

impl std::fmt::Debug for OutputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStream").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OutputReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputReader")
            .field("buffered", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Stdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stdin")
            .field("offset", &self.0.borrow().offset)
            .finish_non_exhaustive()
    }
}

impl OutputStream {
    pub(crate) fn new(chunks: LocalBoxStream<'static, Result<Bytes>>) -> Self {
        OutputStream(chunks)
    }

    /// A stream with nothing in it (an output that is ignored).
    pub(crate) fn empty() -> Self {
        Self::new(stream::empty().boxed_local())
    }

    pub(crate) fn into_chunks(self) -> LocalBoxStream<'static, Result<Bytes>> {
        self.0
    }

    /// Reads the rest of the output.
    pub async fn read_to_end(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = self.0.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    /// Reads the rest of the output as UTF-8 text (invalid bytes become U+FFFD).
    pub async fn read_text(self) -> Result<String> {
        let bytes = self.read_to_end().await?;
        Ok(crate::utf8::lossy_owned(bytes))
    }

    /// The output as text chunks (a code point split across chunks is kept whole).
    pub fn text(self) -> LocalBoxStream<'static, Result<String>> {
        text(self.0)
    }

    /// The output as a `futures::io::AsyncRead` (errors become `std::io::Error`s whose
    /// inner error is the SDK's [`Error`]).
    pub fn into_async_read(self) -> OutputReader {
        OutputReader {
            chunks: self.0,
            rest: Bytes::new(),
        }
    }
}

impl futures_util::Stream for OutputStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        self.0.poll_next_unpin(cx)
    }
}

/// An [`OutputStream`] as a `futures::io::AsyncRead`.
pub struct OutputReader {
    chunks: LocalBoxStream<'static, Result<Bytes>>,
    /// What the caller has not taken yet of the last chunk.
    rest: Bytes,
}

impl futures_util::io::AsyncRead for OutputReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        while self.rest.is_empty() {
            match ready!(self.chunks.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => self.rest = chunk,
                Some(Err(e)) => return Poll::Ready(Err(std::io::Error::other(e))),
                None => return Poll::Ready(Ok(0)),
            }
        }
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest.split_to(n));
        Poll::Ready(Ok(n))
    }
}

/// The stdin of a process or a sandbox: bytes written at a running offset (a retried
/// write is harmless), EOF on close. A `Sink<Bytes>` and a `futures::io::AsyncWrite`.
/// Clones share the offset, so writes from several clones follow one another.
#[derive(Clone)]
pub struct Stdin(Rc<RefCell<OffsetSink>>);

impl Stdin {
    pub(crate) fn new(write: Writer) -> Self {
        Stdin::at(write, 0)
    }

    /// A stdin whose next write goes at `offset` (the bytes the server already has).
    pub(crate) fn at(write: Writer, offset: u64) -> Self {
        let mut sink = OffsetSink::new(write);
        sink.offset = offset;
        Stdin(Rc::new(RefCell::new(sink)))
    }

    /// Writes `data` (in requests of at most 1 MiB).
    pub async fn write(&self, data: impl Into<Bytes>) -> Result<()> {
        let mut me = self.clone();
        me.send(data.into()).await
    }

    /// Sends EOF; later writes fail with `ClientClosed`.
    pub async fn close(&self) -> Result<()> {
        let mut me = self.clone();
        SinkExt::<Bytes>::close(&mut me).await
    }

    /// Sends EOF at once, past a write in flight or one that failed (Modal JS's
    /// `closeStdin`); later writes fail with `ClientClosed`.
    pub async fn close_now(&self) -> Result<()> {
        let (write, offset) = {
            let mut sink = self.0.borrow_mut();
            sink.eof_sent = true;
            (sink.write.clone(), sink.offset)
        };
        write(offset, Bytes::new(), true).await
    }
}

impl Sink<Bytes> for Stdin {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.0.borrow_mut().poll_ready_unpin(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Bytes) -> Result<()> {
        self.0.borrow_mut().start_send_unpin(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.0.borrow_mut().poll_flush_unpin(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.0.borrow_mut().poll_close_unpin(cx)
    }
}

impl futures_util::io::AsyncWrite for Stdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut sink = self.0.borrow_mut();
        ready!(sink.poll_ready_unpin(cx)).map_err(std::io::Error::other)?;
        sink.start_send_unpin(Bytes::copy_from_slice(buf))
            .map_err(std::io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0
            .borrow_mut()
            .poll_flush_unpin(cx)
            .map_err(std::io::Error::other)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0
            .borrow_mut()
            .poll_close_unpin(cx)
            .map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::task::Waker;

    use futures_util::SinkExt;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn no_sleep() -> Sleeper {
        Rc::new(|_| Box::pin(async {}))
    }

    fn no_refresh() -> Refresher {
        Rc::new(|| Box::pin(async { Ok(()) }))
    }

    /// A server holding `data`, whose streams drop (UNAVAILABLE) after `drop_after` chunks.
    fn flaky_server(
        data: Vec<u8>,
        chunk: usize,
        drop_after: usize,
        opens: Rc<RefCell<Vec<u64>>>,
    ) -> Opener {
        let data = Rc::new(data);
        Rc::new(move |offset| {
            opens.borrow_mut().push(offset);
            let data = data.clone();
            Box::pin(async move {
                let rest: Vec<_> = data[offset as usize..]
                    .chunks(chunk)
                    .map(|c| {
                        Ok(Chunk {
                            data: Bytes::copy_from_slice(c),
                            starting_offset: None,
                        })
                    })
                    .collect();
                let dropped = rest.len() > drop_after;
                let mut items: Vec<_> = rest.into_iter().take(drop_after).collect();
                if dropped {
                    items.push(Err(crate::grpc::Status::unavailable("connection dropped")));
                }
                Ok(stream::iter(items).boxed_local())
            })
        })
    }

    #[test]
    fn resumes_byte_exact_after_drops() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let opens = Rc::new(RefCell::new(Vec::new()));
        let s = resumable(
            0,
            flaky_server(data.clone(), 333, 4, opens.clone()),
            no_refresh(),
            no_sleep(),
        );
        let got: Vec<Result<Bytes>> = block_on(s.collect());
        let bytes: Vec<u8> = got.into_iter().flat_map(|r| r.unwrap().to_vec()).collect();
        assert_eq!(bytes, data);
        let opens = opens.borrow();
        assert!(opens.len() > 5);
        assert_eq!(opens[1], 333 * 4);
    }

    #[test]
    fn gives_up_after_bounded_retries() {
        let opens = Rc::new(RefCell::new(Vec::new()));
        // Every stream drops before delivering anything.
        let s = resumable(
            0,
            flaky_server(vec![1; 100], 10, 0, opens.clone()),
            no_refresh(),
            no_sleep(),
        );
        let got: Vec<Result<Bytes>> = block_on(s.collect());
        assert_eq!(got.len(), 1);
        let e = got.into_iter().next().unwrap().unwrap_err();
        assert_eq!(e.grpc_status, Some(crate::grpc::Code::Unavailable as i32));
        assert_eq!(opens.borrow().len() as u32, Backoff::STREAM.max_retries + 1);
    }

    #[test]
    fn text_keeps_split_code_points() {
        let parts: Vec<std::result::Result<Bytes, ()>> = "añb€c"
            .as_bytes()
            .iter()
            .map(|b| Ok(Bytes::copy_from_slice(&[*b])))
            .collect();
        let out: Vec<_> = block_on(text(stream::iter(parts).boxed_local()).collect());
        let s: String = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(s, "añb€c");
    }

    #[test]
    fn sink_writes_at_offsets_then_eof() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let write: Writer = Rc::new(move |off, data, eof| {
            l.borrow_mut().push((off, data.len(), eof));
            Box::pin(async { Ok(()) })
        });
        let mut sink = OffsetSink::new(write);
        block_on(async {
            sink.send(Bytes::from_static(b"hello")).await.unwrap();
            sink.send(Bytes::from(vec![0u8; MAX_WRITE + 3]))
                .await
                .unwrap();
            sink.close().await.unwrap();
        });
        assert_eq!(
            *log.borrow(),
            vec![
                (0, 5, false),
                (5, MAX_WRITE, false),
                (5 + MAX_WRITE as u64, 3, false),
                (8 + MAX_WRITE as u64, 0, true)
            ]
        );
        assert!(block_on(sink.send(Bytes::from_static(b"x"))).is_err());
    }

    #[test]
    fn close_now_sends_eof_at_the_written_offset_past_a_failed_write() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let write: Writer = Rc::new(move |off, data, eof| {
            l.borrow_mut().push((off, data.len(), eof));
            let fail = data.len() == 2;
            Box::pin(async move {
                match fail {
                    true => Err(Error::invalid("write failed")),
                    false => Ok(()),
                }
            })
        });
        let stdin = Stdin::new(write);
        block_on(async {
            stdin.write(Bytes::from_static(b"abc")).await.unwrap();
            assert!(stdin.write(Bytes::from_static(b"de")).await.is_err());
            stdin.close_now().await.unwrap();
        });
        assert_eq!(
            *log.borrow(),
            vec![(0, 3, false), (3, 2, false), (3, 0, true)]
        );
        assert!(block_on(stdin.write(Bytes::from_static(b"x"))).is_err());
    }
}
