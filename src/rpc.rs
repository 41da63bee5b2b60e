//! Calls on the wire: the control-plane connection (metadata, auth token, retries) and the
//! per-sandbox command router (bearer JWT, one access refresh on UNAUTHENTICATED).

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use bytes::{Buf, BufMut, Bytes};
use futures_util::stream::{LocalBoxStream, StreamExt};
use modal_proto::client as pb;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::Status;
use tonic_web_wasm_client::Client as Channel;

use crate::auth::AuthToken;
use crate::error::{Error, ErrorKind, Result};
use crate::js;
use crate::retry::{Attempts, Backoff, Decision};

/// `x-modal-client-type` of Modal's JS client.
pub const CLIENT_TYPE_JS: &str = "8";
/// The Modal JS client version whose protocol this SDK speaks (`x-modal-client-version`).
pub const CLIENT_VERSION: &str = "1.0.0";

/// One RPC: its path, request and response types (see `rpcs`).
pub struct Rpc<Req, Resp> {
    /// `/package.Service/Method`
    pub path: &'static str,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Rpc<Req, Resp> {
    /// The RPC at `path`.
    pub const fn new(path: &'static str) -> Self {
        Rpc {
            path,
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> Clone for Rpc<Req, Resp> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Req, Resp> Copy for Rpc<Req, Resp> {}

/// A codec of raw message bytes. Every call goes through tonic with this one codec, and
/// messages are encoded/decoded with prost around it: one instantiation of tonic's client
/// machinery instead of one per RPC keeps the wasm small.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> std::result::Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> std::result::Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A server stream of raw messages.
pub type RawStream = LocalBoxStream<'static, std::result::Result<Bytes, Status>>;

enum Reply {
    Unary(Bytes),
    Stream(RawStream),
}

/// One gRPC-web call: unary, or the opening of a server stream.
async fn raw_call(
    channel: &Channel,
    path: &'static str,
    req: tonic::Request<Bytes>,
    stream: bool,
) -> std::result::Result<Reply, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("transport not ready: {e}")))?;
    let path = http::uri::PathAndQuery::from_static(path);
    if stream {
        let s = grpc.server_streaming(req, path, RawCodec).await?;
        Ok(Reply::Stream(s.into_inner().boxed_local()))
    } else {
        let r = grpc.unary(req, path, RawCodec).await?;
        Ok(Reply::Unary(r.into_inner()))
    }
}

fn decode<M: prost::Message + Default>(b: Bytes) -> Result<M> {
    M::decode(b).map_err(|e| Error::new(ErrorKind::Remote, format!("bad reply from server: {e}")))
}

fn unary(r: Reply) -> Bytes {
    match r {
        Reply::Unary(b) => b,
        Reply::Stream(_) => Bytes::new(),
    }
}

fn stream<M: prost::Message + Default + 'static>(
    r: Reply,
) -> LocalBoxStream<'static, std::result::Result<M, Status>> {
    match r {
        Reply::Stream(s) => s
            .map(|r| r.and_then(|b| M::decode(b).map_err(|e| Status::internal(e.to_string()))))
            .boxed_local(),
        Reply::Unary(_) => futures_util::stream::empty().boxed_local(),
    }
}

fn set_header<T>(req: &mut tonic::Request<T>, name: &'static str, value: &str) -> Result<()> {
    let v = MetadataValue::try_from(value).map_err(|_| {
        Error::invalid(format!(
            "{name} contains characters not allowed in a header"
        ))
    })?;
    req.metadata_mut().insert(name, v);
    Ok(())
}

/// One connection to the control plane: credentials, the cached auth token, retries.
pub struct Conn {
    /// Normalized server URL.
    pub endpoint: String,
    token_id: String,
    token_secret: String,
    /// Default environment name.
    pub environment: String,
    channel: Channel,
    auth: RefCell<Option<AuthToken>>,
    closed: Cell<bool>,
    builder_version: RefCell<Option<String>>,
    /// Built images by app id and registry tag.
    pub image_cache: RefCell<std::collections::HashMap<String, String>>,
}

impl Conn {
    /// A connection to `endpoint` with the given credentials.
    pub fn new(
        endpoint: &str,
        token_id: String,
        token_secret: String,
        environment: Option<String>,
    ) -> Result<Rc<Conn>> {
        let endpoint = crate::endpoint::normalize(endpoint).map_err(Error::invalid)?;
        if token_id.is_empty() || token_secret.is_empty() {
            return Err(Error::new(
                ErrorKind::Auth,
                "tokenId and tokenSecret must be non-empty",
            ));
        }
        Ok(Rc::new(Conn {
            channel: Channel::new(endpoint.clone()),
            endpoint,
            token_id,
            token_secret,
            environment: environment.unwrap_or_default(),
            auth: RefCell::new(None),
            closed: Cell::new(false),
            builder_version: RefCell::new(None),
            image_cache: RefCell::new(Default::default()),
        }))
    }

    /// Marks the client closed: later calls fail with `ClientClosedError`.
    pub fn close(&self) {
        self.closed.set(true);
    }

    /// Fails with `ClientClosedError` once closed.
    pub fn check_open(&self) -> Result<()> {
        if self.closed.get() {
            Err(Error::closed("ModalClient"))
        } else {
            Ok(())
        }
    }

    /// The environment to use: `env` if given and non-empty, else the client's default.
    pub fn env(&self, env: &Option<String>) -> String {
        env.clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| self.environment.clone())
    }

    fn base_metadata<T>(&self, req: &mut tonic::Request<T>) -> Result<()> {
        set_header(req, "x-modal-token-id", &self.token_id)?;
        set_header(req, "x-modal-token-secret", &self.token_secret)?;
        set_header(req, "x-modal-client-type", CLIENT_TYPE_JS)?;
        set_header(req, "x-modal-client-version", CLIENT_VERSION)?;
        Ok(())
    }

    async fn auth_token(&self) -> Result<String> {
        let now = js::now_ms();
        if let Some(t) = self.auth.borrow().as_ref().filter(|t| t.is_fresh(now)) {
            return Ok(t.token.clone());
        }
        let mut attempts = Attempts::new(Backoff::UNARY, false);
        let token = loop {
            let mut req = tonic::Request::new(Bytes::new());
            self.base_metadata(&mut req)?;
            match raw_call(&self.channel, crate::rpcs::AUTH_TOKEN_GET.path, req, false).await {
                Ok(r) => break decode::<pb::AuthTokenGetResponse>(unary(r))?.token,
                Err(st) => match attempts.on_error(st.code()) {
                    Decision::Retry(ms) => js::sleep(ms).await,
                    _ => return Err(st.into()),
                },
            }
        };
        if !token.is_empty() {
            *self.auth.borrow_mut() = Some(AuthToken::new(token.clone(), now));
        }
        Ok(token)
    }

    /// A unary control-plane call with metadata and retries.
    pub async fn cp<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        rpc: Rpc<Req, Resp>,
        msg: &Req,
    ) -> Result<Resp> {
        decode(unary(
            self.cp_raw(rpc.path, msg.encode_to_vec().into(), false)
                .await?,
        ))
    }

    /// Opens a control-plane server stream (retried until it opens).
    pub async fn cp_stream<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        rpc: Rpc<Req, Resp>,
        msg: &Req,
    ) -> Result<LocalBoxStream<'static, std::result::Result<Resp, Status>>> {
        Ok(stream(
            self.cp_raw(rpc.path, msg.encode_to_vec().into(), true)
                .await?,
        ))
    }

    async fn cp_raw(&self, path: &'static str, body: Bytes, is_stream: bool) -> Result<Reply> {
        let idempotency_key = js::uuid();
        let mut attempts = Attempts::new(Backoff::UNARY, true);
        loop {
            self.check_open()?;
            let token = self.auth_token().await?;
            let mut req = tonic::Request::new(body.clone());
            self.base_metadata(&mut req)?;
            if !token.is_empty() {
                set_header(&mut req, "x-modal-auth-token", &token)?;
            }
            set_header(&mut req, "x-idempotency-key", &idempotency_key)?;
            set_header(&mut req, "x-retry-attempt", &attempts.retries().to_string())?;
            match raw_call(&self.channel, path, req, is_stream).await {
                Ok(r) => return Ok(r),
                Err(st) => match attempts.on_error(st.code()) {
                    Decision::Retry(ms) => js::sleep(ms).await,
                    Decision::RefreshAuth => {
                        self.auth.borrow_mut().take();
                    }
                    Decision::Fail => return Err(st.into()),
                },
            }
        }
    }

    /// The image builder version of the environment (from `EnvironmentGetOrCreate`), cached.
    pub async fn builder_version(&self) -> Result<String> {
        if let Some(v) = self.builder_version.borrow().clone() {
            return Ok(v);
        }
        let req = pb::EnvironmentGetOrCreateRequest {
            deployment_name: self.environment.clone(),
            object_creation_type: pb::ObjectCreationType::Unspecified as i32,
        };
        let resp = self
            .cp(crate::rpcs::ENVIRONMENT_GET_OR_CREATE, &req)
            .await?;
        let v = resp
            .metadata
            .and_then(|m| m.settings)
            .map(|s| s.image_builder_version)
            .unwrap_or_default();
        *self.builder_version.borrow_mut() = Some(v.clone());
        Ok(v)
    }
}

/// The command router of one sandbox: its task id and `{url, jwt}` access.
pub struct Router {
    /// The control-plane connection.
    pub conn: Rc<Conn>,
    /// The sandbox id.
    pub sandbox_id: String,
    task_id: RefCell<Option<String>>,
    access: RefCell<Option<(Channel, String)>>,
}

impl Router {
    /// A router handle; `task_id` and `access` are fetched on first use when not given.
    pub fn new(
        conn: Rc<Conn>,
        sandbox_id: String,
        task_id: Option<String>,
        access: Option<pb::CommandRouterAccess>,
    ) -> Rc<Router> {
        let r = Rc::new(Router {
            conn,
            sandbox_id,
            task_id: RefCell::new(task_id.filter(|t| !t.is_empty())),
            access: RefCell::new(None),
        });
        if let Some(a) = access.filter(|a| !a.url.is_empty()) {
            r.set_access(&a.url, a.jwt);
        }
        r
    }

    fn set_access(&self, url: &str, jwt: String) {
        let url = crate::endpoint::command_router_url(&self.conn.endpoint, url);
        *self.access.borrow_mut() = Some((Channel::new(url), jwt));
    }

    /// Fetches fresh router access (`SandboxGetCommandRouterAccess`).
    pub async fn refresh(&self) -> Result<()> {
        let req = pb::SandboxGetCommandRouterAccessRequest {
            target: Some(
                pb::sandbox_get_command_router_access_request::Target::SandboxId(
                    self.sandbox_id.clone(),
                ),
            ),
        };
        let resp = self
            .conn
            .cp(crate::rpcs::SANDBOX_GET_COMMAND_ROUTER_ACCESS, &req)
            .await?;
        if resp.url.is_empty() {
            return Err(Error::new(
                ErrorKind::Remote,
                "server returned no command router url",
            ));
        }
        self.set_access(&resp.url, resp.jwt);
        Ok(())
    }

    async fn access(&self) -> Result<(Channel, String)> {
        if let Some(a) = self.access.borrow().clone() {
            return Ok(a);
        }
        self.refresh().await?;
        self.access
            .borrow()
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::Remote, "no command router access"))
    }

    /// The sandbox's task id, polling `SandboxGetTaskId` until it is scheduled.
    pub async fn task_id(&self) -> Result<String> {
        if let Some(t) = self.task_id.borrow().clone() {
            return Ok(t);
        }
        let deadline = js::now_ms() + 60_000.0;
        loop {
            let req = pb::SandboxGetTaskIdRequest {
                sandbox_id: self.sandbox_id.clone(),
                timeout: None,
                wait_until_ready: false,
            };
            let resp = self.conn.cp(crate::rpcs::SANDBOX_GET_TASK_ID, &req).await?;
            if let Some(t) = resp.task_id.filter(|t| !t.is_empty()) {
                *self.task_id.borrow_mut() = Some(t.clone());
                return Ok(t);
            }
            if let Some(result) = resp.task_result {
                let msg = if result.exception.is_empty() {
                    format!("Sandbox {} has already finished", self.sandbox_id)
                } else {
                    result.exception
                };
                return Err(Error::new(ErrorKind::Conflict, msg));
            }
            if js::now_ms() > deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "timed out waiting for a task of Sandbox {}",
                        self.sandbox_id
                    ),
                ));
            }
            js::sleep(500).await;
        }
    }

    /// A command-router call with `authorization: Bearer <jwt>`, retries under `policy`, and
    /// one access refresh on UNAUTHENTICATED.
    pub async fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        rpc: Rpc<Req, Resp>,
        msg: &Req,
        policy: Backoff,
    ) -> Result<Resp> {
        decode(unary(
            self.call_raw(rpc.path, msg.encode_to_vec().into(), false, policy)
                .await?,
        ))
    }

    /// Opens a command-router server stream (retried until it opens).
    pub async fn call_stream<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        rpc: Rpc<Req, Resp>,
        msg: &Req,
        policy: Backoff,
    ) -> Result<LocalBoxStream<'static, std::result::Result<Resp, Status>>> {
        Ok(stream(
            self.call_raw(rpc.path, msg.encode_to_vec().into(), true, policy)
                .await?,
        ))
    }

    async fn call_raw(
        &self,
        path: &'static str,
        body: Bytes,
        is_stream: bool,
        policy: Backoff,
    ) -> Result<Reply> {
        let mut attempts = Attempts::new(policy, true);
        loop {
            self.conn.check_open()?;
            let (channel, jwt) = self.access().await?;
            let mut req = tonic::Request::new(body.clone());
            set_header(&mut req, "authorization", &format!("Bearer {jwt}"))?;
            match raw_call(&channel, path, req, is_stream).await {
                Ok(r) => return Ok(r),
                Err(st) => match attempts.on_error(st.code()) {
                    Decision::Retry(ms) => js::sleep(ms).await,
                    Decision::RefreshAuth => self.refresh().await?,
                    Decision::Fail => return Err(st.into()),
                },
            }
        }
    }
}
