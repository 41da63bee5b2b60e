//! Property tests of the gRPC-web response decoder over random bodies, random chunk
//! splits and random corruptions (native; seeded, the seed printed so a failure
//! reproduces with `FRAME_FUZZ_SEED=<seed>`).
//!
//! Properties: the decoder never panics; what it yields does not depend on how the body
//! is split into chunks (valid or not); a valid body decodes to its messages and status; a
//! body cut short ends with UNAVAILABLE; a declared length above [`MAX_FRAME`] is refused
//! at once with RESOURCE_EXHAUSTED; every stream ends with at most one error, last.

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use std::future::Future;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::grpc::percent_decode;

/// Random bodies per property (each decoded under several splits).
const CASES: usize = 1500;
/// Splits tried per body.
const SPLITS: usize = 6;

fn seed() -> u64 {
    std::env::var("FRAME_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

fn block_on<F: Future>(f: F) -> F::Output {
    match std::pin::pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a stream over ready chunks never pends"),
    }
}

type Items = Vec<Result<Bytes, Status>>;

/// Every item of the message stream over `chunks` (a transport error where `Err`).
fn decode(chunks: Vec<Result<Vec<u8>, Status>>, header: Option<Status>) -> Items {
    block_on(messages(stream::iter(chunks), header).collect())
}

/// `body` cut into chunks at random points (empty chunks included).
fn split(rng: &mut fastrand::Rng, body: &[u8]) -> Vec<Result<Vec<u8>, Status>> {
    let mut cuts: Vec<usize> = (0..rng.usize(0..8))
        .map(|_| rng.usize(0..=body.len()))
        .collect();
    if rng.u8(..) < 40 && !body.is_empty() {
        // sometimes one byte per chunk around a random point
        let at = rng.usize(0..body.len());
        cuts.extend(at..(at + 12).min(body.len()));
    }
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts {
        out.push(Ok(body[prev..c].to_vec()));
        prev = c;
    }
    out.push(Ok(body[prev..].to_vec()));
    out
}

fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn random_bytes(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let n = match rng.u8(..) {
        0..=9 => 0,
        10..=200 => rng.usize(0..=max.min(64)),
        _ => rng.usize(0..=max),
    };
    std::iter::repeat_with(|| rng.u8(..)).take(n).collect()
}

/// A `grpc-message` value: random text, percent-encoded as servers send it.
fn grpc_message(rng: &mut fastrand::Rng) -> (String, String) {
    let n = rng.usize(0..40);
    let text: String = std::iter::repeat_with(|| match rng.u8(..4) {
        0 => rng.char('a'..='z'),
        1 => ' ',
        2 => rng.char('\u{80}'..='\u{2FFF}'),
        _ => rng.char('!'..='~'),
    })
    .take(n)
    .collect();
    let mut enc = String::new();
    for b in text.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    (text, enc)
}

/// A valid body and what it must decode to.
fn valid_body(rng: &mut fastrand::Rng) -> (Vec<u8>, Items) {
    let mut body = Vec::new();
    let mut want = Vec::new();
    for _ in 0..rng.usize(0..6) {
        let max = if rng.u8(..) < 8 { 300_000 } else { 4096 };
        let m = random_bytes(rng, max);
        body.extend(frame(0, &m));
        want.push(Ok(Bytes::from(m)));
    }
    let code = if rng.bool() { 0 } else { rng.i32(0..=16) };
    let (text, enc) = grpc_message(rng);
    let mut trailers = format!("grpc-status: {code}\r\n");
    if rng.bool() {
        trailers = format!("Grpc-Message: {enc}\r\n{trailers}");
    } else {
        trailers.push_str(&format!("grpc-message:{enc}\r\n"));
    }
    if rng.bool() {
        trailers.push_str("x-extra: 1\r\n");
    }
    body.extend(frame(TRAILERS, trailers.as_bytes()));
    if code != 0 {
        want.push(Err(Status::new(Code::from_i32(code), text)));
    }
    (body, want)
}

/// The stream's shape: any number of messages, then at most one error, last.
fn check_shape(items: &Items, input_len: usize, what: &str) {
    let errors = items.iter().filter(|i| i.is_err()).count();
    assert!(errors <= 1, "{what}: {errors} errors");
    if errors == 1 {
        assert!(items.last().unwrap().is_err(), "{what}: error not last");
    }
    let bytes: usize = items.iter().flatten().map(|b| b.len()).sum();
    assert!(
        bytes <= input_len,
        "{what}: {bytes} bytes out of {input_len} in"
    );
}

fn corrupt(rng: &mut fastrand::Rng, body: &mut Vec<u8>) {
    for _ in 0..rng.usize(1..4) {
        let at = rng.usize(0..=body.len());
        match rng.u8(..6) {
            0 if at < body.len() => body[at] ^= 1 << rng.u8(0..8),
            1 if at < body.len() => body[at] = rng.u8(..),
            2 => body.insert(at, rng.u8(..)),
            3 if at < body.len() => {
                body.remove(at);
            }
            4 => body.truncate(at),
            // a frame header with a random (often huge) declared length
            _ => {
                let len = if rng.bool() {
                    rng.u32(..)
                } else {
                    rng.u32(..100)
                };
                let mut h = vec![[0u8, 0x80, 0x01][rng.usize(0..3)]];
                h.extend_from_slice(&len.to_be_bytes());
                body.splice(at..at, h);
            }
        }
    }
}

#[test]
fn fuzz_valid_bodies_decode_the_same_however_split() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut decodes = 0;
    for case in 0..CASES {
        let (body, want) = valid_body(&mut rng);
        let whole = decode(vec![Ok(body.clone())], None);
        assert_eq!(whole, want, "seed {seed} case {case}: whole body");
        for _ in 0..SPLITS {
            let got = decode(split(&mut rng, &body), None);
            assert_eq!(got, want, "seed {seed} case {case}: split body");
            decodes += 1;
        }
        // a transport error anywhere ends the stream with that error
        let mut chunks = split(&mut rng, &body);
        let at = rng.usize(0..chunks.len());
        chunks.insert(at, Err(Status::unavailable("network error")));
        let got = decode(chunks, None);
        check_shape(&got, body.len(), &format!("seed {seed} case {case}"));
        decodes += 1;
    }
    println!("frame fuzz: {CASES} valid bodies, {decodes} split decodes (seed {seed})");
}

#[test]
fn fuzz_truncated_bodies_end_unavailable() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    for case in 0..CASES {
        let (body, want) = valid_body(&mut rng);
        let cut = rng.usize(0..body.len());
        let got = decode(split(&mut rng, &body[..cut]), None);
        let what = format!("seed {seed} case {case} cut {cut}");
        check_shape(&got, cut, &what);
        let last = got.last().expect("an error item");
        assert_eq!(
            last.as_ref().unwrap_err().code(),
            Code::Unavailable,
            "{what}"
        );
        // what came before the error is a prefix of the valid messages
        for (g, w) in got.iter().zip(&want).take(got.len() - 1) {
            assert_eq!(g, w, "{what}");
        }
    }
    println!("frame fuzz: {CASES} truncated bodies (seed {seed})");
}

#[test]
fn fuzz_corrupt_bodies_never_panic_and_decode_the_same_however_split() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut decodes = 0;
    let mut errors = 0;
    for case in 0..CASES * 2 {
        let mut body = if rng.u8(..) < 30 {
            random_bytes(&mut rng, 2048)
        } else {
            valid_body(&mut rng).0
        };
        corrupt(&mut rng, &mut body);
        let header = match rng.u8(..4) {
            0 => Some(Status::new(Code::from_i32(rng.i32(-2..20)), "h")),
            _ => None,
        };
        let whole = decode(vec![Ok(body.clone())], header.clone());
        let what = format!("seed {seed} case {case}");
        check_shape(&whole, body.len(), &what);
        errors += whole.iter().filter(|i| i.is_err()).count();
        for _ in 0..SPLITS {
            let got = decode(split(&mut rng, &body), header.clone());
            assert_eq!(got, whole, "{what}: split decodes differently");
            decodes += 1;
        }
        // the unary reading of the same body: a message or a typed status, no panic
        let _ = block_on(unary(messages(
            stream::iter(split(&mut rng, &body)),
            header,
        )));
    }
    println!(
        "frame fuzz: {} corrupt bodies ({errors} typed errors), {decodes} split decodes (seed {seed})",
        CASES * 2
    );
}

#[test]
fn huge_declared_lengths_are_refused_at_once() {
    for len in [MAX_FRAME as u32 + 1, u32::MAX] {
        for flag in [0u8, 0x80] {
            let mut head = vec![flag];
            head.extend_from_slice(&len.to_be_bytes());
            let got = decode(vec![Ok(head)], None);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].as_ref().unwrap_err().code(), Code::ResourceExhausted);
        }
    }
    // the limit itself is accepted (and waited for)
    let mut head = vec![0u8];
    head.extend_from_slice(&(MAX_FRAME as u32).to_be_bytes());
    let mut d = Decoder::default();
    d.push(&head);
    assert_eq!(d.next_frame(), Ok(None));
}

#[test]
fn fuzz_trailer_fields_never_panic() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..CASES * 4 {
        let raw = random_bytes(&mut rng, 200);
        let s = String::from_utf8_lossy(&raw);
        let _ = percent_decode(&s);
        let _ = Status::from_fields(Some(&s), Some(&s));
        let _ = parse_trailers(&raw);
    }
    println!(
        "frame fuzz: {} random trailer fields (seed {seed})",
        CASES * 4
    );
}
