//! A raw HTTP client for sandboxd's port, below gRPC: it sends whatever bytes and headers
//! a test makes (malformed frames, wrong content types, garbage tokens) over HTTP/2
//! without TLS (as native gRPC) or HTTP/1.1 (as gRPC-web from a browser), and reads back
//! the HTTP status and the gRPC status wherever it came: response headers (a
//! trailers-only reply), HTTP/2 trailers, or the trailer frame of a gRPC-web body.

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::Duration;
use tonic::Code;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Proto {
    /// HTTP/2 with prior knowledge, as Modal's native clients speak to a local server.
    H2,
    /// HTTP/1.1, as a browser's fetch speaks gRPC-web here.
    Http1,
}

enum Sender {
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
}

/// One connection to sandboxd; reconnects after a request it had to abandon.
pub struct RawClient {
    port: u16,
    proto: Proto,
    sender: Option<Sender>,
}

/// What came back.
#[derive(Debug)]
pub enum Outcome {
    Reply(Box<Reply>),
    /// No complete reply within the time allowed (a stream still open, a call waiting).
    TimedOut,
    /// The connection failed before a reply: never acceptable from sandboxd.
    ConnError(String),
}

#[derive(Debug)]
pub struct Reply {
    pub http: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
    /// The gRPC status, from wherever it came.
    pub grpc: Option<(Code, String)>,
}

fn status_in(h: &HeaderMap) -> Option<(Code, String)> {
    let s = tonic::Status::from_header_map(h)?;
    Some((s.code(), s.message().to_string()))
}

/// The trailer frame of a gRPC-web body (`0x80`, length, `key: value\r\n` lines).
fn grpc_web_trailers(mut body: &[u8]) -> Option<HeaderMap> {
    while body.len() >= 5 {
        let flag = body[0];
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        body = &body[5..];
        let frame = body.get(..len)?;
        body = &body[len..];
        if flag & 0x80 != 0 {
            let mut h = HeaderMap::new();
            for line in String::from_utf8_lossy(frame).split("\r\n") {
                if let Some((k, v)) = line.split_once(':') {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes()),
                        http::HeaderValue::from_str(v.trim()),
                    ) {
                        h.insert(k, v);
                    }
                }
            }
            return Some(h);
        }
    }
    None
}

impl RawClient {
    pub fn new(port: u16, proto: Proto) -> Self {
        Self {
            port,
            proto,
            sender: None,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io = TokioIo::new(tcp);
        self.sender = Some(match self.proto {
            Proto::H2 => {
                let (s, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
                tokio::spawn(conn);
                Sender::H2(s)
            }
            Proto::Http1 => {
                let (s, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| format!("http1 handshake: {e}"))?;
                tokio::spawn(conn);
                Sender::Http1(s)
            }
        });
        Ok(())
    }

    /// Send `req` (its URI is a path; the authority is added) and read the whole reply,
    /// within `timeout`. On a kept-alive HTTP/1.1 connection, a failure before any reply
    /// is the keep-alive race (the server had closed it after a reply that did not read
    /// its whole request): the request is sent once more on a new connection, as HTTP
    /// clients do. A server that really drops requests fails the second time too.
    pub async fn send(&mut self, req: http::Request<Bytes>, timeout: Duration) -> Outcome {
        let reused = self.proto == Proto::Http1 && self.sender.is_some();
        let out = self.send_once(copy(&req), timeout).await;
        if reused && matches!(out, Outcome::ConnError(_)) {
            self.sender = None;
            return self.send_once(req, timeout).await;
        }
        out
    }

    async fn send_once(&mut self, req: http::Request<Bytes>, timeout: Duration) -> Outcome {
        let mut req = req.map(Full::new);
        if let Ok(uri) = format!("http://127.0.0.1:{}{}", self.port, req.uri()).parse() {
            *req.uri_mut() = uri;
        }
        if self.proto == Proto::Http1 {
            *req.version_mut() = http::Version::HTTP_11;
            let host = http::HeaderValue::from_str(&format!("127.0.0.1:{}", self.port)).unwrap();
            req.headers_mut().insert(http::header::HOST, host);
        } else {
            *req.version_mut() = http::Version::HTTP_2;
        }
        let web_text = req
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc-web-text"));
        // a kept-alive HTTP/1.1 connection the server has closed (as it may after a reply
        // that did not read the whole request) is replaced, as every client does
        if let Some(Sender::Http1(s)) = &self.sender {
            if s.is_closed() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            if let Err(e) = self.connect().await {
                return Outcome::ConnError(e);
            }
        }
        if let Some(Sender::Http1(s)) = &mut self.sender {
            if s.ready().await.is_err() {
                if let Err(e) = self.connect().await {
                    return Outcome::ConnError(e);
                }
            }
        }
        let fut = async {
            let resp = match self.sender.as_mut().unwrap() {
                Sender::H2(s) => s.send_request(req).await,
                Sender::Http1(s) => s.send_request(req).await,
            }
            .map_err(|e| e.to_string())?;
            let (parts, body) = resp.into_parts();
            let collected = body.collect().await.map_err(|e| e.to_string())?;
            let trailers = collected.trailers().cloned();
            let mut body = collected.to_bytes();
            let ct_web_text = parts
                .headers
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc-web-text"));
            if web_text && ct_web_text {
                use base64::Engine;
                if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(body.chunk()) {
                    body = Bytes::from(b);
                }
            }
            let grpc = status_in(&parts.headers)
                .or_else(|| trailers.as_ref().and_then(status_in))
                .or_else(|| grpc_web_trailers(&body).as_ref().and_then(status_in));
            Ok::<_, String>(Reply {
                http: parts.status.as_u16(),
                headers: parts.headers,
                body,
                trailers,
                grpc,
            })
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(r)) => {
                if self.proto == Proto::Http1
                    && r.headers
                        .get("connection")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
                {
                    self.sender = None;
                }
                Outcome::Reply(Box::new(r))
            }
            Ok(Err(e)) => {
                self.sender = None;
                Outcome::ConnError(e)
            }
            Err(_) => {
                self.sender = None;
                Outcome::TimedOut
            }
        }
    }
}

fn copy(r: &http::Request<Bytes>) -> http::Request<Bytes> {
    let mut c = http::Request::new(r.body().clone());
    *c.method_mut() = r.method().clone();
    *c.uri_mut() = r.uri().clone();
    *c.version_mut() = r.version();
    *c.headers_mut() = r.headers().clone();
    c
}

/// A gRPC frame: flag, big-endian length, message.
pub fn frame(flag: u8, msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + msg.len());
    v.push(flag);
    v.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    v.extend_from_slice(msg);
    v
}
