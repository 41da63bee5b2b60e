//! Apps, images, secrets, volumes and readiness probes: small handles identified by id,
//! plain values that a [`Sandbox`](crate::Sandbox) is created with.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::ImageDockerfileCommandsParams;

/// A Modal App, the namespace sandboxes live in. From [`Apps::from_name`](crate::Apps::from_name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub(crate) app_id: String,
    pub(crate) name: String,
    /// The environment it was looked up in (empty: the server's default).
    pub(crate) environment_name: String,
}

impl App {
    /// The app's id (`ap-...`).
    pub fn id(&self) -> &str {
        &self.app_id
    }

    /// The app's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The environment the app was looked up in (empty: the server's default).
    pub fn environment_name(&self) -> &str {
        &self.environment_name
    }
}

/// A container image: an existing one (by id), or a recipe (a registry tag, then layers of
/// Dockerfile commands) built (or found) by [`Images::build`](crate::Images::build) or when a
/// sandbox is first created from it, as Modal's JS client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The image id once built. Shared by clones, so a build through one of them (e.g. the
    /// lazy one inside `sandboxes.create`) gives all of them the id.
    pub(crate) built: Rc<RefCell<String>>,
    pub(crate) tag: Option<String>,
    /// How the registry of the tag is reached (private registries).
    pub(crate) registry: Option<RegistryAuth>,
    /// The built image the first layer starts `FROM` (empty: the tag).
    pub(crate) base_image_id: String,
    /// Built in order, each `FROM` the one before.
    pub(crate) layers: Vec<Layer>,
}

/// How a private registry is reached: Modal's `ImageRegistryConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryAuth {
    /// `modal.client.RegistryAuthType` (1 AWS, 2 GCP, 4 static credentials).
    pub auth_type: i32,
    pub secret: Secret,
}

/// One `dockerfileCommands` call: its commands and what its build sees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Layer {
    pub commands: Vec<String>,
    pub env: Vec<(String, String)>,
    pub secrets: Vec<Secret>,
    /// Modal's `GPUConfig` as (type, count).
    pub gpu: Option<(String, u32)>,
    pub force_build: bool,
}

impl Image {
    /// The image id (`im-...`); `None` until built.
    pub fn id(&self) -> Option<String> {
        Some(self.built.borrow().clone()).filter(|id| !id.is_empty())
    }

    /// The registry tag the image was defined from, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub(crate) fn built(image_id: String) -> Image {
        Image {
            built: Rc::new(RefCell::new(image_id)),
            tag: None,
            registry: None,
            base_image_id: String::new(),
            layers: vec![Layer::default()],
        }
    }

    pub(crate) fn from_tag(tag: String, registry: Option<RegistryAuth>) -> Image {
        Image {
            tag: Some(tag),
            registry,
            ..Image::built(String::new())
        }
    }

    /// This image with one more layer of Dockerfile `commands` (built in order on first
    /// use, as Modal's JS client does); `params` apply to this layer only. No commands:
    /// this image itself. A `COPY` from the local context is refused (there is none).
    pub fn dockerfile_commands<S: AsRef<str>>(
        &self,
        commands: &[S],
        params: &ImageDockerfileCommandsParams,
    ) -> Result<Image> {
        if commands.is_empty() {
            return Ok(self.clone());
        }
        let mut owned = Vec::with_capacity(commands.len());
        for c in commands {
            owned.push(c.as_ref().to_string());
        }
        let commands = owned;
        for c in &commands {
            let upper = c.trim_ascii().to_ascii_uppercase();
            if upper.starts_with("COPY ") && !upper.starts_with("COPY --FROM=") {
                return Err(Error::invalid(
                    "COPY commands that copy from local context are not yet supported.",
                ));
            }
        }
        let gpu = match params.gpu.as_deref() {
            None => None,
            Some(g) => {
                let c = crate::options::gpu_config(g)?;
                Some((c.gpu_type, c.count))
            }
        };
        let layer = Layer {
            commands,
            env: params.env.clone(),
            secrets: params.secrets.clone(),
            gpu,
            force_build: params.force_build,
        };
        let id = self.id();
        let mut layers = if id.is_some() {
            vec![]
        } else {
            self.layers.clone()
        };
        layers.push(layer);
        Ok(Image {
            built: Rc::new(RefCell::new(String::new())),
            tag: self.tag.clone(),
            registry: self.registry.clone(),
            base_image_id: id.unwrap_or_else(|| self.base_image_id.clone()),
            layers,
        })
    }
}

/// A Secret: environment variables for sandboxes and commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub(crate) secret_id: String,
    pub(crate) name: Option<String>,
}

impl Secret {
    /// The secret's id (`st-...`).
    pub fn id(&self) -> &str {
        &self.secret_id
    }

    /// The secret's name, for named secrets.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// A Volume: persistent storage mounted into sandboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub(crate) volume_id: String,
    pub(crate) name: Option<String>,
    pub(crate) read_only: bool,
    /// The directory of the volume to mount (`None`: all of it).
    pub(crate) sub_path: Option<String>,
    /// For an ephemeral volume: set to stop its heartbeats.
    pub(crate) heartbeat_stop: Option<std::rc::Rc<std::cell::Cell<bool>>>,
}

impl Volume {
    /// The volume's id (`vo-...`).
    pub fn id(&self) -> &str {
        &self.volume_id
    }

    /// The volume's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True for a read-only view (see [`Volume::with_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// A read-only view of this volume, for mounting.
    pub fn with_read_only(&self) -> Volume {
        Volume {
            read_only: true,
            ..self.clone()
        }
    }

    /// The directory of the volume that is mounted (`None`: all of it).
    pub fn sub_path(&self) -> Option<&str> {
        self.sub_path.as_deref()
    }

    /// This volume with mount options changed, as Modal JS's `withMountOptions`: an option
    /// left `None` keeps its value (options stack); a `sub_path` of `"/"` is the whole
    /// volume.
    pub fn with_mount_options(&self, read_only: Option<bool>, sub_path: Option<String>) -> Volume {
        let mut v = self.clone();
        v.read_only = read_only.unwrap_or(v.read_only);
        if let Some(p) = sub_path {
            v.sub_path = Some(p).filter(|p| p != "/");
        }
        v
    }

    /// Stops the heartbeats of an ephemeral volume (from
    /// [`Volumes::ephemeral`](crate::Volumes::ephemeral)), so that the server deletes it;
    /// `Invalid` for any other volume.
    pub fn close_ephemeral(&self) -> Result<()> {
        match &self.heartbeat_stop {
            Some(stop) => {
                stop.set(true);
                Ok(())
            }
            None => Err(Error::invalid("Volume is not ephemeral.")),
        }
    }
}

/// What a readiness probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCheck {
    /// The TCP port accepts connections.
    Tcp(u16),
    /// The command exits 0.
    Exec(Vec<String>),
}

/// A readiness probe for [`SandboxCreateParams::readiness_probe`](crate::SandboxCreateParams::readiness_probe);
/// [`Sandbox::wait_until_ready`](crate::Sandbox::wait_until_ready) waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub(crate) check: ProbeCheck,
    pub(crate) interval: Option<Duration>,
}

impl Probe {
    /// Ready once TCP `port` (1..=65535) accepts connections.
    pub fn tcp(port: u16) -> Result<Probe> {
        if port == 0 {
            return Err(Error::invalid("port must be an integer in 1..=65535"));
        }
        Ok(Probe {
            check: ProbeCheck::Tcp(port),
            interval: None,
        })
    }

    /// Ready once `argv` exits 0.
    pub fn exec<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Result<Probe> {
        Probe::exec_argv(argv.into_iter().map(Into::into).collect())
    }

    /// `exec` without its generic parameter (the JS facade's one instantiation).
    pub(crate) fn exec_argv(argv: Vec<String>) -> Result<Probe> {
        if argv.is_empty() {
            return Err(Error::invalid("argv must not be empty"));
        }
        Ok(Probe {
            check: ProbeCheck::Exec(argv),
            interval: None,
        })
    }

    /// Probes every `interval` (whole milliseconds; the server's default otherwise).
    pub fn with_interval(self, interval: Duration) -> Probe {
        Probe {
            interval: Some(interval),
            ..self
        }
    }

    /// What the probe checks.
    pub fn check(&self) -> &ProbeCheck {
        &self.check
    }

    /// The interval between probes, if set.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Modal JS's `withMountOptions`: options stack, `"/"` is the whole volume, and the
    /// create request carries them.
    #[test]
    fn mount_options_stack_and_are_sent() {
        let v = Volume {
            volume_id: "vo-1".into(),
            name: None,
            read_only: false,
            sub_path: None,
            heartbeat_stop: None,
        };
        let a = v.with_mount_options(None, Some("data".into()));
        let b = a.with_mount_options(Some(true), None);
        assert_eq!((b.is_read_only(), b.sub_path()), (true, Some("data")));
        assert_eq!(
            b.with_mount_options(None, Some("/".into())).sub_path(),
            None
        );
        assert!(v.close_ephemeral().is_err());
        let p = crate::SandboxCreateParams {
            volumes: vec![("/mnt".into(), b)],
            ..Default::default()
        };
        let r = crate::options::sandbox_create_request("ap-1", "im-1", &p).unwrap();
        let m = &r.definition.unwrap().volume_mounts[0];
        assert_eq!((m.read_only, m.sub_path.as_deref()), (true, Some("data")));
    }

    #[test]
    fn dockerfile_commands_layer_as_modal_js() {
        let p = ImageDockerfileCommandsParams::default();
        let tagged = Image::from_tag("alpine:3.21".into(), None);
        // on an unbuilt image: its layers plus one (the first, empty one is `FROM tag`)
        let two = tagged
            .dockerfile_commands(&["RUN a"], &p)
            .unwrap()
            .dockerfile_commands(&["RUN b"], &p)
            .unwrap();
        assert_eq!(two.layers.len(), 3);
        assert_eq!(
            (two.tag(), two.base_image_id.as_str()),
            (Some("alpine:3.21"), "")
        );
        // on a built one: one layer FROM its id
        let built = Image::built("im-1".into());
        let on = built.dockerfile_commands(&["RUN c"], &p).unwrap();
        assert_eq!((on.layers.len(), on.base_image_id.as_str()), (1, "im-1"));
        assert_eq!(on.id(), None);
        // no commands: the image itself (sharing its id)
        let same = tagged.dockerfile_commands::<&str>(&[], &p).unwrap();
        *tagged.built.borrow_mut() = "im-2".into();
        assert_eq!(same.id().as_deref(), Some("im-2"));
    }

    #[test]
    fn dockerfile_commands_refuse_local_copy_and_bad_gpus() {
        let img = Image::from_tag("alpine:3.21".into(), None);
        let p = ImageDockerfileCommandsParams::default();
        let e = img.dockerfile_commands(&["  copy . /app"], &p).unwrap_err();
        assert_eq!(
            e.message,
            "COPY commands that copy from local context are not yet supported."
        );
        assert!(img
            .dockerfile_commands(&["COPY --from=x /a /b"], &p)
            .is_ok());
        let gpu = |g: &str| ImageDockerfileCommandsParams {
            gpu: Some(g.into()),
            ..Default::default()
        };
        let l = img.dockerfile_commands(&["RUN x"], &gpu("t4:2")).unwrap();
        assert_eq!(l.layers[1].gpu, Some(("T4".to_string(), 2)));
        assert!(img.dockerfile_commands(&["RUN x"], &gpu("t4:0")).is_err());
    }
}
