//! `ModalClient` and its services: `apps`, `images`, `secrets`, `volumes`, `sandboxes`.

use std::collections::VecDeque;
use std::rc::Rc;

use futures_util::lock::Mutex;
use js_sys::Promise;
use modal_proto::client as pb;
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::{promise, prop_string, App, Image, Sandbox, Secret, Volume};
use crate::error::{Error, ErrorKind, Result};
use crate::js::convert;
use crate::js::options as ts;
use crate::objects as sdk;
use crate::options::{sandbox_create_request, tags_to_proto};
use crate::rpc::{Conn, Credentials, Router, TokenFn};

/// The entry point: a connection to a Modal-compatible server (sandboxd, or a gateway).
///
/// ```ts
/// const modal = new ModalClient({ endpoint: "http://127.0.0.1:8080", tokenId, tokenSecret });
/// ```
#[wasm_bindgen]
pub struct ModalClient {
    conn: Rc<Conn>,
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
        let p = convert::options(params, "ModalClient params")?;
        // A bad endpoint is reported before missing credentials.
        crate::endpoint::normalize(&p.endpoint).map_err(Error::invalid)?;
        let get_token = p.get_token.map(token_fn);
        let credentials =
            Credentials::from_options(p.token_id, p.token_secret, p.token, get_token)?;
        let conn = Conn::new(&p.endpoint, credentials, p.environment)?;
        Ok(ModalClient { conn })
    }

    /// Apps: `client.apps.fromName(name, { createIfMissing })`.
    #[wasm_bindgen(getter)]
    pub fn apps(&self) -> AppService {
        AppService {
            conn: self.conn.clone(),
        }
    }

    /// Images: `fromRegistry(tag)`, `fromId(id)`.
    #[wasm_bindgen(getter)]
    pub fn images(&self) -> ImageService {
        ImageService {
            conn: self.conn.clone(),
        }
    }

    /// Secrets: `fromName(name)`, `fromObject(entries)`.
    #[wasm_bindgen(getter)]
    pub fn secrets(&self) -> SecretService {
        SecretService {
            conn: self.conn.clone(),
        }
    }

    /// Volumes: `fromName(name, { createIfMissing })`.
    #[wasm_bindgen(getter)]
    pub fn volumes(&self) -> VolumeService {
        VolumeService {
            conn: self.conn.clone(),
        }
    }

    /// Sandboxes: `create`, `fromId`, `fromName`, `list`.
    #[wasm_bindgen(getter)]
    pub fn sandboxes(&self) -> SandboxService {
        SandboxService {
            conn: self.conn.clone(),
        }
    }

    /// Closes the client: later calls reject with `ClientClosedError`.
    pub fn close(&self) {
        self.conn.close();
    }
}

/// Wraps the JS `getToken` function: its result (a string, or a promise of one) is the
/// token; a throw or rejection becomes an `AuthError` with it as the cause.
fn token_fn(f: js_sys::Function) -> TokenFn {
    std::rc::Rc::new(move || {
        let f = f.clone();
        Box::pin(async move {
            let auth = |what: &str, cause: Option<JsValue>| Error {
                cause: cause.map(|c| convert::error_text(&c)),
                ..Error::new(ErrorKind::Auth, what.to_string())
            };
            let v = f
                .call0(&JsValue::UNDEFINED)
                .map_err(|e| auth("getToken threw", Some(e)))?;
            let v = wasm_bindgen_futures::JsFuture::from(Promise::resolve(&v))
                .await
                .map_err(|e| auth("getToken rejected", Some(e)))?;
            v.as_string()
                .ok_or_else(|| auth("getToken must resolve to a string", None))
        })
    })
}

/// `client.apps`.
#[wasm_bindgen]
pub struct AppService {
    conn: Rc<Conn>,
}

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
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&params);
        promise(signal, async move {
            let name = convert::nonempty_string(&name, "name")?;
            let p = convert::options(params, "params")?;
            let creation = if p.create_if_missing {
                pb::ObjectCreationType::CreateIfMissing
            } else {
                pb::ObjectCreationType::Unspecified
            };
            let req = pb::AppGetOrCreateRequest {
                app_name: name.clone(),
                environment_name: conn.env(&p.environment),
                object_creation_type: creation as i32,
            };
            let resp = conn
                .cp(modal_proto::rpcs::modal_client::APP_GET_OR_CREATE, &req)
                .await?;
            Ok(App(sdk::App {
                app_id: resp.app_id,
                name,
            }))
        })
    }
}

/// `client.images`.
#[wasm_bindgen]
pub struct ImageService {
    conn: Rc<Conn>,
}

#[wasm_bindgen]
impl ImageService {
    /// An image from a registry tag, e.g. `"alpine:3.21"`. Lazy: built on first use.
    #[wasm_bindgen(js_name = fromRegistry)]
    pub fn from_registry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tag: JsValue,
    ) -> Result<Image, JsValue> {
        let tag = convert::nonempty_string(&tag, "tag")?;
        Ok(Image(sdk::Image {
            image_id: String::new(),
            tag: Some(tag),
        }))
    }

    /// An existing image by id. Rejects with `NotFoundError` if it does not exist.
    #[wasm_bindgen(js_name = fromId, unchecked_return_type = "Promise<Image>")]
    pub fn from_id(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] image_id: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&options);
        promise(signal, async move {
            let image_id = convert::nonempty_string(&image_id, "imageId")?;
            let resp = conn
                .cp(
                    modal_proto::rpcs::modal_client::IMAGE_FROM_ID,
                    &pb::ImageFromIdRequest { image_id },
                )
                .await?;
            Ok(Image(sdk::Image::built(resp.image_id)))
        })
    }
}

/// `client.secrets`.
#[wasm_bindgen]
pub struct SecretService {
    conn: Rc<Conn>,
}

#[wasm_bindgen]
impl SecretService {
    /// A named secret. Rejects with `NotFoundError` if it does not exist.
    #[wasm_bindgen(js_name = fromName, unchecked_return_type = "Promise<Secret>")]
    pub fn from_name(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        params: Option<Ts<ts::SecretFromNameParams>>,
    ) -> Promise {
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&params);
        promise(signal, async move {
            let name = convert::nonempty_string(&name, "name")?;
            let p = convert::options(params, "params")?;
            let req = pb::SecretGetOrCreateRequest {
                deployment_name: name.clone(),
                environment_name: conn.env(&p.environment),
                object_creation_type: pb::ObjectCreationType::Unspecified as i32,
                required_keys: p.required_keys,
                ..Default::default()
            };
            let resp = conn
                .cp(modal_proto::rpcs::modal_client::SECRET_GET_OR_CREATE, &req)
                .await?;
            Ok(Secret(sdk::Secret {
                secret_id: resp.secret_id,
                name: Some(name),
            }))
        })
    }

    /// An ephemeral secret from an object of string values.
    #[wasm_bindgen(js_name = fromObject, unchecked_return_type = "Promise<Secret>")]
    pub fn from_object(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] entries: JsValue,
        params: Option<Ts<ts::SecretFromObjectParams>>,
    ) -> Promise {
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&params);
        promise(signal, async move {
            let entries = convert::string_record(&entries, "entries")?;
            let p = convert::options(params, "params")?;
            let req = pb::SecretGetOrCreateRequest {
                environment_name: conn.env(&p.environment),
                object_creation_type: pb::ObjectCreationType::Ephemeral as i32,
                env_dict: entries.into_iter().collect(),
                ..Default::default()
            };
            let resp = conn
                .cp(modal_proto::rpcs::modal_client::SECRET_GET_OR_CREATE, &req)
                .await?;
            Ok(Secret(sdk::Secret {
                secret_id: resp.secret_id,
                name: None,
            }))
        })
    }
}

/// `client.volumes`.
#[wasm_bindgen]
pub struct VolumeService {
    conn: Rc<Conn>,
}

#[wasm_bindgen]
impl VolumeService {
    /// A named volume, created with `{ createIfMissing: true }`.
    #[wasm_bindgen(js_name = fromName, unchecked_return_type = "Promise<Volume>")]
    pub fn from_name(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        params: Option<Ts<ts::VolumeFromNameParams>>,
    ) -> Promise {
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&params);
        promise(signal, async move {
            let name = convert::nonempty_string(&name, "name")?;
            let p = convert::options(params, "params")?;
            let creation = if p.create_if_missing {
                pb::ObjectCreationType::CreateIfMissing
            } else {
                pb::ObjectCreationType::Unspecified
            };
            let req = pb::VolumeGetOrCreateRequest {
                deployment_name: name.clone(),
                environment_name: conn.env(&p.environment),
                object_creation_type: creation as i32,
                ..Default::default()
            };
            let resp = conn
                .cp(modal_proto::rpcs::modal_client::VOLUME_GET_OR_CREATE, &req)
                .await?;
            Ok(Volume(sdk::Volume {
                volume_id: resp.volume_id,
                name: Some(name),
                read_only: false,
            }))
        })
    }
}

/// `client.sandboxes`.
#[wasm_bindgen]
pub struct SandboxService {
    conn: Rc<Conn>,
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
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&params);
        promise(signal, async move {
            let app_id = prop_string(&app, "appId", "app")?;
            let mut image_id = prop_string(&image, "imageId", "image")?;
            let p = convert::options(params, "params")?;
            let mut req = sandbox_create_request(&app_id, "", &p)?;
            conn.check_open()?;
            if image_id.is_empty() {
                let tag = js_sys::Reflect::get(&image, &JsValue::from_str("tag"))
                    .ok()
                    .and_then(|t| t.as_string())
                    .ok_or_else(|| Error::invalid("image has neither imageId nor tag"))?;
                image_id = super::objects::build_registry_image(&conn, &app_id, &tag).await?;
            }
            if let Some(d) = req.definition.as_mut() {
                d.image_id = image_id;
            }
            let resp = conn
                .cp(modal_proto::rpcs::modal_client::SANDBOX_CREATE_V2, &req)
                .await?;
            let router = Router::new(
                conn.clone(),
                resp.sandbox_id,
                Some(resp.task_id),
                resp.command_router_access,
            );
            Ok(Sandbox::from_router(router))
        })
    }

    /// A handle to an existing sandbox by id (no request is made).
    #[wasm_bindgen(js_name = fromId, unchecked_return_type = "Promise<Sandbox>")]
    pub fn from_id(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] sandbox_id: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&options);
        promise(signal, async move {
            let id = convert::nonempty_string(&sandbox_id, "sandboxId")?;
            conn.check_open()?;
            Ok(Sandbox::from_router(Router::new(conn, id, None, None)))
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
        let conn = self.conn.clone();
        let signal = convert::signal_of_ts(&params);
        promise(signal, async move {
            let app_name = convert::nonempty_string(&app_name, "appName")?;
            let name = convert::nonempty_string(&name, "name")?;
            let p = convert::options(params, "params")?;
            let req = pb::SandboxGetFromNameRequest {
                sandbox_name: name,
                environment_name: conn.env(&p.environment),
                app_name,
                include_terminated: p.include_terminated,
            };
            let resp = match conn
                .cp(
                    modal_proto::rpcs::modal_client::SANDBOX_GET_FROM_NAME_V2,
                    &req.clone(),
                )
                .await
            {
                Err(e) if e.kind == ErrorKind::NotFound => {
                    conn.cp(modal_proto::rpcs::modal_client::SANDBOX_GET_FROM_NAME, &req)
                        .await?
                }
                r => r?,
            };
            Ok(Sandbox::from_router(Router::new(
                conn,
                resp.sandbox_id,
                None,
                None,
            )))
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
        let req = pb::SandboxListRequest {
            app_id: p.app_id.unwrap_or_default(),
            environment_name: self.conn.env(&p.environment),
            include_finished: false,
            tags: tags_to_proto(&p.tags),
            before_timestamp: 0.0,
        };
        let it = SandboxListIterator {
            conn: self.conn.clone(),
            signal,
            state: Rc::new(Mutex::new(ListState {
                req,
                buf: VecDeque::new(),
                done: false,
            })),
        };
        Ok(crate::js::make_async_iterable(&it.into()))
    }
}

struct ListState {
    req: pb::SandboxListRequest,
    buf: VecDeque<pb::SandboxInfo>,
    done: bool,
}

/// The async iterator of `client.sandboxes.list()`.
#[wasm_bindgen]
pub struct SandboxListIterator {
    conn: Rc<Conn>,
    signal: Option<web_sys::AbortSignal>,
    state: Rc<Mutex<ListState>>,
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
        let conn = self.conn.clone();
        let state = self.state.clone();
        promise(Ok(self.signal.clone()), async move {
            let mut st = state.lock().await;
            loop {
                if let Some(info) = st.buf.pop_front() {
                    let task_id = info.task_info.as_ref().map(|t| t.id.clone());
                    let sb =
                        Sandbox::from_router(Router::new(conn.clone(), info.id, task_id, None));
                    return Ok::<JsValue, Error>(iter_result(sb, false));
                }
                if st.done {
                    return Ok(iter_result(JsValue::UNDEFINED, true));
                }
                let resp = conn
                    .cp(
                        modal_proto::rpcs::modal_client::SANDBOX_LIST_V2,
                        &st.req.clone(),
                    )
                    .await?;
                match resp.sandboxes.last() {
                    None => st.done = true,
                    Some(last) => st.req.before_timestamp = last.created_at,
                }
                st.buf.extend(resp.sandboxes);
            }
        })
    }

    /// Stops the iteration.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<Sandbox, undefined>>"
    )]
    pub fn return_(&self) -> Promise {
        let state = self.state.clone();
        promise(Ok(None), async move {
            let mut st = state.lock().await;
            st.done = true;
            st.buf.clear();
            Ok::<JsValue, Error>(iter_result(JsValue::UNDEFINED, true))
        })
    }
}
