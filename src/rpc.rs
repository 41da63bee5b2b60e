//! Calls on the wire: the control-plane connection (metadata, auth token, retries) and the
//! per-sandbox command router (bearer JWT, one access refresh on UNAUTHENTICATED).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{LocalBoxStream, StreamExt};
use modal_proto::client as pb;
use modal_proto::rpc::{ServerStreaming, Unary};

use crate::auth::AuthToken;
use crate::codec;
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::grpc;
use crate::js;
use crate::retry::{Attempts, Backoff, Decision};
use crate::transport::{Call, Messages, Status, Transport};

/// `x-modal-client-type` of Modal's JS client.
pub const CLIENT_TYPE_JS: &str = "8";
/// The Modal JS client version whose protocol this SDK speaks (`x-modal-client-version`).
pub const CLIENT_VERSION: &str = "1.0.0";

/// The base URL calls go to (`{base}{rpc.path}`).
type Channel = Rc<str>;

/// An opened call: a unary reply's bytes, or a server stream's messages.
pub(crate) enum Reply {
    Unary(Bytes),
    Stream(Messages),
}

/// Request headers of one call; values checked by [`Headers::set`].
#[derive(Default)]
struct Headers(Vec<(&'static str, String)>);

impl Headers {
    fn set(&mut self, name: &'static str, value: &str) -> Result<()> {
        if !grpc::valid_header_value(value) {
            return Err(Error::invalid(format!(
                "{name} contains characters not allowed in a header"
            )));
        }
        self.0.push((name, value.to_string()));
        Ok(())
    }
}

/// One call through `transport`: unary (the whole reply read, its status checked), or the
/// opening of a server stream. Every call goes through this one non-generic function;
/// messages are encoded/decoded with prost around it, which keeps the wasm small.
async fn raw_call(
    transport: &dyn Transport,
    channel: &Channel,
    path: &'static str,
    headers: Headers,
    body: &[u8],
    stream: bool,
) -> std::result::Result<Reply, Status> {
    let msgs = transport
        .call(Call {
            base_url: channel.clone(),
            path,
            headers: headers.0,
            message: body.to_vec(),
        })
        .await?;
    if stream {
        Ok(Reply::Stream(msgs))
    } else {
        Ok(Reply::Unary(grpc::frame::unary(msgs).await?))
    }
}

fn decode<M: prost::Message + Default>(b: Bytes) -> Result<M> {
    M::decode(b).map_err(bad_reply)
}

/// Out of line: `decode` is instantiated once per reply type.
#[inline(never)]
fn bad_reply(e: prost::DecodeError) -> Error {
    Error::new(ErrorKind::Remote, format!("bad reply from server: {e}"))
}

/// Out of line: `stream` is instantiated once per message type.
#[inline(never)]
fn bad_message(e: prost::DecodeError) -> Status {
    Status::internal(e.to_string())
}

fn unary(r: Reply) -> Bytes {
    match r {
        Reply::Unary(b) => b,
        Reply::Stream(_) => Bytes::new(),
    }
}

/// The decoded messages of a server stream.
pub(crate) type MessageStream<M> = LocalBoxStream<'static, std::result::Result<M, Status>>;

fn stream<M: prost::Message + Default + 'static>(r: Reply) -> Result<MessageStream<M>> {
    Ok(match r {
        Reply::Stream(s) => s
            .map(|r| r.and_then(|b| M::decode(b).map_err(bad_message)))
            .boxed_local(),
        Reply::Unary(_) => futures_util::stream::empty().boxed_local(),
    })
}

/// A typed call: the one boxed, untyped call (of bytes, or of a stream), then the reply
/// type's decoder. A struct and not an async fn or a `map`: it is instantiated once per
/// RPC, and a state machine or `Map` per RPC cost ~170 B of wasm each.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Then<'a, A, T> {
    call: LocalBoxFuture<'a, Result<A>>,
    then: fn(A) -> Result<T>,
}

impl<A, T> Future for Then<'_, A, T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let then = self.then;
        self.call.as_mut().poll(cx).map(|r| r.and_then(then))
    }
}

/// One connection to the control plane: credentials, the cached tokens, retries.
pub(crate) struct Conn {
    /// Normalized server URL.
    pub(crate) endpoint: String,
    transport: Rc<dyn Transport>,
    credentials: Credentials,
    /// Default environment name.
    pub environment: String,
    channel: Channel,
    /// The workspace mode's `AuthTokenGet` JWT, or the bearer mode's current token.
    auth: RefCell<Option<AuthToken>>,
    closed: Cell<bool>,
    builder_version: RefCell<Option<String>>,
    /// Built images by app id and registry tag.
    pub image_cache: RefCell<ImageCache>,
    /// The client's `timeoutMs` and `maxRetries`.
    pub(crate) limits: Cell<CallLimits>,
}

/// Limits of each unary control-plane call (the client params `timeoutMs`, `maxRetries`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallLimits {
    /// Deadline of each attempt, in milliseconds (then DEADLINE_EXCEEDED, retried).
    pub timeout_ms: Option<u32>,
    /// Retries after the first attempt (default: [`Backoff::UNARY`]'s).
    pub max_retries: Option<u32>,
}

impl CallLimits {
    /// The retry policy of unary calls under these limits.
    pub(crate) fn backoff(self) -> Backoff {
        Backoff {
            max_retries: self.max_retries.unwrap_or(Backoff::UNARY.max_retries),
            ..Backoff::UNARY
        }
    }
}

/// `call`, or DEADLINE_EXCEEDED after `ms` (`None`: no deadline).
async fn with_deadline<T>(
    call: impl std::future::Future<Output = std::result::Result<T, Status>>,
    ms: Option<u32>,
) -> std::result::Result<T, Status> {
    let Some(ms) = ms else {
        return call.await;
    };
    let (call, timer) = (std::pin::pin!(call), std::pin::pin!(js::sleep(ms)));
    match futures_util::future::select(call, timer).await {
        futures_util::future::Either::Left((r, _)) => r,
        futures_util::future::Either::Right(_) => Err(Status::new(
            crate::grpc::Code::DeadlineExceeded,
            format!("no answer within the client's timeoutMs ({ms} ms)"),
        )),
    }
}

impl Conn {
    /// A connection to `endpoint` (normalized) with the given credentials.
    pub(crate) fn new(
        endpoint: String,
        transport: Rc<dyn Transport>,
        credentials: Credentials,
        environment: Option<String>,
    ) -> Rc<Conn> {
        let now = js::now_ms();
        let auth = match &credentials {
            Credentials::Bearer { token: Some(t), .. } => Some(AuthToken::new(t.clone(), now)),
            _ => None,
        };
        Rc::new(Conn {
            channel: endpoint.as_str().into(),
            endpoint,
            transport,
            credentials,
            environment: environment.unwrap_or_default(),
            auth: RefCell::new(auth),
            closed: Cell::new(false),
            builder_version: RefCell::new(None),
            image_cache: RefCell::new(Default::default()),
            limits: Cell::new(CallLimits::default()),
        })
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

    /// Client identification, and the workspace token pair in workspace mode.
    fn base_metadata(&self) -> Result<Headers> {
        let mut h = Headers::default();
        if let Credentials::Workspace {
            token_id,
            token_secret,
        } = &self.credentials
        {
            h.set("x-modal-token-id", token_id)?;
            h.set("x-modal-token-secret", token_secret)?;
        }
        h.set("x-modal-client-type", CLIENT_TYPE_JS)?;
        h.set("x-modal-client-version", CLIENT_VERSION)?;
        Ok(h)
    }

    /// The metadata of one control-plane call: workspace mode adds the `AuthTokenGet`
    /// JWT, bearer mode the scoped token.
    async fn call_metadata(&self) -> Result<Headers> {
        let mut h = self.base_metadata()?;
        match &self.credentials {
            Credentials::Workspace { .. } => {
                let token = self.auth_token().await?;
                if !token.is_empty() {
                    h.set("x-modal-auth-token", &token)?;
                }
            }
            Credentials::Bearer { .. } => {
                let token = self.bearer_token().await?;
                h.set("authorization", &format!("Bearer {token}"))?;
            }
        }
        Ok(h)
    }

    /// The current scoped token, from the token source (JS: `getToken`) when there is none
    /// or it is about to expire (then whatever the source gives is used, fresh or not).
    async fn bearer_token(&self) -> Result<String> {
        let now = js::now_ms();
        let cached = self.auth.borrow().clone();
        let get_token = match &self.credentials {
            Credentials::Bearer { source, .. } => source.clone(),
            Credentials::Workspace { .. } => None,
        };
        match (cached, get_token) {
            (Some(t), None) => Ok(t.token),
            (Some(t), Some(_)) if t.is_fresh(now) => Ok(t.token),
            (_, Some(get)) => {
                let token = get().await?;
                if token.is_empty() || !grpc::valid_header_value(&token) {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        "the token source (getToken) must give a non-empty token",
                    ));
                }
                *self.auth.borrow_mut() = Some(AuthToken::new(token.clone(), now));
                Ok(token)
            }
            (None, None) => Err(Error::new(ErrorKind::Auth, "no token")),
        }
    }

    /// True when a failed call may be retried once with fresh credentials.
    fn can_refresh(&self) -> bool {
        match &self.credentials {
            Credentials::Workspace { .. } => true,
            Credentials::Bearer { source, .. } => source.is_some(),
        }
    }

    async fn auth_token(&self) -> Result<String> {
        let now = js::now_ms();
        if let Some(t) = self.auth.borrow().as_ref().filter(|t| t.is_fresh(now)) {
            return Ok(t.token.clone());
        }
        let mut attempts = Attempts::new(Backoff::UNARY, false);
        let token = loop {
            let h = self.base_metadata()?;
            match raw_call(
                &*self.transport,
                &self.channel,
                modal_proto::rpcs::modal_client::AUTH_TOKEN_GET.path,
                h,
                &[],
                false,
            )
            .await
            {
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
    pub fn cp<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        rpc: Unary<Req, Resp>,
        msg: &Req,
    ) -> Then<'_, Bytes, Resp> {
        Then {
            call: self.cp_bytes(rpc.path, codec::encode(msg)),
            then: decode,
        }
    }

    /// A unary control-plane call of an encoded message; the reply's bytes (boxed: one
    /// instance for every typed call).
    pub fn cp_bytes<'a>(
        &'a self,
        path: &'static str,
        body: Vec<u8>,
    ) -> LocalBoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { Ok(unary(self.cp_raw(path, body, false).await?)) })
    }

    /// Opens a control-plane server stream (retried until it opens).
    pub fn cp_stream<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        rpc: ServerStreaming<Req, Resp>,
        msg: &Req,
    ) -> Then<'_, Reply, MessageStream<Resp>> {
        Then {
            call: Box::pin(self.cp_raw(rpc.path, codec::encode(msg), true)),
            then: stream,
        }
    }

    async fn cp_raw(&self, path: &'static str, body: Vec<u8>, is_stream: bool) -> Result<Reply> {
        let idempotency_key = js::uuid();
        let limits = self.limits.get();
        let mut attempts = Attempts::new(limits.backoff(), self.can_refresh());
        // a stream's deadline would end it mid-way: only unary calls have one
        let deadline = limits.timeout_ms.filter(|_| !is_stream);
        loop {
            self.check_open()?;
            let mut h = self.call_metadata().await?;
            h.set("x-idempotency-key", &idempotency_key)?;
            h.set("x-retry-attempt", &attempts.retries().to_string())?;
            let call = raw_call(&*self.transport, &self.channel, path, h, &body, is_stream);
            match with_deadline(call, deadline).await {
                Ok(r) => return Ok(r),
                Err(st) => match attempts.on_error(st.code()) {
                    Decision::Retry(ms) => js::sleep(ms).await,
                    Decision::RefreshAuth => self.expire_token(),
                    Decision::Fail => return Err(st.into()),
                },
            }
        }
    }

    /// Forgets the cached token so the next call fetches a new one: after UNAUTHENTICATED,
    /// a bearer token is asked of the token source again even if its `exp` says it is fresh.
    fn expire_token(&self) {
        if let Some(t) = self.auth.borrow_mut().as_mut() {
            t.refresh_at_ms = f64::NEG_INFINITY;
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
            .cp(crate::wire::ENVIRONMENT_GET_OR_CREATE, &req)
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
        *self.access.borrow_mut() = Some((url.into(), jwt));
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
            .cp(
                modal_proto::rpcs::modal_client::SANDBOX_GET_COMMAND_ROUTER_ACCESS,
                &req,
            )
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
            let resp = self.conn.cp(crate::wire::SANDBOX_GET_TASK_ID, &req).await?;
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
    pub fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        rpc: Unary<Req, Resp>,
        msg: &Req,
        policy: Backoff,
    ) -> Then<'_, Bytes, Resp> {
        Then {
            call: self.call_bytes(rpc.path, codec::encode(msg), policy),
            then: decode,
        }
    }

    /// Opens a command-router server stream (retried until it opens).
    pub fn call_stream<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        rpc: ServerStreaming<Req, Resp>,
        msg: &Req,
        policy: Backoff,
    ) -> Then<'_, Reply, MessageStream<Resp>> {
        Then {
            call: Box::pin(self.call_raw(rpc.path, codec::encode(msg), true, policy)),
            then: stream,
        }
    }

    /// A unary command-router call of an encoded message; the reply's bytes (boxed: one
    /// instance for every typed call).
    fn call_bytes<'a>(
        &'a self,
        path: &'static str,
        body: Vec<u8>,
        policy: Backoff,
    ) -> LocalBoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { Ok(unary(self.call_raw(path, body, false, policy).await?)) })
    }

    async fn call_raw(
        &self,
        path: &'static str,
        body: Vec<u8>,
        is_stream: bool,
        policy: Backoff,
    ) -> Result<Reply> {
        let mut attempts = Attempts::new(policy, true);
        loop {
            self.conn.check_open()?;
            let (channel, jwt) = self.access().await?;
            let mut h = Headers::default();
            h.set("authorization", &format!("Bearer {jwt}"))?;
            match raw_call(&*self.conn.transport, &channel, path, h, &body, is_stream).await {
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

/// Image ids by app and tag. A client resolves a handful, so a list: a HashMap brought
/// ~1.5 KB of hashing and table code into the wasm for it alone.
#[derive(Default)]
pub(crate) struct ImageCache(Vec<(String, String)>);

impl ImageCache {
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, id)| id)
    }

    pub fn insert(&mut self, key: String, id: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = id,
            None => self.0.push((key, id)),
        }
    }
}
