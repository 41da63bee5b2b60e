//! What a scoped token may ask of the upstream: pure checks and rewrites of decoded
//! requests (no I/O), so each rule is tested natively.
//!
//! Creates are shaped here: forced into the token's tags (plus the app tag, so membership
//! in the token's app can be checked later from tags alone), held to the gateway's limits,
//! and refused when they ask for anything a tenant must not have (workspace mounts,
//! private networking, identity tokens, custom runtimes...). Nothing is dropped silently:
//! a refused field is named in the PERMISSION_DENIED message.

use crate::tokens::Claims;
use modal_proto::client as pb;
use std::collections::BTreeMap;
use tonic::Status;

/// The tag every sandbox created through a gateway carries: the app (by name) of the
/// token that created it. Tag names with this prefix are the gateway's own.
pub const APP_TAG: &str = "modal-wasm-app";
/// The tag naming the token subject that created a sandbox (for per-subject quotas; not
/// part of a sandbox's reach: every token of the tenant reaches it).
pub const SUB_TAG: &str = "modal-wasm-sub";
const RESERVED_PREFIX: &str = "modal-wasm-";

/// The path of the in-sandbox filesystem helper: a token with the `fs` scope but not
/// `exec` may run only this, with one JSON command.
pub const FS_TOOLS: &str = "/__modal/.bin/modal-sandbox-fs-tools";

/// Limits on what a token may create (the gateway's flags).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_timeout_secs: u32,
    pub max_milli_cpu: u32,
    pub max_memory_mib: u32,
    pub max_disk_mib: u32,
    /// The longest idle timeout (idle sandboxes of a user who left are reaped); 0: any.
    pub max_idle_secs: u32,
    /// Registry tags an image may start from (`*` at the end matches any suffix).
    pub images: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_timeout_secs: 3600,
            max_milli_cpu: 4000,
            max_memory_mib: 8192,
            max_disk_mib: 10240,
            max_idle_secs: 0,
            images: vec!["*".into()],
        }
    }
}

/// Modal's default sandbox lifetime, used when a create asks for none.
const DEFAULT_TIMEOUT_SECS: u32 = 300;

fn denied(msg: impl Into<String>) -> Status {
    Status::permission_denied(msg.into())
}

/// The tags a token forces: its own and the app tag.
pub fn forced_tags(c: &Claims) -> BTreeMap<String, String> {
    let mut t = c.tags.clone();
    t.insert(APP_TAG.into(), c.app.clone());
    t
}

/// True when a sandbox with `tags` belongs to the token: listed by id, or carrying every
/// forced tag (which includes the token's app).
pub fn reaches(c: &Claims, sandbox_id: &str, tags: &BTreeMap<String, String>) -> bool {
    if c.sandboxes.iter().flatten().any(|i| i == sandbox_id) {
        return true;
    }
    forced_tags(c).iter().all(|(k, v)| tags.get(k) == Some(v))
}

pub fn tags_map(tags: &[pb::SandboxTag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.tag_name.clone(), t.tag_value.clone()))
        .collect()
}

pub fn tags_proto(tags: &BTreeMap<String, String>) -> Vec<pb::SandboxTag> {
    tags.iter()
        .map(|(k, v)| pb::SandboxTag {
            tag_name: k.clone(),
            tag_value: v.clone(),
        })
        .collect()
}

/// The client's tags merged over `keep` (tags the sandbox carries already, or none), with
/// the token's forced tags on top. A client tag that contradicts a forced one, or uses the
/// reserved prefix, is refused.
fn merge_tags(
    c: &Claims,
    keep: BTreeMap<String, String>,
    asked: &[pb::SandboxTag],
) -> Result<Vec<pb::SandboxTag>, Status> {
    let forced = forced_tags(c);
    let mut out = keep;
    for t in asked {
        if let Some(v) = forced.get(&t.tag_name) {
            if *v != t.tag_value {
                return Err(denied(format!(
                    "tag '{}' is fixed to '{v}' by this token",
                    t.tag_name
                )));
            }
        } else if t.tag_name.starts_with(RESERVED_PREFIX) {
            return Err(denied(format!(
                "tag names starting with '{RESERVED_PREFIX}' are reserved for the gateway"
            )));
        }
        out.insert(t.tag_name.clone(), t.tag_value.clone());
    }
    out.extend(forced);
    Ok(tags_proto(&out))
}

/// The tags of a new sandbox: the client's, the token's, the app tag and the creator.
pub fn create_tags(c: &Claims, asked: &[pb::SandboxTag]) -> Result<Vec<pb::SandboxTag>, Status> {
    let creator = BTreeMap::from([(SUB_TAG.to_string(), c.sub.clone())]);
    merge_tags(c, creator, asked)
}

/// The tags after a tags-set (which replaces the set): the client's, with the gateway's
/// own tags of the sandbox (`current`) and the token's forced tags kept.
pub fn set_tags(
    c: &Claims,
    current: &BTreeMap<String, String>,
    asked: &[pb::SandboxTag],
) -> Result<Vec<pb::SandboxTag>, Status> {
    let reserved = current
        .iter()
        .filter(|(k, _)| k.starts_with(RESERVED_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    merge_tags(c, reserved, asked)
}

/// The tags that select one subject's sandboxes of the token's app (for its quota).
pub fn subject_filter(c: &Claims) -> Vec<pb::SandboxTag> {
    tags_proto(&BTreeMap::from([
        (APP_TAG.to_string(), c.app.clone()),
        (SUB_TAG.to_string(), c.sub.clone()),
    ]))
}

/// A list filter narrowed to the token's sandboxes (the client's own filter kept).
pub fn list_filter(c: &Claims, asked: &[pb::SandboxTag]) -> Result<Vec<pb::SandboxTag>, Status> {
    merge_tags(c, BTreeMap::new(), asked)
}

/// Fields of a sandbox definition a tenant may not set, by name, when set.
fn forbidden_fields(d: &pb::Sandbox) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut check = |set: bool, name: &'static str| {
        if set {
            v.push(name)
        }
    };
    check(!d.mount_ids.is_empty(), "mount_ids");
    check(!d.worker_id.is_empty(), "worker_id");
    check(d.i6pn_enabled, "i6pn_enabled");
    check(d.proxy_id.is_some(), "proxy_id");
    check(!d.custom_domain.is_empty(), "custom_domain");
    check(d.include_oidc_identity_token, "include_oidc_identity_token");
    check(d.include_x509_svid, "include_x509_svid");
    check(d.runsc_runtime_version.is_some(), "runsc_runtime_version");
    check(d.runtime.is_some(), "runtime");
    check(d.runtime_debug, "runtime_debug");
    check(
        !d.restore_instance_type.is_empty(),
        "_restore_instance_type",
    );
    check(!d.preload_path_prefixes.is_empty(), "preload_path_prefixes");
    check(!d.experimental_options.is_empty(), "experimental_options");
    check(
        !d.experimental_options_v2.is_empty(),
        "experimental_options_v2",
    );
    check(
        d.direct_sandbox_commands_enabled,
        "direct_sandbox_commands_enabled",
    );
    // resources and places of the workspace that a tenant's token does not spend
    check(
        d.resources
            .as_ref()
            .and_then(|r| r.gpu_config.as_ref())
            .is_some_and(|g| g.count > 0 || !g.gpu_type.is_empty() || g.r#type != 0),
        "gpu",
    );
    check(d.scheduler_placement.is_some(), "scheduler_placement");
    check(!d.nfs_mounts.is_empty(), "nfs_mounts");
    check(!d.s3_mounts.is_empty(), "s3_mounts");
    check(!d.cloud_bucket_mounts.is_empty(), "cloud_bucket_mounts");
    check(
        d.experimental_outbound_policy.is_some(),
        "experimental_outbound_policy",
    );
    check(d.outbound_policy.is_some(), "outbound_policy");
    v
}

/// Checks a sandbox definition against the token and the limits, in place: forbidden
/// fields refused, lifetime, cpu, memory and disk held to the limits (an unset lifetime
/// gets the default, lowered to the limit).
pub fn shape_definition(d: &mut pb::Sandbox, limits: &Limits) -> Result<(), Status> {
    let bad = forbidden_fields(d);
    if !bad.is_empty() {
        return Err(denied(format!(
            "this gateway does not let tokens set {}",
            bad.join(", ")
        )));
    }
    if d.timeout_secs == 0 {
        d.timeout_secs = DEFAULT_TIMEOUT_SECS.min(limits.max_timeout_secs);
    }
    if d.timeout_secs > limits.max_timeout_secs {
        return Err(denied(format!(
            "timeout of {} s is above this gateway's limit of {} s",
            d.timeout_secs, limits.max_timeout_secs
        )));
    }
    if limits.max_idle_secs > 0 {
        // a user who leaves does not keep a sandbox: idle ones are reaped
        let idle = d.idle_timeout_secs.unwrap_or(limits.max_idle_secs);
        d.idle_timeout_secs = Some(idle.min(limits.max_idle_secs));
    }
    if let Some(idle) = d.idle_timeout_secs {
        if idle > limits.max_timeout_secs {
            return Err(denied(format!(
                "idle timeout of {idle} s is above this gateway's limit of {} s",
                limits.max_timeout_secs
            )));
        }
    }
    if let Some(r) = &d.resources {
        let cpu = r.milli_cpu.max(r.milli_cpu_max);
        if cpu > limits.max_milli_cpu {
            return Err(denied(format!(
                "cpu of {} cores is above this gateway's limit of {} cores",
                Millis(cpu),
                Millis(limits.max_milli_cpu)
            )));
        }
        let mem = r.memory_mb.max(r.memory_mb_max);
        if mem > limits.max_memory_mib {
            return Err(denied(format!(
                "memory of {mem} MiB is above this gateway's limit of {} MiB",
                limits.max_memory_mib
            )));
        }
        if r.ephemeral_disk_mb > limits.max_disk_mib {
            return Err(denied(format!(
                "disk of {} MiB is above this gateway's limit of {} MiB",
                r.ephemeral_disk_mb, limits.max_disk_mib
            )));
        }
        if r.rdma {
            return Err(denied("this gateway does not let tokens set rdma"));
        }
    }
    Ok(())
}

/// Thousandths printed as a decimal (`1500` as `1.5`).
struct Millis(u32);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

fn matches_pattern(pattern: &str, tag: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tag.starts_with(prefix),
        None => pattern == tag,
    }
}

/// True when `tag` is on the gateway's image list.
pub fn image_allowed(limits: &Limits, tag: &str) -> bool {
    limits.images.iter().any(|p| matches_pattern(p, tag))
}

/// Checks an image definition: it starts `FROM` an allowed registry tag and uses nothing
/// of the workspace (mounts, build functions, registry credentials, volumes). Secret and
/// base-image ids are unsealed by the caller.
pub fn check_image(image: &pb::Image, limits: &Limits) -> Result<(), Status> {
    let mut bad = Vec::new();
    let mut check = |set: bool, name: &'static str| {
        if set {
            bad.push(name)
        }
    };
    check(!image.context_mount_id.is_empty(), "context_mount_id");
    check(!image.build_function_def.is_empty(), "build_function_def");
    check(
        !image.build_function_globals.is_empty(),
        "build_function_globals",
    );
    check(
        image.image_registry_config.is_some(),
        "image_registry_config",
    );
    check(!image.volume_mounts.is_empty(), "volume_mounts");
    check(!image.runtime.is_empty(), "runtime");
    check(image.runtime_debug, "runtime_debug");
    check(image.gpu_config.is_some(), "gpu_config");
    if !bad.is_empty() {
        return Err(denied(format!(
            "this gateway does not let tokens set image {}",
            bad.join(", ")
        )));
    }
    let from = image
        .dockerfile_commands
        .iter()
        .find(|c| !c.trim().is_empty())
        .map(|c| c.trim());
    match from.and_then(|c| c.strip_prefix("FROM ").or_else(|| c.strip_prefix("from "))) {
        Some(rest) => {
            let tag = rest.split_whitespace().next().unwrap_or("");
            // `FROM base` of Modal's layered images: an earlier image of the token's (its
            // sealed id, unsealed by the caller), named in base_images
            let layered = image
                .base_images
                .iter()
                .any(|b| b.docker_tag == tag && !b.image_id.is_empty());
            if !layered && !image_allowed(limits, tag) {
                return Err(denied(format!(
                    "image '{tag}' is not on this gateway's image list"
                )));
            }
        }
        None if image.base_images.is_empty() => {
            return Err(denied("an image must start FROM a registry tag"));
        }
        // built on an earlier (sealed, hence already checked) image
        None => {}
    }
    Ok(())
}

/// True for a run of the filesystem helper with one JSON command.
pub fn is_fs_helper(argv: &[String]) -> bool {
    argv.len() == 2 && argv[0] == FS_TOOLS
}

/// Checks an exec's command against the token: `exec` runs anything; `fs` alone runs only
/// the filesystem helper with one JSON command.
pub fn check_exec(c: &Claims, argv: &[String]) -> Result<(), Status> {
    use crate::tokens::Scope;
    if c.allows(Scope::Exec) {
        return Ok(());
    }
    if c.allows(Scope::Fs) && is_fs_helper(argv) {
        return Ok(());
    }
    Err(denied(if c.allows(Scope::Fs) {
        "this token's 'fs' scope runs only filesystem operations; commands need 'exec'"
    } else {
        "this token lacks the 'exec' scope"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Scope;

    fn claims() -> Claims {
        Claims {
            sub: "u1".into(),
            app: "play".into(),
            tags: BTreeMap::from([("user".into(), "a".into())]),
            scopes: vec![Scope::Create, Scope::Exec],
            sandboxes: None,
            exp: u64::MAX,
            iat: 0,
            jti: "j".into(),
        }
    }

    fn tag(k: &str, v: &str) -> pb::SandboxTag {
        pb::SandboxTag {
            tag_name: k.into(),
            tag_value: v.into(),
        }
    }

    #[test]
    fn creates_get_forced_tags_and_conflicts_are_refused() {
        let c = claims();
        let out = tags_map(&create_tags(&c, &[tag("team", "x")]).unwrap());
        assert_eq!(out.get("user").map(String::as_str), Some("a"));
        assert_eq!(out.get(APP_TAG).map(String::as_str), Some("play"));
        assert_eq!(out.get(SUB_TAG).map(String::as_str), Some("u1"));
        assert_eq!(out.get("team").map(String::as_str), Some("x"));
        let e = create_tags(&c, &[tag("user", "b")]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(create_tags(&c, &[tag(APP_TAG, "other")]).is_err());
        assert!(create_tags(&c, &[tag("modal-wasm-x", "1")]).is_err());
        assert!(create_tags(&c, &[tag(SUB_TAG, "someone-else")]).is_err());
        // a tags-set keeps the creator, even when another subject of the tenant sets them
        let mut other = claims();
        other.sub = "u2".into();
        let after = tags_map(&set_tags(&other, &out, &[tag("team", "y")]).unwrap());
        assert_eq!(after.get(SUB_TAG).map(String::as_str), Some("u1"));
        assert_eq!(after.get("team").map(String::as_str), Some("y"));
        assert!(list_filter(&c, &[])
            .unwrap()
            .iter()
            .all(|t| t.tag_name != SUB_TAG));
    }

    #[test]
    fn reach_needs_every_forced_tag_or_a_listed_id() {
        let mut c = claims();
        let mine = BTreeMap::from([("user".into(), "a".into()), (APP_TAG.into(), "play".into())]);
        let other_app = BTreeMap::from([("user".into(), "a".into()), (APP_TAG.into(), "x".into())]);
        let untagged = BTreeMap::new();
        assert!(reaches(&c, "sb-1", &mine));
        assert!(!reaches(&c, "sb-1", &other_app));
        assert!(!reaches(&c, "sb-1", &untagged));
        c.sandboxes = Some(vec!["sb-1".into()]);
        assert!(reaches(&c, "sb-1", &untagged));
    }

    #[test]
    fn definitions_are_held_to_the_limits() {
        let limits = Limits {
            max_timeout_secs: 600,
            ..Limits::default()
        };
        let mut d = pb::Sandbox::default();
        shape_definition(&mut d, &limits).unwrap();
        assert_eq!(d.timeout_secs, 300);
        assert_eq!(d.idle_timeout_secs, None, "no idle limit: as asked");
        let idle = Limits {
            max_idle_secs: 120,
            ..limits.clone()
        };
        let mut e = pb::Sandbox::default();
        shape_definition(&mut e, &idle).unwrap();
        assert_eq!(e.idle_timeout_secs, Some(120), "idle sandboxes are reaped");
        e.idle_timeout_secs = Some(30);
        shape_definition(&mut e, &idle).unwrap();
        assert_eq!(e.idle_timeout_secs, Some(30));
        d.timeout_secs = 601;
        let e = shape_definition(&mut d, &limits).unwrap_err();
        assert!(e.message().contains("600"), "{}", e.message());
        d.timeout_secs = 60;
        d.resources = Some(pb::Resources {
            milli_cpu: 4500,
            ..Default::default()
        });
        let e = shape_definition(&mut d, &limits).unwrap_err();
        assert!(e.message().contains("4.5 cores"), "{}", e.message());
        d.resources = Some(pb::Resources {
            memory_mb_max: 9000,
            ..Default::default()
        });
        assert!(shape_definition(&mut d, &limits).is_err());
        d.resources = None;
        d.i6pn_enabled = true;
        d.mount_ids = vec!["mo-1".into()];
        let e = shape_definition(&mut d, &limits).unwrap_err();
        assert!(
            e.message().contains("mount_ids, i6pn_enabled"),
            "{}",
            e.message()
        );
        // once dropped in the decode (their types were not in the subset), now forwarded:
        // refused by name, never passed on to the workspace
        let mut d = pb::Sandbox {
            resources: Some(pb::Resources {
                gpu_config: Some(pb::GpuConfig {
                    gpu_type: "H100".into(),
                    count: 1,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            scheduler_placement: Some(pb::SchedulerPlacement {
                regions: vec!["us-east".into()],
                ..Default::default()
            }),
            cloud_bucket_mounts: vec![Default::default()],
            ..Default::default()
        };
        let e = shape_definition(&mut d, &limits).unwrap_err();
        assert!(
            e.message()
                .contains("gpu, scheduler_placement, cloud_bucket_mounts"),
            "{}",
            e.message()
        );
        // Modal's JS client sends an empty GPU config with every sandbox
        d = pb::Sandbox {
            resources: Some(pb::Resources {
                gpu_config: Some(Default::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        shape_definition(&mut d, &limits).unwrap();
    }

    #[test]
    fn images_come_from_the_list() {
        let limits = Limits {
            images: vec!["python:*".into(), "debian:bookworm-slim".into()],
            ..Limits::default()
        };
        let img = |cmds: &[&str]| pb::Image {
            dockerfile_commands: cmds.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(check_image(&img(&["FROM python:3.12", "RUN pip install x"]), &limits).is_ok());
        assert!(check_image(&img(&["FROM debian:bookworm-slim"]), &limits).is_ok());
        assert!(check_image(&img(&["FROM alpine:3"]), &limits).is_err());
        assert!(check_image(&img(&["RUN true"]), &limits).is_err());
        let mut i = img(&["FROM python:3.12"]);
        i.context_mount_id = "mo-1".into();
        assert!(check_image(&i, &limits).is_err());
        // Modal JS's layers: FROM base, base_images { docker_tag: base, image_id }
        let mut layer = img(&["FROM base", "RUN true"]);
        assert!(check_image(&layer, &limits).is_err());
        layer.base_images = vec![pb::BaseImage {
            docker_tag: "base".into(),
            image_id: "im-sealed".into(),
        }];
        assert!(check_image(&layer, &limits).is_ok());
        layer.base_images[0].image_id.clear();
        assert!(check_image(&layer, &limits).is_err());
    }

    #[test]
    fn fs_scope_runs_only_the_helper() {
        let mut c = claims();
        c.scopes = vec![Scope::Fs];
        let helper = vec![FS_TOOLS.to_string(), r#"{"Stat":{"path":"/"}}"#.to_string()];
        assert!(check_exec(&c, &helper).is_ok());
        assert!(check_exec(&c, &["sh".into(), "-c".into()]).is_err());
        c.scopes = vec![Scope::Read];
        assert!(check_exec(&c, &helper).is_err());
    }

    #[test]
    fn millis_print() {
        assert_eq!(Millis(1500).to_string(), "1.5");
        assert_eq!(Millis(4000).to_string(), "4");
        assert_eq!(Millis(125).to_string(), "0.125");
    }
}
