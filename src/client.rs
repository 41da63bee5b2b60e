//! [`Client`], the entry point, and its services: apps, images, secrets, volumes and
//! sandboxes. The requests of the API are built here (the JS facade only converts).

use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use futures_util::future::LocalBoxFuture;
use modal_proto::client as pb;

use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::objects::{App, Image, Secret, Volume};
use crate::options::{
    sandbox_create_request, tags_to_proto, AppFromNameParams, DeleteParams, SandboxCreateParams,
    SandboxFromNameParams, SandboxListParams, SecretFromNameParams, SecretFromObjectParams,
    VolumeEphemeralParams, VolumeFromNameParams,
};
use crate::rpc::{Conn, Router};
use crate::sandbox::Sandbox;
use crate::transport::{FetchTransport, Transport};
use crate::wire;
use modal_proto::rpcs::modal_client as cp;

/// A connection to a Modal-compatible server: a sandboxd, or a gateway to Modal. Cheap to
/// clone (clones share the connection, its cached tokens and images).
///
/// ```no_run
/// # async fn example() -> modal_wasm::Result<()> {
/// use modal_wasm::{Client, Credentials, SandboxExecParams};
///
/// let client = Client::builder("http://127.0.0.1:8787")
///     .credentials(Credentials::workspace("ak-...", "as-..."))
///     .build()?;
/// let app = client.apps().from_name("demo", &Default::default()).await?;
/// let image = client.images().from_registry("debian:bookworm-slim")?;
/// let sandbox = client.sandboxes().create(&app, &image, &Default::default()).await?;
/// let process = sandbox.exec(["echo", "hi"], &SandboxExecParams::default()).await?;
/// assert_eq!(process.stdout().read_text().await?, "hi\n");
/// assert_eq!(process.wait().await?, 0);
/// sandbox.terminate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) conn: Rc<Conn>,
}

/// Builds a [`Client`]: endpoint, credentials, default environment, transport.
pub struct ClientBuilder {
    endpoint: String,
    credentials: Option<Credentials>,
    environment: Option<String>,
    transport: Option<Rc<dyn Transport>>,
    limits: crate::rpc::CallLimits,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.conn.endpoint)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The client's credentials (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The default environment of lookups (default: the server's).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Deadline of each attempt of a unary call (whole milliseconds; default: none). An
    /// attempt past it fails with DEADLINE_EXCEEDED, which is retried.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.timeout_ms = Some(timeout.as_millis().min(u32::MAX as u128) as u32);
        self
    }

    /// Retries of a unary call after its first attempt (default 8).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.limits.max_retries = Some(max_retries);
        self
    }

    /// How calls reach the server (default: [`FetchTransport`]).
    pub fn transport(mut self, transport: impl Transport + 'static) -> Self {
        self.transport = Some(Rc::new(transport));
        self
    }

    /// The client. Fails with `Invalid` for a bad endpoint (checked first) and `Auth` for
    /// missing credentials. No request is made until the first call.
    pub fn build(self) -> Result<Client> {
        let endpoint = crate::endpoint::normalize(&self.endpoint).map_err(Error::invalid)?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::new(ErrorKind::Auth, "no credentials"))?
            .checked()?;
        let transport = self.transport.unwrap_or_else(|| Rc::new(FetchTransport));
        let conn = Conn::new(endpoint, transport, credentials, self.environment);
        conn.limits.set(self.limits);
        Ok(Client { conn })
    }
}

impl Client {
    /// A builder of a client of the server at `endpoint` (`http://` or `https://`).
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            credentials: None,
            environment: None,
            transport: None,
            limits: Default::default(),
        }
    }

    /// Apps.
    pub fn apps(&self) -> Apps<'_> {
        Apps(self)
    }

    /// Images.
    pub fn images(&self) -> Images<'_> {
        Images(self)
    }

    /// Secrets.
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets(self)
    }

    /// Volumes.
    pub fn volumes(&self) -> Volumes<'_> {
        Volumes(self)
    }

    /// Sandboxes.
    pub fn sandboxes(&self) -> Sandboxes<'_> {
        Sandboxes(self)
    }

    /// Closes the client: later calls, on it and on every handle it made, fail with
    /// `ClientClosed`.
    pub fn close(&self) {
        self.conn.close();
    }
}

fn creation_type(create_if_missing: bool) -> i32 {
    if create_if_missing {
        pb::ObjectCreationType::CreateIfMissing as i32
    } else {
        pb::ObjectCreationType::Unspecified as i32
    }
}

fn nonempty<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    Ok(value)
}

/// `secrets.delete` and `volumes.delete`: the object's id looked up by name, then deleted,
/// as Modal JS does; `NotFound` is success with `allow_missing`.
async fn delete_named(
    conn: &Conn,
    lookup: modal_proto::rpc::Unary<wire::NamedObjectLookup, wire::ObjectId>,
    delete: modal_proto::rpc::Unary<wire::ObjectId, ()>,
    name: &str,
    params: &DeleteParams,
) -> Result<()> {
    let req = wire::NamedObjectLookup {
        deployment_name: nonempty(name, "name")?.to_string(),
        environment_name: conn.env(&params.environment),
    };
    let deleted = match conn.cp(lookup, &req).await {
        Ok(id) => conn.cp(delete, &id).await,
        Err(e) => Err(e),
    };
    match deleted {
        Err(e) if e.kind == ErrorKind::NotFound && params.allow_missing => Ok(()),
        r => r,
    }
}

/// [`Client::apps`].
pub struct Apps<'a>(&'a Client);

impl Apps<'_> {
    /// The app named `name`; with `create_if_missing`, created if it does not exist, else
    /// a `NotFound` error.
    pub async fn from_name(&self, name: &str, params: &AppFromNameParams) -> Result<App> {
        let conn = &self.0.conn;
        let req = pb::AppGetOrCreateRequest {
            app_name: nonempty(name, "name")?.to_string(),
            environment_name: conn.env(&params.environment),
            object_creation_type: creation_type(params.create_if_missing),
        };
        let resp = conn.cp(wire::APP_GET_OR_CREATE, &req).await?;
        Ok(App {
            app_id: resp.app_id,
            name: req.app_name,
            environment_name: req.environment_name,
        })
    }
}

/// [`Client::images`].
pub struct Images<'a>(&'a Client);

impl Images<'_> {
    /// An image from a registry tag, e.g. `"alpine:3.21"`; built (or found) when a sandbox
    /// is first created from it, or by [`Images::build`].
    pub fn from_registry(&self, tag: &str) -> Result<Image> {
        Ok(Image::from_tag(nonempty(tag, "tag")?.to_string(), None))
    }

    /// An image from a private registry whose credentials `secret` holds
    /// (`REGISTRY_USERNAME`, `REGISTRY_PASSWORD`), as Modal's `fromRegistry(tag, secret)`.
    pub fn from_registry_with_secret(&self, tag: &str, secret: &Secret) -> Result<Image> {
        self.private(tag, pb::RegistryAuthType::StaticCreds, secret)
    }

    /// An image from AWS ECR, `secret` holding the AWS credentials.
    pub fn from_aws_ecr(&self, tag: &str, secret: &Secret) -> Result<Image> {
        self.private(tag, pb::RegistryAuthType::Aws, secret)
    }

    /// An image from GCP Artifact Registry, `secret` holding the service account's key.
    pub fn from_gcp_artifact_registry(&self, tag: &str, secret: &Secret) -> Result<Image> {
        self.private(tag, pb::RegistryAuthType::Gcp, secret)
    }

    pub(crate) fn private(
        &self,
        tag: &str,
        kind: pb::RegistryAuthType,
        secret: &Secret,
    ) -> Result<Image> {
        let registry = crate::objects::RegistryAuth {
            auth_type: kind as i32,
            secret: secret.clone(),
        };
        Ok(Image::from_tag(
            nonempty(tag, "tag")?.to_string(),
            Some(registry),
        ))
    }

    /// Builds `image` in `app` now, as Modal's `Image.build(app)` (nothing to do if it has
    /// an id); `image` and its clones then have the id.
    pub async fn build(&self, image: &Image, app: &App) -> Result<Image> {
        self.0.conn.check_open()?;
        crate::image_build::build(&self.0.conn, image, app).await?;
        Ok(image.clone())
    }

    /// An existing image; `NotFound` if there is none.
    pub async fn from_id(&self, image_id: &str) -> Result<Image> {
        let req = pb::ImageFromIdRequest {
            image_id: nonempty(image_id, "imageId")?.to_string(),
        };
        let resp = self.0.conn.cp(wire::IMAGE_FROM_ID, &req).await?;
        Ok(Image::built(resp.image_id))
    }

    /// The image published as `tag` (`[env/]name:tag`, checked by the caller; `prefixed`:
    /// it has an `env/`); `NotFound` if there is none. Sends `ImageGetByTag` as Modal JS does.
    pub async fn from_name(
        &self,
        tag: &str,
        prefixed: bool,
        params: &SecretFromObjectParams,
    ) -> Result<Image> {
        self.named(None, tag, prefixed, params).await
    }

    /// Publishes the built `image` as `tag` (as [`Images::from_name`] takes it). Sends
    /// `ImagePublish` as Modal JS does; `Invalid` if the image is not built yet.
    pub async fn publish(
        &self,
        image: &Image,
        tag: &str,
        prefixed: bool,
        params: &SecretFromObjectParams,
    ) -> Result<()> {
        self.named(Some(image), tag, prefixed, params).await?;
        Ok(())
    }

    /// `publish` with an image, `from_name` without: one body for the two (wasm size). The
    /// environment is Modal JS's rule: none when the reference has an `env/` prefix, which
    /// then takes no `environment` option.
    async fn named(
        &self,
        image: Option<&Image>,
        tag: &str,
        prefixed: bool,
        params: &SecretFromObjectParams,
    ) -> Result<Image> {
        // as Modal JS: an unbuilt image is refused before the environment is looked at
        let image_id = match image {
            None => None,
            Some(image) => Some(image.id().ok_or_else(|| {
                let e = "Cannot publish an image that has not been built yet. Call build() first.";
                Error::invalid(e)
            })?),
        };
        let env = params.environment.clone().filter(|e| !e.is_empty());
        let env = match (prefixed, env) {
            (false, env) => self.0.conn.env(&env),
            (true, None) => String::new(),
            (true, Some(_)) => {
                let e = "Cannot specify 'environment' when the image name contains a '/'.";
                return Err(Error::invalid(e));
            }
        };
        let tag = tag.to_string();
        let (rpc, req) = match image_id {
            None => (wire::IMAGE_GET_BY_TAG, [tag, env, String::new()]),
            Some(id) => (wire::IMAGE_PUBLISH, [id, tag, env]),
        };
        let [field1, field2, field3] = req;
        let req = wire::NamedImage {
            field1,
            field2,
            field3,
        };
        Ok(Image::built(self.0.conn.cp(rpc, &req).await?.id))
    }

    /// Deletes the image `image_id` (not the layers it was built on); `NotFound` if there
    /// is none. Sends `ImageDelete` as Modal JS does.
    pub async fn delete(&self, image_id: &str) -> Result<()> {
        let req = pb::ImageDeleteRequest {
            image_id: nonempty(image_id, "imageId")?.to_string(),
        };
        match self.0.conn.cp(cp::IMAGE_DELETE, &req).await {
            // Modal's answer for an unknown id (`starts_with`: `contains` costs 5 KB of wasm)
            Err(mut e) if e.message.starts_with("Could not find image with ID") => {
                e.kind = ErrorKind::NotFound;
                Err(e)
            }
            r => r,
        }
    }
}

/// [`Client::secrets`].
pub struct Secrets<'a>(&'a Client);

impl Secrets<'_> {
    /// A named secret; `NotFound` if there is none.
    pub async fn from_name(&self, name: &str, params: &SecretFromNameParams) -> Result<Secret> {
        let conn = &self.0.conn;
        let req = wire::SecretGetOrCreateRequest {
            deployment_name: nonempty(name, "name")?.to_string(),
            environment_name: conn.env(&params.environment),
            object_creation_type: pb::ObjectCreationType::Unspecified as i32,
            required_keys: params.required_keys.clone(),
            ..Default::default()
        };
        let resp = conn.cp(wire::SECRET_GET_OR_CREATE, &req).await?;
        Ok(Secret {
            secret_id: resp.secret_id,
            name: Some(req.deployment_name),
        })
    }

    /// An ephemeral secret of these environment variables.
    pub async fn from_entries(
        &self,
        entries: impl IntoIterator<Item = (String, String)>,
        params: &SecretFromObjectParams,
    ) -> Result<Secret> {
        let conn = &self.0.conn;
        let req = wire::SecretGetOrCreateRequest {
            environment_name: conn.env(&params.environment),
            object_creation_type: pb::ObjectCreationType::Ephemeral as i32,
            env_dict: map_entries(entries),
            ..Default::default()
        };
        let resp = conn.cp(wire::SECRET_GET_OR_CREATE, &req).await?;
        Ok(Secret {
            secret_id: resp.secret_id,
            name: None,
        })
    }

    /// Deletes the secret named `name` (looked up, then `SecretDelete`, as Modal JS does);
    /// `NotFound` if there is none, unless `allow_missing`.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<()> {
        delete_named(
            &self.0.conn,
            wire::SECRET_LOOKUP,
            wire::SECRET_DELETE,
            name,
            params,
        )
        .await
    }
}

/// [`Client::volumes`].
pub struct Volumes<'a>(&'a Client);

impl Volumes<'_> {
    /// The volume named `name`; with `create_if_missing`, created if it does not exist.
    pub async fn from_name(&self, name: &str, params: &VolumeFromNameParams) -> Result<Volume> {
        let conn = &self.0.conn;
        let req = pb::VolumeGetOrCreateRequest {
            deployment_name: nonempty(name, "name")?.to_string(),
            environment_name: conn.env(&params.environment),
            object_creation_type: creation_type(params.create_if_missing),
            version: match params.version {
                None => 0,
                Some(v @ (1 | 2)) => v as i32,
                Some(_) => return Err(Error::invalid("VolumeFS version must be either 1 or 2")),
            },
            ..Default::default()
        };
        let resp = conn.cp(wire::VOLUME_GET_OR_CREATE, &req).await?;
        Ok(Volume {
            volume_id: resp.volume_id,
            name: Some(req.deployment_name),
            read_only: false,
            sub_path: None,
            heartbeat_stop: None,
        })
    }

    /// A nameless, temporary volume, kept alive by a `VolumeHeartbeat` now and every 300 s
    /// (as Modal JS does) until [`Volume::close_ephemeral`]; the server deletes it once the
    /// heartbeats stop. A failed heartbeat is tried again at the next one. The timer does
    /// not keep a Node process alive.
    pub async fn ephemeral(&self, params: &VolumeEphemeralParams) -> Result<Volume> {
        let conn = self.0.conn.clone();
        let req = pb::VolumeGetOrCreateRequest {
            environment_name: conn.env(&params.environment),
            object_creation_type: pb::ObjectCreationType::Ephemeral as i32,
            ..Default::default()
        };
        let volume_id = conn.cp(wire::VOLUME_GET_OR_CREATE, &req).await?.volume_id;
        let stop = Rc::new(std::cell::Cell::new(false));
        let (beat, stopped) = (
            pb::VolumeHeartbeatRequest {
                volume_id: volume_id.clone(),
            },
            stop.clone(),
        );
        wasm_bindgen_futures::spawn_local(async move {
            while !stopped.get() {
                let _ = conn.cp(cp::VOLUME_HEARTBEAT, &beat).await;
                crate::js::sleep_unref(300_000).await;
            }
        });
        Ok(Volume {
            volume_id,
            name: None,
            read_only: false,
            sub_path: None,
            heartbeat_stop: Some(stop),
        })
    }

    /// Deletes the volume named `name` (looked up, then `VolumeDelete`, as Modal JS does);
    /// `NotFound` if there is none, unless `allow_missing`.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<()> {
        delete_named(
            &self.0.conn,
            wire::VOLUME_LOOKUP,
            wire::VOLUME_DELETE,
            name,
            params,
        )
        .await
    }
}

/// [`Client::sandboxes`].
pub struct Sandboxes<'a>(&'a Client);

impl Sandboxes<'_> {
    /// Creates a sandbox in `app` from `image` (built first when it is defined by a tag).
    /// The parameters are checked before any request.
    pub async fn create(
        &self,
        app: &App,
        image: &Image,
        params: &SandboxCreateParams,
    ) -> Result<Sandbox> {
        let conn = &self.0.conn;
        let mut req = sandbox_create_request(&app.app_id, "", params)?;
        conn.check_open()?;
        let image_id = crate::image_build::build(conn, image, app).await?;
        if let Some(d) = req.definition.as_mut() {
            d.image_id = image_id;
        }
        let resp = conn.cp(wire::SANDBOX_CREATE_V2, &req).await?;
        Ok(Sandbox::new(Router::new(
            conn.clone(),
            resp.sandbox_id,
            Some(resp.task_id),
            resp.command_router_access,
        )))
    }

    /// A handle to an existing sandbox (no request is made).
    pub fn from_id(&self, sandbox_id: &str) -> Result<Sandbox> {
        let id = nonempty(sandbox_id, "sandboxId")?.to_string();
        self.0.conn.check_open()?;
        Ok(Sandbox::new(Router::new(
            self.0.conn.clone(),
            id,
            None,
            None,
        )))
    }

    /// A running sandbox by app name and sandbox name; `NotFound` if there is none.
    pub async fn from_name(
        &self,
        app_name: &str,
        name: &str,
        params: &SandboxFromNameParams,
    ) -> Result<Sandbox> {
        let conn = &self.0.conn;
        let req = pb::SandboxGetFromNameRequest {
            sandbox_name: nonempty(name, "name")?.to_string(),
            environment_name: conn.env(&params.environment),
            app_name: nonempty(app_name, "appName")?.to_string(),
            include_terminated: params.include_terminated,
        };
        let resp = match conn.cp(wire::SANDBOX_GET_FROM_NAME_V2, &req).await {
            Err(e) if e.kind == ErrorKind::NotFound => {
                conn.cp(wire::SANDBOX_GET_FROM_NAME, &req).await?
            }
            r => r?,
        };
        Ok(Sandbox::new(Router::new(
            conn.clone(),
            resp.sandbox_id,
            None,
            None,
        )))
    }

    /// Running sandboxes, newest first, fetched a page (`SandboxListV2`) at a time as the
    /// stream is read.
    pub fn list(&self, params: &SandboxListParams) -> SandboxList {
        let conn = self.0.conn.clone();
        let req = pb::SandboxListRequest {
            app_id: params.app_id.clone().unwrap_or_default(),
            environment_name: conn.env(&params.environment),
            include_finished: false,
            tags: tags_to_proto(&params.tags),
            before_timestamp: 0.0,
        };
        SandboxList {
            conn,
            req,
            buf: Vec::new().into_iter(),
            done: false,
            page: None,
        }
    }
}

type Page = LocalBoxFuture<'static, Result<wire::SandboxListResponse>>;

/// The sandboxes of [`Sandboxes::list`], a `Stream`; it ends after an error.
pub struct SandboxList {
    conn: Rc<Conn>,
    req: pb::SandboxListRequest,
    /// The rest of the last page (only refilled once empty: no deque needed).
    buf: std::vec::IntoIter<wire::SandboxInfo>,
    done: bool,
    /// The page being fetched.
    page: Option<Page>,
}

impl std::fmt::Debug for SandboxList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxList")
            .field("buffered", &self.buf.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl futures_util::Stream for SandboxList {
    type Item = Result<Sandbox>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Sandbox>>> {
        let me = &mut *self;
        loop {
            if let Some(info) = me.buf.next() {
                let task_id = info.task_info.as_ref().map(|t| t.id.clone());
                let router = Router::new(me.conn.clone(), info.id, task_id, None);
                return Poll::Ready(Some(Ok(Sandbox::new(router))));
            }
            if me.done {
                return Poll::Ready(None);
            }
            let page = me.page.get_or_insert_with(|| {
                let (conn, req) = (me.conn.clone(), me.req.clone());
                Box::pin(async move { conn.cp(wire::SANDBOX_LIST_V2, &req).await })
            });
            let resp = ready!(page.as_mut().poll(cx));
            me.page = None;
            match resp {
                Ok(resp) => {
                    match resp.sandboxes.last() {
                        None => me.done = true,
                        Some(last) => me.req.before_timestamp = last.created_at,
                    }
                    me.buf = resp.sandboxes.into_iter();
                }
                Err(e) => {
                    me.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// `(key, value)` pairs as protobuf map entries (a loop: the in-place `collect` it replaces
/// was its own iterator code in the wasm).
fn map_entries(entries: impl IntoIterator<Item = (String, String)>) -> Vec<wire::MapEntry> {
    let mut out = Vec::new();
    for (key, value) in entries {
        out.push(wire::MapEntry { key, value });
    }
    out
}
