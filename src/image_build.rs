//! Building an [`Image`]'s recipe as Modal's JS client does (`Image.build`): one
//! `ImageGetOrCreate` per layer, each `FROM` the one before, each awaited through
//! `ImageJoinStreaming`; the last layer's id is written back into the image.

use std::rc::Rc;

use futures_util::StreamExt;
use modal_proto::client as pb;
use modal_proto::client::generic_result::GenericStatus;

use crate::error::{Error, ErrorKind, Result};
use crate::objects::{App, Image, Layer};
use crate::rpc::Conn;
use crate::wire;

/// Builds `image` in `app` (nothing to do if it has an id); returns its id, which every
/// clone of `image` then has.
pub(crate) async fn build(conn: &Rc<Conn>, image: &Image, app: &App) -> Result<String> {
    if let Some(id) = image.id() {
        return Ok(id);
    }
    let tag = image.tag.as_deref().unwrap_or_default();
    if image.base_image_id.is_empty() && tag.is_empty() {
        return Err(Error::invalid("image has neither an id nor a tag"));
    }
    let builder_version = conn.builder_version().await?;
    let mut base = image.base_image_id.clone();
    for layer in &image.layers {
        let secret_ids = secret_ids(conn, layer).await?;
        let (req, cache_key) =
            layer_request(image, layer, &base, secret_ids, app, &builder_version);
        base = build_layer(conn, &req, cache_key).await?;
    }
    *image.built.borrow_mut() = base.clone();
    Ok(base)
}

/// The `ImageGetOrCreate` of one layer, `FROM` the registry tag or (`base`) the layer
/// before; and for a plain `FROM tag`, its key in the client's cache of built images.
#[inline(never)]
fn layer_request(
    image: &Image,
    layer: &Layer,
    base: &str,
    secret_ids: Vec<String>,
    app: &App,
    builder_version: &str,
) -> (wire::ImageGetOrCreateRequest, Option<String>) {
    let tag = image.tag.as_deref().unwrap_or_default();
    let mut def = wire::Image {
        secret_ids,
        gpu_config: layer.gpu.as_ref().map(|(gpu_type, count)| pb::GpuConfig {
            gpu_type: gpu_type.clone(),
            count: *count,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut cache_key = None;
    if base.is_empty() {
        // the first layer, from the registry (with its credentials, if private)
        def.image_registry_config = image.registry.as_ref().map(|r| pb::ImageRegistryConfig {
            registry_auth_type: r.auth_type,
            secret_id: r.secret.secret_id.clone(),
        });
        // (only the first, empty layer of a registry image has no commands)
        if def.image_registry_config.is_none() && layer.commands.is_empty() {
            cache_key = Some(format!("{}\n{tag}", app.app_id));
        }
        def.dockerfile_commands.push(format!("FROM {tag}"));
    } else {
        def.base_images = vec![pb::BaseImage {
            image_id: base.to_string(),
            docker_tag: "base".into(),
        }];
        def.dockerfile_commands.push("FROM base".into());
    }
    for c in &layer.commands {
        def.dockerfile_commands.push(c.clone());
    }
    let req = wire::ImageGetOrCreateRequest {
        image: Some(def),
        app_id: app.app_id.clone(),
        force_build: layer.force_build,
        builder_version: builder_version.to_string(),
    };
    (req, cache_key)
}

/// The layer's secrets, its `env` as one more (an ephemeral secret, as Modal JS makes it).
async fn secret_ids(conn: &Rc<Conn>, layer: &Layer) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(layer.secrets.len() + 1);
    for s in &layer.secrets {
        ids.push(s.secret_id.clone());
    }
    if !layer.env.is_empty() {
        let client = crate::Client { conn: conn.clone() };
        let env = client
            .secrets()
            .from_entries(layer.env.clone(), &Default::default())
            .await?;
        ids.push(env.secret_id);
    }
    Ok(ids)
}

/// One `ImageGetOrCreate` and its result; the layer's image id. A plain `FROM tag` layer
/// (`cache_key`) is asked for once per client and app.
async fn build_layer(
    conn: &Conn,
    req: &wire::ImageGetOrCreateRequest,
    cache_key: Option<String>,
) -> Result<String> {
    if let Some(id) = cache_key
        .as_ref()
        .and_then(|k| conn.image_cache.borrow().get(k).cloned())
    {
        return Ok(id);
    }
    let resp = conn.cp(wire::IMAGE_GET_OR_CREATE, req).await?;
    let image_id = resp.image_id;
    let mut result = resp.result.filter(|r| r.status != 0);
    let mut last_entry_id = String::new();
    while result.is_none() {
        let req = pb::ImageJoinStreamingRequest {
            image_id: image_id.clone(),
            timeout: 55.0,
            last_entry_id: last_entry_id.clone(),
            include_logs_for_finished: false,
        };
        let mut stream = conn.cp_stream(wire::IMAGE_JOIN_STREAMING, &req).await?;
        loop {
            match stream.next().await.transpose() {
                Ok(Some(m)) => {
                    if !m.entry_id.is_empty() {
                        last_entry_id = m.entry_id;
                    }
                    if let Some(r) = m.result.filter(|r| r.status != 0) {
                        result = Some(r);
                        break;
                    }
                    if m.eof {
                        break;
                    }
                }
                Ok(None) => break,
                Err(st) if crate::retry::is_retryable(st.code()) => break,
                Err(st) => return Err(st.into()),
            }
        }
    }
    let result = result.unwrap_or_default();
    if result.status != GenericStatus::Success as i32 {
        return Err(build_failure(&image_id, result.status, &result.exception));
    }
    if let Some(key) = cache_key {
        conn.image_cache.borrow_mut().insert(key, image_id.clone());
    }
    Ok(image_id)
}

/// A failed build's error, in Modal JS's words (out of line: kept out of the build's
/// future).
#[inline(never)]
fn build_failure(image_id: &str, status: i32, exception: &str) -> Error {
    let why = match GenericStatus::try_from(status) {
        Ok(GenericStatus::Failure | GenericStatus::MemoryManagerEviction) => {
            format!("failed with the exception:\n{exception}")
        }
        Ok(GenericStatus::Terminated) => {
            "terminated due to external shut-down. Please try again.".into()
        }
        Ok(GenericStatus::Timeout) => {
            "timed out. Please try again with a larger timeout parameter.".into()
        }
        _ => format!("failed with unknown status: {status}"),
    };
    Error::new(
        ErrorKind::Remote,
        format!("Image build for {image_id} {why}"),
    )
}
