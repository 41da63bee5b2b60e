//! gRPC-web framing: a request is one data frame; a response body is data frames followed
//! by one trailers frame (flag bit 0x80), each `flag u8, length u32 BE, payload`. The
//! decoder is incremental: messages come out as fetch chunks arrive, and the trailers frame
//! is parsed only once all of it has arrived, however the chunks split it.

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, LocalBoxStream, Stream, StreamExt};

use super::{Code, Status};

const TRAILERS: u8 = 0x80;
const COMPRESSED: u8 = 0x01;

/// Largest frame accepted, as Modal's JS client allows (100 MiB). A larger declared length
/// is refused at once: a corrupt or hostile header must not make the decoder reserve (or
/// wait for) up to 4 GiB, which in wasm32 aborts the module.
pub const MAX_FRAME: usize = 100 << 20;

/// The request body: `msg` as one uncompressed data frame.
pub fn encode(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + msg.len());
    out.push(0);
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message's bytes.
    Message(Bytes),
    /// The trailers frame, as the call's status (`None` without `grpc-status`).
    Trailers(Option<Status>),
}

/// Bytes appended to the decoder's buffer (a fetch chunk, or a `Vec` in tests).
pub trait Chunk {
    /// Appends the chunk's bytes to `buf`.
    fn push_into(&self, buf: &mut BytesMut);
}

impl Chunk for Vec<u8> {
    fn push_into(&self, buf: &mut BytesMut) {
        buf.extend_from_slice(self);
    }
}

/// The incremental decoder of a response body.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// Appends received bytes.
    pub fn push(&mut self, chunk: &impl Chunk) {
        chunk.push_into(&mut self.buf);
    }

    /// The next complete frame, if all of it has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Status> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let flag = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(frame_too_large(len));
        }
        if self.buf.len() - 5 < len {
            self.buf.reserve(len + 5 - self.buf.len());
            return Ok(None);
        }
        let mut frame = self.buf.split_to(5 + len);
        let payload = frame.split_off(5).freeze();
        if flag & TRAILERS != 0 {
            return Ok(Some(Frame::Trailers(parse_trailers(&payload))));
        }
        if flag & COMPRESSED != 0 {
            return Err(Status::internal(
                "compressed gRPC-web frame (not negotiated)",
            ));
        }
        Ok(Some(Frame::Message(payload)))
    }

    /// True if no bytes of a partial frame are buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[inline(never)]
fn frame_too_large(len: usize) -> Status {
    Status::new(
        Code::ResourceExhausted,
        format!("gRPC-web frame of {len} bytes exceeds the {MAX_FRAME} byte limit"),
    )
}

/// `grpc-status` / `grpc-message` of a trailers frame (HTTP/1 header lines).
fn parse_trailers(payload: &[u8]) -> Option<Status> {
    let (mut status, mut message) = (None, None);
    for line in payload.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"grpc-status") {
            status = Some(crate::utf8::lossy(value));
        } else if name.eq_ignore_ascii_case(b"grpc-message") {
            message = Some(crate::utf8::lossy(value));
        }
    }
    Status::from_fields(status.as_deref(), message.as_deref())
}

/// The messages of a response body arriving as `chunks`: each message as soon as its frame
/// is complete, then nothing if the call ended OK, or one error: the trailers' status, or
/// UNAVAILABLE if the body ended (or failed) before its trailers frame was complete. A
/// body without trailers takes `header_status` (a trailers-only reply's) when given.
pub fn messages<C: Chunk + 'static>(
    chunks: impl Stream<Item = Result<C, Status>> + 'static,
    header_status: Option<Status>,
) -> LocalBoxStream<'static, Result<Bytes, Status>> {
    struct St<S> {
        chunks: S,
        dec: Decoder,
        header_status: Option<Status>,
        done: bool,
    }
    let st = St {
        chunks: Box::pin(chunks),
        dec: Decoder::default(),
        header_status,
        done: false,
    };
    stream::unfold(st, |mut st| async move {
        while !st.done {
            let end = match st.dec.next_frame() {
                Ok(Some(Frame::Message(m))) => return Some((Ok(m), st)),
                Ok(Some(Frame::Trailers(s))) => {
                    s.or_else(|| Some(Status::internal("gRPC-web trailers without grpc-status")))
                }
                Err(e) => Some(e),
                Ok(None) => match st.chunks.next().await {
                    Some(Ok(c)) => {
                        st.dec.push(&c);
                        continue;
                    }
                    Some(Err(e)) => Some(e),
                    None => match st.header_status.take() {
                        Some(s) if st.dec.is_empty() => Some(s),
                        _ => Some(Status::unavailable(
                            "gRPC-web response ended before its trailers",
                        )),
                    },
                },
            };
            st.done = true;
            if let Some(s) = end.filter(|s| s.code() != Code::Ok) {
                return Some((Err(s), st));
            }
        }
        None
    })
    .boxed_local()
}

/// The single message of a unary reply (the call's status checked after it).
pub async fn unary(
    mut msgs: LocalBoxStream<'static, Result<Bytes, Status>>,
) -> Result<Bytes, Status> {
    let mut first = None;
    while let Some(m) = msgs.next().await {
        let m = m?;
        first.get_or_insert(m);
    }
    first.ok_or_else(|| Status::internal("missing response message"))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "frame_fuzz.rs"]
mod fuzz;

/// Split-trailers regression tests (tonic-web-wasm-client#97, which the vendored patch used
/// to carry): they fail on a decoder that ends the body when the trailers frame *starts*.
#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// Runs a future over ready chunks (it never pends).
    fn block_on<F: Future>(f: F) -> F::Output {
        match std::pin::pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("a stream over ready chunks never pends"),
        }
    }

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![flag];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Every item of the message stream over `chunks`.
    fn drain(chunks: Vec<Vec<u8>>, header: Option<Status>) -> Vec<Result<Bytes, Status>> {
        let s = messages(stream::iter(chunks.into_iter().map(Ok)), header);
        block_on(s.collect())
    }

    fn body(msgs: &[&[u8]], trailers: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = msgs.iter().flat_map(|m| frame(0, m)).collect();
        out.extend(frame(TRAILERS, trailers));
        out
    }

    #[test]
    fn trailers_split_at_every_byte_still_arrive() {
        let whole = body(
            &[b"hello", b""],
            b"grpc-status:5\r\ngrpc-message:no%20such%20app\r\n",
        );
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            let items = drain(vec![a.to_vec(), b.to_vec()], None);
            assert_eq!(
                items,
                vec![
                    Ok(Bytes::from_static(b"hello")),
                    Ok(Bytes::new()),
                    Err(Status::not_found("no such app"))
                ],
                "split at {cut}"
            );
        }
    }

    #[test]
    fn ok_trailers_split_at_every_byte_end_cleanly() {
        let whole = body(&[b"hi"], b"grpc-status: 0\r\n");
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            let items = drain(vec![a.to_vec(), b.to_vec()], None);
            assert_eq!(items, vec![Ok(Bytes::from_static(b"hi"))], "split at {cut}");
            assert_eq!(
                block_on(unary(messages(
                    stream::iter([Ok(a.to_vec()), Ok(b.to_vec())]),
                    None
                ))),
                Ok(Bytes::from_static(b"hi"))
            );
        }
    }

    #[test]
    fn one_byte_per_chunk() {
        let whole = body(&[b"abc", b"defg"], b"grpc-status:13\r\ngrpc-message:boom");
        let items = drain(whole.iter().map(|b| vec![*b]).collect(), None);
        assert_eq!(
            items,
            vec![
                Ok(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"defg")),
                Err(Status::internal("boom"))
            ]
        );
    }

    #[test]
    fn body_ending_inside_trailers_is_unavailable() {
        let whole = body(&[b"x"], b"grpc-status:0\r\n");
        for cut in 6..whole.len() {
            let items = drain(vec![whole[..cut].to_vec()], None);
            assert_eq!(items.len(), 2, "cut at {cut}");
            assert_eq!(items[1].as_ref().unwrap_err().code(), Code::Unavailable);
        }
    }

    #[test]
    fn trailers_only_reply_uses_header_status() {
        let items = drain(vec![], Some(Status::new(Code::Ok, "")));
        assert!(items.is_empty());
        let items = drain(vec![], Some(Status::unauthenticated("bad token")));
        assert_eq!(items, vec![Err(Status::unauthenticated("bad token"))]);
        assert_eq!(
            block_on(unary(messages(
                stream::iter(Vec::<Result<Vec<u8>, _>>::new()),
                None
            )))
            .unwrap_err()
            .code(),
            Code::Unavailable
        );
    }

    #[test]
    fn transport_error_mid_body_ends_the_stream() {
        let mut chunks: Vec<Result<Vec<u8>, Status>> = vec![Ok(frame(0, b"a"))];
        chunks.push(Err(Status::unavailable("network error")));
        chunks.push(Ok(frame(0, b"never")));
        let items: Vec<_> = block_on(messages(stream::iter(chunks), None).collect());
        assert_eq!(
            items,
            vec![
                Ok(Bytes::from_static(b"a")),
                Err(Status::unavailable("network error"))
            ]
        );
    }

    #[test]
    fn encode_frames_one_message() {
        assert_eq!(encode(b"ab"), vec![0, 0, 0, 0, 2, b'a', b'b']);
    }
}
