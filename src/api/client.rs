//! `ModalClient` and its services (`apps`, `images`, `secrets`, `volumes`, `sandboxes`):
//! JS names and promises over [`crate::Client`].

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::StreamExt;
use js_sys::Promise;
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::{promise, App, Image, Sandbox, Secret, Volume};
use crate::credentials::{Credentials, TokenSource};
use crate::error::{Error, ErrorKind, Result};
use crate::js::convert::{self, prop_string};
use crate::js::options as ts;
use crate::{client, objects as sdk};
use modal_proto::client::RegistryAuthType;

// Modal JS's calls that `compat.js` (an entry's JS) puts on these classes: aliases of the
// SDK's own calls, and refusals by name.
#[wasm_bindgen(typescript_custom_section)]
const TS_COMPAT: &str = r#"
export interface ModalClient {
  /** Modal JS's memory snapshots: `fromId` rejects with an `InvalidError` naming it (sandboxd
   * cannot checkpoint running processes; `snapshotFilesystem()` gives an Image instead). */
  readonly sandboxSnapshots: SandboxSnapshotService;
}
/** Modal JS's `SandboxSnapshotService`; see `ModalClient.sandboxSnapshots`. */
export declare class SandboxSnapshotService {
  private constructor();
  /** Rejects with an `InvalidError` naming it: memory snapshots are not supported. */
  fromId(snapshotId: string): Promise<never>;
}
/** Modal JS's handle of a memory snapshot; this package makes none (constructing one throws
 * an `InvalidError`). */
export declare class SandboxSnapshot {
  private constructor();
  readonly snapshotId: string;
}
/** Options of `client.sandboxes.experimentalFromName()`, as Modal JS names them. */
export type SandboxExperimentalFromNameParams = SandboxFromNameParams;
/** Options of `client.sandboxes.experimentalList()`, as Modal JS names them. */
export type SandboxExperimentalListParams = SandboxListParams;
/** Options of `client.sandboxes.experimentalFromSnapshot()` (refused). */
export type SandboxExperimentalFromSnapshotParams = { name?: string | null };
/** Options of `client.images.fromName()`, as Modal JS names them. */
export type ImageFromNameParams = SecretFromObjectParams;
/** Options of `image.publish()`, as Modal JS names them. */
export type ImagePublishParams = SecretFromObjectParams;
export interface ImageService {
  /** The image published as `name` (`[environment/]name[:tag]`; `:latest` when no tag is
   * given). Rejects with `NotFoundError` if there is none, `InvalidError` for a bad name. */
  fromName(name: string, params?: ImageFromNameParams): Promise<Image>;
}
export interface Image {
  /** Publishes this built image as `name` (`[environment/]name[:tag]`), for
   * `images.fromName()`; publishing a name again points it at this image. Rejects with
   * `InvalidError` if the image is not built yet (`build(app)` first). */
  publish(name: string, params?: ImagePublishParams): Promise<void>;
}
export interface SandboxService {
  /** Modal JS's V2 create: the same as `create()`, which sends `SandboxCreateV2`. */
  experimentalCreate(app: App, image: Image, params?: SandboxCreateParams): Promise<Sandbox>;
  /** Modal JS's V2 lookup by name: the same as `fromName()`, which asks
   * `SandboxGetFromNameV2` first (then V1's lookup, which Modal JS's does not). */
  experimentalFromName(appName: string, name: string, params?: SandboxExperimentalFromNameParams): Promise<Sandbox>;
  /** Modal JS's V2 list: the same as `list()`, which sends `SandboxListV2`. */
  experimentalList(params?: SandboxExperimentalListParams): AsyncIterableIterator<Sandbox>;
  /** Rejects with an `InvalidError` naming it: memory snapshots are not supported. */
  experimentalFromSnapshot(snapshot: SandboxSnapshot, params?: SandboxExperimentalFromSnapshotParams): Promise<never>;
}
"#;

/// The entry point: a connection to a Modal-compatible server (sandboxd, or a gateway).
///
/// ```ts
/// const modal = new ModalClient({ endpoint: "http://127.0.0.1:8080", tokenId, tokenSecret });
/// ```
#[wasm_bindgen]
pub struct ModalClient {
    client: client::Client,
}

#[wasm_bindgen]
impl ModalClient {
    /// Creates a client. Throws `InvalidError` for a bad endpoint and `AuthError` for
    /// missing credentials. No request is made until the first call.
    ///
    /// ```ts
    /// // a browser, through a gateway: a scoped token from your backend
    /// const modal = new ModalClient({ endpoint, getToken: () => fetch("/token").then((r) => r.text()) });
    /// ```
    #[wasm_bindgen(constructor)]
    pub fn new(params: Option<Ts<ts::ModalClientParams>>) -> Result<ModalClient, JsValue> {
        let p = convert::options(params, "ModalClient params")?.with_env(
            convert::string_array(&crate::js::modal_env(), "the MODAL_* environment").ok(),
        );
        // A bad endpoint is reported before missing credentials.
        if p.endpoint.is_empty() {
            let e = "no endpoint: give { endpoint } (in Node and Deno, MODAL_SERVER_URL is read)";
            return Err(Error::invalid(e).into());
        }
        let endpoint = crate::endpoint::normalize(&p.endpoint).map_err(Error::invalid)?;
        let source = p.get_token.map(token_source);
        let credentials = Credentials::from_options(p.token_id, p.token_secret, p.token, source)?;
        // Not through Client::builder: its checks were just made (and it stays out of the
        // package's wasm).
        let transport = Rc::new(crate::transport::FetchTransport);
        let conn = crate::rpc::Conn::new(endpoint, transport, credentials, p.environment);
        conn.limits.set(p.limits);
        Ok(ModalClient {
            client: client::Client { conn },
        })
    }

    /// Apps: `client.apps.fromName(name, { createIfMissing })`.
    #[wasm_bindgen(getter)]
    pub fn apps(&self) -> AppService {
        AppService(self.client.clone())
    }

    /// Images: `fromRegistry(tag, secret?)`, `fromAwsEcr`, `fromGcpArtifactRegistry`, `fromId(id)`, `delete(id)`.
    #[wasm_bindgen(getter)]
    pub fn images(&self) -> ImageService {
        ImageService(self.client.clone())
    }

    /// Secrets: `fromName(name)`, `fromObject(entries)`.
    #[wasm_bindgen(getter)]
    pub fn secrets(&self) -> SecretService {
        SecretService(self.client.clone())
    }

    /// Volumes: `fromName(name, { createIfMissing })`.
    #[wasm_bindgen(getter)]
    pub fn volumes(&self) -> VolumeService {
        VolumeService(self.client.clone())
    }

    /// Sandboxes: `create`, `fromId`, `fromName`, `list`.
    #[wasm_bindgen(getter)]
    pub fn sandboxes(&self) -> SandboxService {
        SandboxService(self.client.clone())
    }

    /// Closes the client: later calls reject with `ClientClosedError`.
    pub fn close(&self) {
        self.client.close();
    }
}

/// Wraps the JS `getToken` function: its result (a string, or a promise of one) is the
/// token; a throw or rejection becomes an `AuthError` with it as the cause.
fn token_source(f: js_sys::Function) -> TokenSource {
    Rc::new(move || {
        let f = f.clone();
        Box::pin(async move {
            let auth = |what: &str, cause: Option<JsValue>| {
                let mut e = Error::new(ErrorKind::Auth, what.to_string());
                e.cause = cause.map(|c| convert::error_text(&c));
                e
            };
            let v = f
                .call0(&JsValue::UNDEFINED)
                .map_err(|e| auth("getToken threw", Some(e)))?;
            let v = convert::promise_resolve(&v)
                .map_err(|e| auth("getToken returned a promise that cannot be read", Some(e)))?;
            let v = wasm_bindgen_futures::JsFuture::from(v)
                .await
                .map_err(|e| auth("getToken rejected", Some(e)))?;
            v.as_string()
                .ok_or_else(|| auth("getToken must resolve to a string", None))
        })
    })
}

/// `client.apps`.
#[wasm_bindgen]
pub struct AppService(client::Client);

#[wasm_bindgen]
impl AppService {
    /// Looks up an app by name, creating it with `{ createIfMissing: true }`.
    /// Rejects with `NotFoundError` if it does not exist.
    #[wasm_bindgen(js_name = fromName, unchecked_return_type = "Promise<App>")]
    pub fn from_name(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        params: Option<Ts<ts::AppFromNameParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let name = convert::string(&name, "name")?;
            let p = convert::options(params, "params")?;
            Ok(App(client.apps().from_name(&name, &p).await?).into())
        })
    }
}

/// `client.images`.
#[wasm_bindgen]
pub struct ImageService(client::Client);

#[wasm_bindgen]
impl ImageService {
    /// An image from a registry tag, e.g. `"alpine:3.21"`. Lazy: built on first use. With
    /// a `secret`, a private registry's credentials (`REGISTRY_USERNAME`,
    /// `REGISTRY_PASSWORD`), sent as Modal's client sends them.
    #[wasm_bindgen(js_name = fromRegistry)]
    pub fn from_registry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tag: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Secret | undefined")] secret: JsValue,
    ) -> Result<Image, JsValue> {
        let kind = match secret.is_undefined() {
            true => None,
            false => Some(RegistryAuthType::StaticCreds),
        };
        self.image(&tag, &secret, kind)
    }

    /// An image from AWS ECR, `secret` holding the AWS credentials. Lazy.
    #[wasm_bindgen(js_name = fromAwsEcr)]
    pub fn from_aws_ecr(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tag: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Secret")] secret: JsValue,
    ) -> Result<Image, JsValue> {
        self.image(&tag, &secret, Some(RegistryAuthType::Aws))
    }

    /// An image from GCP Artifact Registry, `secret` holding the service account key. Lazy.
    #[wasm_bindgen(js_name = fromGcpArtifactRegistry)]
    pub fn from_gcp_artifact_registry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tag: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Secret")] secret: JsValue,
    ) -> Result<Image, JsValue> {
        self.image(&tag, &secret, Some(RegistryAuthType::Gcp))
    }

    /// An existing image by id. Rejects with `NotFoundError` if it does not exist.
    #[wasm_bindgen(js_name = fromId, unchecked_return_type = "Promise<Image>")]
    pub fn from_id(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] image_id: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&options), async move {
            let image_id = convert::string(&image_id, "imageId")?;
            Ok(Image(client.images().from_id(&image_id).await?, client).into())
        })
    }

    /// `fromName` of `compat.js`, which checks the reference and gives it as `name:tag`
    /// (`prefixed`: with an `env/`).
    #[wasm_bindgen(js_name = __fromName, skip_typescript)]
    pub fn from_name(
        &self,
        tag: JsValue,
        prefixed: JsValue,
        params: Option<Ts<ts::SecretFromObjectParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            // compat.js passes a checked name; anything else is still refused with a type
            let tag = convert::string(&tag, "name")?;
            let prefixed = convert::flag(&prefixed, "prefixed")?;
            let p = convert::options(params, "params")?;
            let image = client.images().from_name(&tag, prefixed, &p).await?;
            Ok(Image(image, client).into())
        })
    }

    /// Deletes an image by id (not the layers it was built on). Rejects with
    /// `NotFoundError` if it does not exist.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] image_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ImageDeleteParams | undefined")] params: Option<
            Ts<ts::CallOptions>,
        >,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let image_id = convert::string(&image_id, "imageId")?;
            convert::options(params, "params")?;
            client.images().delete(&image_id).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl ImageService {
    /// A registry image; with `kind`, from a private registry whose credentials `secret`
    /// holds (Modal JS's words when it is not a `Secret`). One copy for the three calls.
    #[inline(never)]
    fn image(
        &self,
        tag: &JsValue,
        secret: &JsValue,
        kind: Option<RegistryAuthType>,
    ) -> Result<Image, JsValue> {
        let tag = convert::string(tag, "tag")?;
        let images = self.0.images();
        let image = match kind {
            None => images.from_registry(&tag)?,
            Some(kind) => {
                let secret = crate::js::options::secret_of(secret).ok_or_else(|| {
                    Error::invalid(
                        "secret must be a reference to an existing Secret, e.g. `await client.secrets.fromName('my_secret')`",
                    )
                })?;
                images.private(&tag, kind, &secret)?
            }
        };
        Ok(Image(image, self.0.clone()))
    }
}

/// `client.secrets`.
#[wasm_bindgen]
pub struct SecretService(client::Client);

#[wasm_bindgen]
impl SecretService {
    /// A named secret. Rejects with `NotFoundError` if it does not exist.
    #[wasm_bindgen(js_name = fromName, unchecked_return_type = "Promise<Secret>")]
    pub fn from_name(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        params: Option<Ts<ts::SecretFromNameParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let name = convert::string(&name, "name")?;
            let p = convert::options(params, "params")?;
            Ok(Secret(client.secrets().from_name(&name, &p).await?).into())
        })
    }

    /// An ephemeral secret from an object of string values.
    #[wasm_bindgen(js_name = fromObject, unchecked_return_type = "Promise<Secret>")]
    pub fn from_object(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] entries: JsValue,
        params: Option<Ts<ts::SecretFromObjectParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let entries = convert::string_record(&entries, "entries")?;
            let p = convert::options(params, "params")?;
            Ok(Secret(client.secrets().from_entries(entries, &p).await?).into())
        })
    }

    /// Deletes a named secret. Rejects with `NotFoundError` if it does not exist, unless
    /// `allowMissing`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SecretDeleteParams | undefined")] params: Option<
            Ts<ts::DeleteParams>,
        >,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let name = convert::string(&name, "name")?;
            let p = convert::options(params, "params")?;
            client.secrets().delete(&name, &p).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// `client.volumes`.
#[wasm_bindgen]
pub struct VolumeService(client::Client);

#[wasm_bindgen]
impl VolumeService {
    /// A named volume, created with `{ createIfMissing: true }`.
    #[wasm_bindgen(js_name = fromName, unchecked_return_type = "Promise<Volume>")]
    pub fn from_name(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        params: Option<Ts<ts::VolumeFromNameParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let name = convert::string(&name, "name")?;
            let p = convert::options(params, "params")?;
            Ok(Volume(client.volumes().from_name(&name, &p).await?).into())
        })
    }

    /// A nameless, temporary volume, kept alive by heartbeats until `closeEphemeral()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Volume>")]
    pub fn ephemeral(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VolumeEphemeralParams | undefined")] params: Option<
            Ts<ts::SecretFromObjectParams>,
        >,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let p = convert::options(params, "params")?;
            Ok(Volume(client.volumes().ephemeral(&p).await?).into())
        })
    }

    /// Deletes a named volume. Rejects with `NotFoundError` if it does not exist, unless
    /// `allowMissing`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "VolumeDeleteParams | undefined")] params: Option<
            Ts<ts::DeleteParams>,
        >,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let name = convert::string(&name, "name")?;
            let p = convert::options(params, "params")?;
            client.volumes().delete(&name, &p).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// `client.sandboxes`.
#[wasm_bindgen]
pub struct SandboxService(client::Client);

/// An `App` argument: the class instance's Rust value, read through its getters.
pub(crate) fn app_of(v: &JsValue) -> Result<sdk::App> {
    Ok(sdk::App {
        app_id: prop_string(v, "appId").ok_or_else(|| Error::invalid("app must be an App"))?,
        name: prop_string(v, "name").unwrap_or_default(),
        environment_name: prop_string(v, "environmentName").unwrap_or_default(),
    })
}

/// An `Image` argument: its Rust value, through a handle that shares its state (so a build
/// through it sets the caller's `imageId`).
pub(crate) fn image_of(v: &JsValue) -> Result<sdk::Image> {
    use wasm_bindgen::convert::TryFromJsValue;
    let handle = js_sys::Reflect::get(v, &JsValue::from_str("__handle"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(v).ok());
    handle
        .and_then(|h| Image::try_from_js_value(h).ok())
        .map(|i| i.0)
        .ok_or_else(|| Error::invalid("image must be an Image"))
}

#[wasm_bindgen]
impl SandboxService {
    /// Creates a sandbox in `app` from `image` (built first if lazily defined).
    ///
    /// ```ts
    /// const sb = await modal.sandboxes.create(app, image, { command: ["sleep", "60"], tags: { team: "a" } });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Sandbox>")]
    pub fn create(
        &self,
        #[wasm_bindgen(unchecked_param_type = "App")] app: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Image")] image: JsValue,
        params: Option<Ts<ts::SandboxCreateParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let (app, image) = (app_of(&app)?, image_of(&image)?);
            let p = convert::options(params, "params")?;
            let sb = client.sandboxes().create(&app, &image, &p).await?;
            Ok(Sandbox::js(sb))
        })
    }

    /// A handle to an existing sandbox by id (no request is made).
    #[wasm_bindgen(js_name = fromId, unchecked_return_type = "Promise<Sandbox>")]
    pub fn from_id(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] sandbox_id: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&options), async move {
            let id = convert::string(&sandbox_id, "sandboxId")?;
            Ok(Sandbox::js(client.sandboxes().from_id(&id)?))
        })
    }

    /// A running sandbox by app name and sandbox name. Rejects with `NotFoundError`.
    #[wasm_bindgen(js_name = fromName, unchecked_return_type = "Promise<Sandbox>")]
    pub fn from_name(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] app_name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        params: Option<Ts<ts::SandboxFromNameParams>>,
    ) -> Promise {
        let client = self.0.clone();
        promise(convert::signal_of_ts(&params), async move {
            let app_name = convert::string(&app_name, "appName")?;
            let name = convert::string(&name, "name")?;
            let p = convert::options(params, "params")?;
            let sb = client.sandboxes().from_name(&app_name, &name, &p).await?;
            Ok(Sandbox::js(sb))
        })
    }

    /// Lists running sandboxes, newest first, as an async iterator.
    ///
    /// ```ts
    /// for await (const sb of modal.sandboxes.list({ tags: { team: "a" } })) console.log(sb.sandboxId);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<Sandbox>")]
    pub fn list(&self, params: Option<Ts<ts::SandboxListParams>>) -> Result<JsValue, JsValue> {
        let signal = convert::signal_of_ts(&params)?;
        let p = convert::options(params, "params")?;
        let it = SandboxListIterator {
            signal,
            list: Rc::new(RefCell::new(Some(self.0.sandboxes().list(&p)))),
        };
        Ok(crate::js::make_async_iterable(&it.into()))
    }
}

/// The async iterator of `client.sandboxes.list()`.
#[wasm_bindgen]
pub struct SandboxListIterator {
    signal: Option<web_sys::AbortSignal>,
    /// `None` once returned, or while a `next()` has it out (`makeAsyncIterable` in
    /// glue.js runs `next()` and `return()` one at a time, in call order).
    list: Rc<RefCell<Option<client::SandboxList>>>,
}

/// The list, taken out of its slot for one `next()`; put back when done or dropped (an
/// aborted `next()` leaves the iteration where it was).
struct TakenList {
    slot: Rc<RefCell<Option<client::SandboxList>>>,
    list: Option<client::SandboxList>,
}

impl Drop for TakenList {
    fn drop(&mut self) {
        if let Some(l) = self.list.take() {
            *self.slot.borrow_mut() = Some(l);
        }
    }
}

fn iter_result(value: JsValue, done: bool) -> JsValue {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"value".into(), &value);
    let _ = js_sys::Reflect::set(&o, &"done".into(), &JsValue::from_bool(done));
    o.into()
}

#[wasm_bindgen]
impl SandboxListIterator {
    /// The next sandbox (`{ value, done }`), fetching pages (`SandboxListV2`) as needed.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<Sandbox, undefined>>")]
    pub fn next(&self) -> Promise {
        let list = self.list.clone();
        promise(Ok(self.signal.clone()), async move {
            let taken = list.borrow_mut().take();
            let mut taken = TakenList {
                slot: list,
                list: taken,
            };
            let next = match taken.list.as_mut() {
                Some(l) => l.next().await,
                None => None,
            };
            match next {
                Some(sb) => Ok(iter_result(Sandbox::js(sb?), false)),
                None => Ok(iter_result(JsValue::UNDEFINED, true)),
            }
        })
    }

    /// Stops the iteration.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<Sandbox, undefined>>"
    )]
    pub fn return_(&self) -> Promise {
        let list = self.list.clone();
        promise(Ok(None), async move {
            *list.borrow_mut() = None;
            Ok::<JsValue, Error>(iter_result(JsValue::UNDEFINED, true))
        })
    }
}
