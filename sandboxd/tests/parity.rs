//! What Modal's clients may ask of sandboxd beyond the basic flows: answered as Modal
//! answers, or refused with a status that names the field (never silently dropped).
//! Each test runs a real sandboxd (see common).

mod common;

use common::*;
use modal_proto::client as pb;
use tonic::Code;

/// The status of a create, and its message.
async fn refused(env: &mut Env, def: pb::Sandbox) -> (Code, String) {
    match env.create(def).await {
        Ok(sb) => panic!("created {}; expected a refusal", sb.id),
        Err(e) => (e.code(), e.message().to_string()),
    }
}

fn allowlist(cidrs: &[&str], domains: &[&str]) -> Option<pb::NetworkAccess> {
    Some(pb::NetworkAccess {
        network_access_type: pb::network_access::NetworkAccessType::Allowlist as i32,
        allowed_cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
        allowed_domains: domains.iter().map(|s| s.to_string()).collect(),
    })
}

#[tokio::test]
async fn what_modal_validates_is_invalid_argument_naming_the_field() {
    let mut env = Env::new().await;
    let cases: Vec<(&str, pb::Sandbox)> = vec![
        (
            "network_access.allowed_cidrs: '10.0.0.0/33'",
            pb::Sandbox {
                network_access: allowlist(&["10.0.0.0/8", "10.0.0.0/33"], &[]),
                ..env.def(&[])
            },
        ),
        (
            "network_access.allowed_domains: 'not a domain'",
            pb::Sandbox {
                network_access: allowlist(&[], &["not a domain"]),
                ..env.def(&[])
            },
        ),
        (
            "inbound_cidr_allowlist: '1.2.3'",
            pb::Sandbox {
                inbound_cidr_allowlist: vec!["1.2.3".into()],
                ..env.def(&[])
            },
        ),
        (
            "cloud_provider_str: 'azur'",
            pb::Sandbox {
                cloud_provider_str: "azur".into(),
                ..env.def(&[])
            },
        ),
        (
            "scheduler_placement.regions: 'US East'",
            pb::Sandbox {
                scheduler_placement: Some(pb::SchedulerPlacement {
                    regions: vec!["us-east".into(), "US East".into()],
                    ..Default::default()
                }),
                ..env.def(&[])
            },
        ),
    ];
    for (want, def) in cases {
        let (code, msg) = refused(&mut env, def).await;
        assert_eq!(code, Code::InvalidArgument, "{want}: {msg}");
        assert!(msg.starts_with(want), "want {want:?}, got {msg:?}");
    }
}

#[tokio::test]
async fn what_sandboxd_cannot_do_is_failed_precondition_naming_it() {
    let mut env = Env::new().await;
    let gpu = |gpu_type: &str, count| {
        Some(pb::Resources {
            gpu_config: Some(pb::GpuConfig {
                gpu_type: gpu_type.into(),
                count,
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    let cases: Vec<(&str, pb::Sandbox)> = vec![
        (
            "gpu: A10G:2 asked for",
            pb::Sandbox {
                resources: gpu("A10G", 2),
                ..env.def(&[])
            },
        ),
        (
            "cloud: ",
            pb::Sandbox {
                cloud_provider_str: "aws".into(),
                ..env.def(&[])
            },
        ),
        (
            "regions: ",
            pb::Sandbox {
                scheduler_placement: Some(pb::SchedulerPlacement {
                    regions: vec!["us-east".into()],
                    ..Default::default()
                }),
                ..env.def(&[])
            },
        ),
        (
            "outbound_domain_allowlist: ",
            pb::Sandbox {
                network_access: allowlist(&[], &["example.com"]),
                ..env.def(&[])
            },
        ),
        (
            "cloud_bucket_mounts: ",
            pb::Sandbox {
                cloud_bucket_mounts: vec![Default::default()],
                ..env.def(&[])
            },
        ),
        (
            "proxy: ",
            pb::Sandbox {
                proxy_id: Some("pr-1".into()),
                ..env.def(&[])
            },
        ),
        (
            "include_oidc_identity_token: ",
            pb::Sandbox {
                include_oidc_identity_token: true,
                ..env.def(&[])
            },
        ),
        (
            "runtime: ",
            pb::Sandbox {
                runtime: Some("gvisor".into()),
                ..env.def(&[])
            },
        ),
        (
            "experimental_options: sandboxd knows none of them (flag)",
            pb::Sandbox {
                experimental_options_v2: [("flag".to_string(), "true".to_string())].into(),
                ..env.def(&[])
            },
        ),
        (
            // every refused field is named, not only the first
            "i6pn: sandboxd has no private network between sandboxes; custom_domain: ",
            pb::Sandbox {
                i6pn_enabled: true,
                custom_domain: "x.example.com".into(),
                ..env.def(&[])
            },
        ),
    ];
    for (want, def) in cases {
        let (code, msg) = refused(&mut env, def).await;
        assert_eq!(code, Code::FailedPrecondition, "{want}: {msg}");
        assert!(msg.starts_with(want), "want {want:?}, got {msg:?}");
    }

    // what Modal's JS client sends with every sandbox: an empty GPU config, open network,
    // the auto cloud: a sandbox like any other
    let def = pb::Sandbox {
        resources: Some(pb::Resources {
            gpu_config: Some(Default::default()),
            ..Default::default()
        }),
        network_access: Some(pb::NetworkAccess {
            network_access_type: pb::network_access::NetworkAccessType::Open as i32,
            ..Default::default()
        }),
        cloud_provider_str: "auto".into(),
        ..env.def(&["true"])
    };
    let sb = env.create(def).await.expect("a plain definition");
    env.wait_result(&sb.id, 60).await;
}

#[tokio::test]
async fn image_builds_refuse_what_they_cannot_do_by_name() {
    let mut env = Env::new().await;
    // as Modal's JS client sends fromAwsEcr, fromGcpArtifactRegistry, fromRegistry(tag, secret)
    let registry = |kind: pb::RegistryAuthType| pb::Image {
        image_registry_config: Some(pb::ImageRegistryConfig {
            registry_auth_type: kind as i32,
            secret_id: "st-1".into(),
        }),
        ..Default::default()
    };
    let build = |image: pb::Image| pb::ImageGetOrCreateRequest {
        app_id: env.app_id.clone(),
        image: Some(pb::Image {
            dockerfile_commands: vec!["FROM debian:bookworm-slim".into()],
            ..image
        }),
        ..Default::default()
    };
    let cases = [
        (
            "gpu: T4 asked for",
            build(pb::Image {
                gpu_config: Some(pb::GpuConfig {
                    gpu_type: "T4".into(),
                    count: 1,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        ),
        (
            "image_registry_config: AWS ECR (REGISTRY_AUTH_TYPE_AWS): sandboxd cannot reach private registries",
            build(registry(pb::RegistryAuthType::Aws)),
        ),
        (
            "image_registry_config: GCP Artifact Registry (REGISTRY_AUTH_TYPE_GCP): sandboxd cannot reach private registries",
            build(registry(pb::RegistryAuthType::Gcp)),
        ),
        (
            "image_registry_config: a private registry with static credentials (REGISTRY_AUTH_TYPE_STATIC_CREDS): ",
            build(registry(pb::RegistryAuthType::StaticCreds)),
        ),
        (
            "build_args: ",
            build(pb::Image {
                build_args: [("V".to_string(), "1".to_string())].into(),
                ..Default::default()
            }),
        ),
    ];
    for (want, req) in cases {
        let e = env.cp.image_get_or_create(req).await.unwrap_err();
        assert_eq!(
            e.code(),
            Code::FailedPrecondition,
            "{want}: {}",
            e.message()
        );
        assert!(
            e.message().starts_with(want),
            "want {want:?}, got {:?}",
            e.message()
        );
    }
}

#[tokio::test]
async fn a_taken_name_already_exists_in_modals_words() {
    let mut env = Env::new().await;
    let named = |env: &Env| pb::Sandbox {
        name: Some("twice".into()),
        ..env.def(&[])
    };
    let first = env
        .create(named(&env))
        .await
        .expect("the first of the name");
    let again = named(&env);
    let (code, msg) = refused(&mut env, again).await;
    assert_eq!(code, Code::AlreadyExists, "{msg}");
    assert!(msg.starts_with("Sandbox 'twice' already exists"), "{msg}");
    env.terminate(&first.id).await;
}

async fn volume(env: &mut Env, name: &str) -> String {
    env.cp
        .volume_get_or_create(pb::VolumeGetOrCreateRequest {
            deployment_name: name.into(),
            object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
            ..Default::default()
        })
        .await
        .expect("VolumeGetOrCreate")
        .into_inner()
        .volume_id
}

fn mount(volume_id: &str, at: &str, sub_path: Option<&str>) -> pb::VolumeMount {
    pb::VolumeMount {
        volume_id: volume_id.into(),
        mount_path: at.into(),
        sub_path: sub_path.map(str::to_string),
        ..Default::default()
    }
}

/// `sub_path` mounts one directory of a volume, made when missing (as Modal's docs say),
/// from the volume's root whether written `/a/b` or `a/b`.
#[tokio::test]
async fn a_volume_sub_path_mounts_that_directory() {
    let mut env = Env::new().await;
    let vol = volume(&mut env, "subs").await;
    let writer = pb::Sandbox {
        volume_mounts: vec![mount(&vol, "/data", Some("/users/ann"))],
        ..env.def(&[])
    };
    let mut sb = env.create(writer).await.expect("create with a sub_path");
    let (_, err, exit) = sb.run(&["sh", "-c", "echo hers > /data/note"]).await;
    assert_eq!(exit, Exit::Code(0), "{err}");
    env.terminate(&sb.id).await;

    let whole = pb::Sandbox {
        volume_mounts: vec![
            mount(&vol, "/all", None),
            mount(&vol, "/ann", Some("users/ann")),
        ],
        ..env.def(&[])
    };
    let mut sb = env.create(whole).await.expect("create");
    let (out, err, _) = sb
        .run(&["sh", "-c", "cat /all/users/ann/note /ann/note; ls /ann"])
        .await;
    assert_eq!(out, "hers\nhers\nnote\n", "{err}");
    env.terminate(&sb.id).await;

    let escape = pb::Sandbox {
        volume_mounts: vec![mount(&vol, "/x", Some("users/../../etc"))],
        ..env.def(&[])
    };
    let (code, msg) = refused(&mut env, escape).await;
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    assert!(msg.contains("sub_path"), "{msg}");
}

/// The attacker's test: a sandbox plants a symlink in a volume, aimed at the host, and a
/// later sandbox names it as its sub_path (whole or as a middle component). sandboxd must
/// never follow it: the mount fails, and nothing of the host shows.
#[tokio::test]
async fn a_planted_symlink_in_a_volume_never_reaches_the_host() {
    let mut env = Env::new().await;
    let vol = volume(&mut env, "planted").await;
    let def = pb::Sandbox {
        volume_mounts: vec![mount(&vol, "/v", None)],
        ..env.def(&[])
    };
    let mut sb = env.create(def).await.expect("create");
    let (_, err, exit) = sb
        .run(&[
            "sh",
            "-c",
            "ln -s / /v/root && ln -s /etc /v/etc && mkdir /v/d",
        ])
        .await;
    assert_eq!(exit, Exit::Code(0), "{err}");
    env.terminate(&sb.id).await;
    for sub in ["root", "/root/etc", "etc", "d/../root"] {
        let def = pb::Sandbox {
            volume_mounts: vec![mount(&vol, "/host", Some(sub))],
            ..env.def(&["sh", "-c", "ls /host"])
        };
        match env.create(def).await {
            Err(e) => assert!(
                matches!(
                    e.code(),
                    Code::InvalidArgument | Code::Internal | Code::FailedPrecondition
                ),
                "{sub}: {e:?}"
            ),
            Ok(sb) => {
                let res = env.wait_result(&sb.id, 60).await;
                panic!("{sub}: a sandbox started with the planted link as its sub_path: {res:?}");
            }
        }
    }
}

/// This machine's address that a sandbox reaches through slirp4netns (never loopback,
/// which sandboxes cannot reach): the source address of a route out, no packet sent.
fn host_addr() -> std::net::Ipv4Addr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
    s.connect("192.0.2.1:9")
        .expect("a route out of this machine");
    match s.local_addr().expect("its address").ip() {
        std::net::IpAddr::V4(a) => a,
        other => panic!("an IPv6 route out ({other}); the test needs IPv4"),
    }
}

const CONNECT: &str = "import socket, sys\n\
try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close(); print('connected')\n\
except OSError as e:\n    print(e.strerror)";

/// An outbound CIDR allowlist is enforced in the sandbox's network namespace: a listener
/// on this machine is reached from a sandbox whose allowlist holds it (and from an open
/// one), and unreachable from one whose allowlist does not, even after the sandbox tries
/// to route around it.
#[tokio::test]
async fn an_outbound_cidr_allowlist_is_enforced() {
    let env = Env::new().await;
    let host = host_addr();
    let listener = std::net::TcpListener::bind((host, 0)).expect("a listener");
    let port = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let (ip, mine, elsewhere) = (
        host.to_string(),
        format!("{host}/32"),
        // TEST-NET-2: never this machine
        "198.51.100.0/24".to_string(),
    );
    let cases: Vec<(Option<pb::NetworkAccess>, &str, &str)> = vec![
        (None, "connected\n", "an open network"),
        (
            allowlist(&[&mine], &[]),
            "connected\n",
            "an allowlist with this machine",
        ),
        (
            allowlist(&["0.0.0.0/0"], &[]),
            "connected\n",
            "an allowlist of everything",
        ),
        (
            allowlist(&[&elsewhere], &[]),
            "Network is unreachable\n",
            "an allowlist without this machine",
        ),
        (
            allowlist(&[], &[]),
            "Network is unreachable\n",
            "an empty allowlist",
        ),
    ];
    for (network_access, want, what) in cases {
        let def = pb::Sandbox {
            network_access,
            ..env.def(&[])
        };
        let mut sb = env.create(def).await.expect(what);
        let (out, err, _) = sb.run(&["python3", "-c", CONNECT, &ip, &port]).await;
        assert_eq!(out, want, "{what}: {err}");
        if want != "connected\n" {
            // root in the sandbox has no capability: the routes are not its to change
            let (_, err, exit) = sb
                .run(&[
                    "ip", "route", "add", "default", "via", "10.0.2.2", "dev", "tap0",
                ])
                .await;
            assert_ne!(
                exit,
                Exit::Code(0),
                "{what}: the sandbox added a default route"
            );
            let (out, _, _) = sb.run(&["python3", "-c", CONNECT, &ip, &port]).await;
            assert_eq!(out, want, "{what}, after `ip route add`: {err}");
        }
        env.terminate(&sb.id).await;
    }
}

async fn heartbeat(env: &mut Env, volume_id: &str) -> Result<(), Code> {
    env.cp
        .volume_heartbeat(pb::VolumeHeartbeatRequest {
            volume_id: volume_id.into(),
        })
        .await
        .map(|_| ())
        .map_err(|e| e.code())
}

/// Ephemeral volumes live while heartbeated, as on Modal: one whose heartbeats stop is
/// deleted after the TTL (here 2 s), unless a running sandbox mounts it; named volumes
/// never expire.
#[tokio::test]
async fn ephemeral_volumes_live_while_heartbeated() {
    let sd = Sandboxd::start_with(&["--ephemeral-volume-ttl-secs".into(), "2".into()]).await;
    let mut env = Env::on(sd, Transport::Grpc).await;
    let mut ephemeral = Vec::new();
    for _ in 0..3 {
        let id = env
            .cp
            .volume_get_or_create(pb::VolumeGetOrCreateRequest {
                object_creation_type: pb::ObjectCreationType::Ephemeral as i32,
                ..Default::default()
            })
            .await
            .expect("an ephemeral volume")
            .into_inner()
            .volume_id;
        ephemeral.push(id);
    }
    let (beaten, abandoned, in_use) = (&ephemeral[0], &ephemeral[1], &ephemeral[2]);
    let named = volume(&mut env, "kept").await;
    let def = pb::Sandbox {
        volume_mounts: vec![mount(in_use, "/v", None)],
        ..env.def(&[])
    };
    let sb = env
        .create(def)
        .await
        .expect("a sandbox on the third volume");
    for _ in 0..10 {
        heartbeat(&mut env, beaten).await.expect("a heartbeat");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(
        heartbeat(&mut env, beaten).await,
        Ok(()),
        "heartbeated: kept"
    );
    assert_eq!(heartbeat(&mut env, in_use).await, Ok(()), "mounted: kept");
    assert_eq!(heartbeat(&mut env, &named).await, Ok(()), "named: kept");
    assert_eq!(
        heartbeat(&mut env, abandoned).await,
        Err(Code::NotFound),
        "no heartbeat for 5 s with a TTL of 2 s: deleted"
    );
    let dir = env.sd.state_dir.join("volumes").join(abandoned);
    assert!(!dir.exists(), "its files are gone: {}", dir.display());
    env.terminate(&sb.id).await;
}

/// A build's log lines and result status (ImageGetOrCreate, then ImageJoinStreaming to eof).
async fn build_log(env: &mut Env, req: pb::ImageGetOrCreateRequest) -> (String, i32) {
    let id = env
        .cp
        .image_get_or_create(req)
        .await
        .unwrap()
        .into_inner()
        .image_id;
    within(120, "ImageJoinStreaming", async {
        let mut log = String::new();
        let mut s = env
            .cp
            .image_join_streaming(pb::ImageJoinStreamingRequest {
                image_id: id.clone(),
                timeout: 55.0,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(m) = s.message().await.unwrap() {
            for l in &m.task_logs {
                log.push_str(&l.data);
            }
            if let Some(r) = m.result.filter(|r| r.status != 0) {
                return (log, r.status);
            }
        }
        panic!("no result for {id}: {log}");
    })
    .await
}

#[tokio::test]
async fn force_build_runs_every_step_again_and_run_steps_see_the_images_secrets() {
    let mut env = Env::new().await;
    let secret = env
        .cp
        .secret_get_or_create(pb::SecretGetOrCreateRequest {
            object_creation_type: pb::ObjectCreationType::Ephemeral as i32,
            env_dict: [("BUILD_SECRET".to_string(), "s3cr3t".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret_id;
    let app_id = env.app_id.clone();
    let req = |commands: &[&str], force_build: bool| pb::ImageGetOrCreateRequest {
        app_id: app_id.clone(),
        image: Some(pb::Image {
            dockerfile_commands: commands.iter().map(|c| c.to_string()).collect(),
            secret_ids: vec![secret.clone()],
            ..Default::default()
        }),
        force_build,
        ..Default::default()
    };
    let run = "RUN test \"$BUILD_SECRET\" = s3cr3t && echo seen";
    let first = req(&["FROM debian:bookworm-slim", run], false);
    let (log, status) = build_log(&mut env, first).await;
    assert_eq!(status, 1, "a RUN step sees the image's secret: {log}");
    // a definition sharing the step takes it from the cache...
    let more = |force| req(&["FROM debian:bookworm-slim", run, "ENV A=1"], force);
    let (log, _) = build_log(&mut env, more(false)).await;
    assert!(log.contains(&format!("=> {run} (cached)")), "{log}");
    // ...unless forced, as Modal's force_build (docker build --no-cache)
    let (log, status) = build_log(&mut env, more(true)).await;
    assert_eq!(status, 1, "{log}");
    assert!(
        log.contains(&format!("=> {run}\n")) && !log.contains("(cached)"),
        "{log}"
    );
}

/// Modal's `Image.publish` and `images.fromName`: a name and tag point at an image, in an
/// environment given by the request or as a prefix of the tag; published again, they point
/// at the new image; an unknown name, a deleted image, a bad name: refused.
#[tokio::test]
async fn a_published_image_is_found_by_its_name() {
    let mut env = Env::new().await;
    let get = |tag: &str, environment_name: &str| pb::ImageGetByTagRequest {
        tag: tag.into(),
        environment_name: environment_name.into(),
    };
    let publish = |image_id: &str, tag: &str, environment_name: &str| pb::ImagePublishRequest {
        image_id: image_id.into(),
        tag: tag.into(),
        environment_name: environment_name.into(),
        allow_public: false,
    };
    let first = env.image_id.clone();
    let resp = env
        .cp
        .image_publish(publish(&first, "tools:v1", ""))
        .await
        .expect("ImagePublish")
        .into_inner();
    assert_eq!(resp.image_id, first);
    assert!(resp.revision_id.starts_with("ir-"), "{}", resp.revision_id);
    // the default environment, by name or as a prefix
    for (tag, environment) in [
        ("tools:v1", ""),
        ("tools:v1", "main"),
        ("main/tools:v1", ""),
    ] {
        let found = env.cp.image_get_by_tag(get(tag, environment)).await;
        assert_eq!(
            found.expect(tag).into_inner().image_id,
            first,
            "{tag} in {environment:?}"
        );
    }
    // `latest` when no tag; another environment is another namespace
    env.cp
        .image_publish(publish(&first, "dev/tools", ""))
        .await
        .expect("ImagePublish dev/tools");
    let latest = env.cp.image_get_by_tag(get("tools", "dev")).await;
    assert_eq!(latest.expect("tools in dev").into_inner().image_id, first);
    for (tag, environment) in [("tools", ""), ("tools:v2", ""), ("other/tools:v1", "")] {
        let missing = env.cp.image_get_by_tag(get(tag, environment)).await;
        let status = missing.expect_err(tag);
        assert_eq!(status.code(), Code::NotFound, "{tag}: {}", status.message());
        assert!(
            status.message().contains("not found"),
            "{}",
            status.message()
        );
    }
    // published again: the name points at the new image
    let commands = ["FROM debian:bookworm-slim", "ENV SECOND=1"];
    let second = image_of(&mut env.cp, &env.app_id.clone(), &commands).await;
    env.cp
        .image_publish(publish(&second, "tools:v1", ""))
        .await
        .expect("ImagePublish again");
    let found = env.cp.image_get_by_tag(get("tools:v1", "")).await;
    assert_eq!(found.expect("tools:v1").into_inner().image_id, second);
    // its image deleted: not found
    env.cp
        .image_delete(pb::ImageDeleteRequest {
            image_id: second.clone(),
        })
        .await
        .expect("ImageDelete");
    let gone = env.cp.image_get_by_tag(get("tools:v1", "")).await;
    assert_eq!(gone.expect_err("deleted").code(), Code::NotFound);
    // refused: unknown images, bad names, both environments, workspaces, public images
    let cases = [
        (publish("im-missing", "x:v1", ""), Code::NotFound),
        (publish(&first, "a b:v1", ""), Code::InvalidArgument),
        (publish(&first, "im-x:v1", ""), Code::InvalidArgument),
        (publish(&first, "dev/x:v1", "dev"), Code::InvalidArgument),
        (publish(&first, "ws/dev/x:v1", ""), Code::FailedPrecondition),
        (
            pb::ImagePublishRequest {
                allow_public: true,
                ..publish(&first, "x:v1", "")
            },
            Code::FailedPrecondition,
        ),
    ];
    for (req, code) in cases {
        let what = format!("{} in {:?}", req.tag, req.environment_name);
        let status = env.cp.image_publish(req).await.expect_err(&what);
        assert_eq!(status.code(), code, "{what}: {}", status.message());
    }
}
