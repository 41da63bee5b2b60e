//! The JS classes of apps, images, secrets, volumes and probes: each wraps the Rust value
//! (`crate::objects`) and exposes it through getters.

use js_sys::JsString;
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::optional_string;
use crate::error::{Error, Result};
use crate::js::{convert, options as ts};
use crate::objects::{self as sdk, ProbeCheck};

/// A Modal App (a namespace for sandboxes). Get one with `client.apps.fromName()`.
#[wasm_bindgen]
pub struct App(pub(crate) sdk::App);

#[wasm_bindgen]
impl App {
    /// The app's id (`ap-...`).
    #[wasm_bindgen(getter, js_name = appId)]
    pub fn app_id(&self) -> JsString {
        (&*self.0.app_id).into()
    }

    /// The app's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> JsString {
        (&*self.0.name).into()
    }

    /// The environment the app was looked up in (empty: the server's default).
    #[wasm_bindgen(getter, js_name = environmentName)]
    pub fn environment_name(&self) -> JsString {
        (&*self.0.environment_name).into()
    }
}

/// A container image. `client.images.fromRegistry(tag)` is lazy: the image is built
/// (or found) by `build(app)` or when a sandbox is first created from it, which then sets
/// `imageId`.
#[wasm_bindgen]
pub struct Image(pub(crate) sdk::Image, pub(crate) crate::Client);

#[wasm_bindgen]
impl Image {
    /// The image id (`im-...`); empty until a lazily defined image is built.
    #[wasm_bindgen(getter, js_name = imageId)]
    pub fn image_id(&self) -> JsString {
        (&*self.0.id().unwrap_or_default()).into()
    }

    /// The registry tag the image was defined from, if any.
    #[wasm_bindgen(getter, unchecked_return_type = "string | undefined")]
    pub fn tag(&self) -> JsValue {
        optional_string(self.0.tag.as_deref())
    }

    /// This image with one more layer of Dockerfile `commands`, built in order on first use
    /// (Modal's `dockerfileCommands`); `params` (`env`, `secrets`, `gpu`, `forceBuild`)
    /// apply to this layer's build only.
    #[wasm_bindgen(js_name = dockerfileCommands)]
    pub fn dockerfile_commands(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] commands: JsValue,
        params: Option<Ts<ts::ImageDockerfileCommandsParams>>,
    ) -> Result<Image, JsValue> {
        let commands = convert::string_array(&commands, "commands")?;
        let p = convert::options(params, "params")?;
        Ok(Image(
            self.0.dockerfile_commands(&commands, &p)?,
            self.1.clone(),
        ))
    }

    /// Builds the image in `app` now (Modal's `Image.build`); resolves with it, `imageId`
    /// set. Nothing to do for a built image.
    #[wasm_bindgen(unchecked_return_type = "Promise<Image>")]
    pub fn build(
        &self,
        #[wasm_bindgen(unchecked_param_type = "App")] app: JsValue,
    ) -> js_sys::Promise {
        let (image, client) = (self.0.clone(), self.1.clone());
        super::promise(Ok(None), async move {
            let app = super::client::app_of(&app)?;
            let built = client.images().build(&image, &app).await?;
            Ok(Image(built, client).into())
        })
    }

    /// `publish` of `compat.js`, which checks the reference and gives it as `name:tag`
    /// (`prefixed`: with an `env/`).
    #[wasm_bindgen(js_name = __publish, skip_typescript)]
    pub fn publish(
        &self,
        tag: JsValue,
        prefixed: JsValue,
        params: Option<Ts<ts::SecretFromObjectParams>>,
    ) -> js_sys::Promise {
        let (image, client) = (self.0.clone(), self.1.clone());
        super::promise(convert::signal_of_ts(&params), async move {
            // compat.js passes a checked name; anything else is still refused with a type
            let tag = convert::string(&tag, "name")?;
            let prefixed = convert::flag(&prefixed, "prefixed")?;
            let p = convert::options(params, "params")?;
            client.images().publish(&image, &tag, prefixed, &p).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The Rust value of an `Image` argument: a handle sharing this image's state.
    #[wasm_bindgen(js_name = __handle, skip_typescript)]
    pub fn handle(&self) -> Image {
        Image(self.0.clone(), self.1.clone())
    }
}

/// A Secret: environment variables injected into sandboxes and commands.
#[wasm_bindgen]
pub struct Secret(pub(crate) sdk::Secret);

#[wasm_bindgen]
impl Secret {
    /// The secret's id (`st-...`).
    #[wasm_bindgen(getter, js_name = secretId)]
    pub fn secret_id(&self) -> JsString {
        (&*self.0.secret_id).into()
    }

    /// The secret's name, for named secrets.
    #[wasm_bindgen(getter, unchecked_return_type = "string | undefined")]
    pub fn name(&self) -> JsValue {
        optional_string(self.0.name.as_deref())
    }
}

/// A Volume: persistent storage mounted into sandboxes.
#[wasm_bindgen]
pub struct Volume(pub(crate) sdk::Volume);

#[wasm_bindgen]
impl Volume {
    /// The volume's id (`vo-...`).
    #[wasm_bindgen(getter, js_name = volumeId)]
    pub fn volume_id(&self) -> JsString {
        (&*self.0.volume_id).into()
    }

    /// The volume's name.
    #[wasm_bindgen(getter, unchecked_return_type = "string | undefined")]
    pub fn name(&self) -> JsValue {
        optional_string(self.0.name.as_deref())
    }

    /// True for a read-only view (see `readOnly()`).
    #[wasm_bindgen(getter, js_name = readOnly)]
    pub fn read_only(&self) -> bool {
        self.0.read_only
    }

    /// A read-only view of this volume, for mounting.
    #[wasm_bindgen(js_name = withReadOnly)]
    pub fn with_read_only(&self) -> Volume {
        Volume(self.0.with_read_only())
    }

    /// The directory of the volume that is mounted (`undefined`: all of it).
    #[wasm_bindgen(getter, js_name = subPath, unchecked_return_type = "string | undefined")]
    pub fn sub_path(&self) -> JsValue {
        optional_string(self.0.sub_path.as_deref())
    }

    /// This volume with mount options changed (`readOnly`, `subPath`; `"/"` is the whole
    /// volume); options left out keep their value, as in Modal JS.
    #[wasm_bindgen(js_name = withMountOptions)]
    pub fn with_mount_options(
        &self,
        params: Option<Ts<ts::VolumeMountOptionsParams>>,
    ) -> Result<Volume, JsValue> {
        let (read_only, sub_path) = convert::options(params, "params")?;
        Ok(Volume(self.0.with_mount_options(read_only, sub_path)))
    }

    /// Stops the heartbeats of a volume from `volumes.ephemeral()`, so the server deletes
    /// it. Throws `InvalidError` for any other volume.
    #[wasm_bindgen(js_name = closeEphemeral)]
    pub fn close_ephemeral(&self) -> Result<(), JsValue> {
        Ok(self.0.close_ephemeral()?)
    }
}

/// A readiness probe for `sandboxes.create(..., { readinessProbe })`.
///
/// ```ts
/// const sb = await modal.sandboxes.create(app, image, { readinessProbe: Probe.withTcp(8080) });
/// await sb.waitUntilReady();
/// ```
#[wasm_bindgen]
pub struct Probe(sdk::Probe);

impl Probe {
    fn with(probe: Result<sdk::Probe>, params: Option<Ts<ts::ProbeParams>>) -> Result<Probe> {
        let mut probe = probe?;
        probe.interval = convert::options(params, "params")?;
        Ok(Probe(probe))
    }
}

#[wasm_bindgen]
impl Probe {
    /// Ready once the TCP `port` accepts connections.
    #[wasm_bindgen(js_name = withTcp)]
    pub fn with_tcp(
        #[wasm_bindgen(unchecked_param_type = "number")] port: JsValue,
        params: Option<Ts<ts::ProbeParams>>,
    ) -> Result<Probe, JsValue> {
        let port = port
            .as_f64()
            .filter(|p| p.fract() == 0.0 && (1.0..=65535.0).contains(p))
            .ok_or_else(|| Error::invalid("port must be an integer in 1..=65535"))?;
        Ok(Self::with(sdk::Probe::tcp(port as u16), params)?)
    }

    /// Ready once `argv` exits 0.
    #[wasm_bindgen(js_name = withExec)]
    pub fn with_exec(
        #[wasm_bindgen(unchecked_param_type = "string[]")] argv: JsValue,
        params: Option<Ts<ts::ProbeParams>>,
    ) -> Result<Probe, JsValue> {
        let argv = convert::string_array(&argv, "argv")?;
        Ok(Self::with(sdk::Probe::exec_argv(argv), params)?)
    }

    /// The probed TCP port, for TCP probes.
    #[wasm_bindgen(getter, js_name = tcpPort)]
    pub fn tcp_port(&self) -> Option<u16> {
        match self.0.check {
            ProbeCheck::Tcp(port) => Some(port),
            ProbeCheck::Exec(_) => None,
        }
    }

    /// The probe command, for exec probes.
    #[wasm_bindgen(getter, js_name = execArgv, unchecked_return_type = "string[] | undefined")]
    pub fn exec_argv(&self) -> JsValue {
        let ProbeCheck::Exec(argv) = &self.0.check else {
            return JsValue::UNDEFINED;
        };
        let out = js_sys::Array::new();
        for a in argv {
            out.push(&JsValue::from_str(a));
        }
        out.into()
    }

    /// Interval between probes in milliseconds, if set.
    #[wasm_bindgen(getter, js_name = intervalMs)]
    pub fn interval_ms(&self) -> Option<f64> {
        self.0.interval.map(|d| crate::duration::ms(d) as f64)
    }
}
