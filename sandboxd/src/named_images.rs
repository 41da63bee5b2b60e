//! Published images (Modal's `Image.publish` and `images.fromName`): a name and tag in an
//! environment, pointing at an image id. Publishing a name again points it elsewhere.

use crate::limits;
use crate::state::{internal, State};
use crate::store::{Record, Table};
use serde::{Deserialize, Serialize};
use tonic::Status;

/// The image a published name points at, keyed by `environment/name:tag`.
#[derive(Serialize, Deserialize)]
pub struct PublishedImage {
    pub image_id: String,
    pub revision_id: String,
}

impl Record for PublishedImage {
    const TABLE: Table = Table::META;
    const KEY_PREFIX: &'static str = "published:";
}

/// The store key of a named reference `[environment/]name[:tag]` (Modal's
/// `[[workspace/]environment/]name[:tag]`; sandboxd has one workspace). `environment` is the
/// request's `environment_name`, accepted only when the reference has no prefix.
pub fn key(reference: &str, environment: &str, default_env: &str) -> Result<String, Status> {
    let (name, tag) = reference.split_once(':').unwrap_or((reference, "latest"));
    let (prefix, name) = match name.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, name),
    };
    let env = match (prefix, environment) {
        (None, "") => default_env,
        (None, env) => env,
        (Some(prefix), "") if prefix.contains('/') => {
            return Err(Status::failed_precondition(format!(
                "image reference {reference:?}: a workspace prefix is not supported by sandboxd (it has one workspace)"
            )))
        }
        (Some(env), "") => env,
        (Some(_), _) => {
            return Err(Status::invalid_argument(
                "environment_name is only accepted when the tag has no environment prefix",
            ))
        }
    };
    limits::name("environment name", env)?;
    limits::name("image name", name)?;
    limits::name("image tag", tag)?;
    if name.starts_with("im-") {
        return Err(Status::invalid_argument(
            "Image name cannot start with 'im-' (reserved for image IDs)",
        ));
    }
    Ok(format!("{env}/{name}:{tag}"))
}

/// Points `key` at the existing image `image_id`; its new revision id.
pub fn publish(state: &State, key: &str, image_id: &str) -> Result<String, Status> {
    state.image(image_id)?;
    let revision_id = crate::ids::new_id("ir");
    let rec = PublishedImage {
        image_id: image_id.to_string(),
        revision_id: revision_id.clone(),
    };
    state.store.put(key, &rec).map_err(internal)?;
    Ok(revision_id)
}

/// The image `key` points at; NOT_FOUND if nothing was published there, or its image was
/// deleted since.
pub fn get(state: &State, key: &str) -> Result<String, Status> {
    let not_found = || Status::not_found(format!("Image '{key}' not found"));
    let rec = state
        .store
        .get::<PublishedImage>(key)
        .map_err(internal)?
        .ok_or_else(not_found)?;
    state.image(&rec.image_id).map_err(|_| not_found())?;
    Ok(rec.image_id)
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn references() {
        assert_eq!(key("app", "", "main").unwrap(), "main/app:latest");
        assert_eq!(key("app:v1", "dev", "main").unwrap(), "dev/app:v1");
        assert_eq!(key("dev/app:v1", "", "main").unwrap(), "dev/app:v1");
        assert_eq!(
            key("dev/app", "dev", "main").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            key("ws/dev/app", "", "main").unwrap_err().code(),
            tonic::Code::FailedPrecondition
        );
        for bad in ["", "app:", ":v1", "a b", "im-abc", "app:v/1", "/app"] {
            assert_eq!(
                key(bad, "", "main").unwrap_err().code(),
                tonic::Code::InvalidArgument,
                "{bad:?}"
            );
        }
    }
}
