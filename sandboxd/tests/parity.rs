//! What Modal's clients may ask of sandboxd beyond the basic flows: answered as Modal
//! answers, or refused with a status that names the field (never silently dropped).
//! Each test runs a real sandboxd (see common).

mod common;

use common::*;
use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;
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
                network_access: allowlist(&[], &["*.example.com"]),
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

/// GET `path` from sandboxd over plain HTTP/1.1; the body.
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    within(10, "HTTP reply", tcp.read_to_string(&mut resp))
        .await
        .expect("read");
    assert!(resp.starts_with("HTTP/1.1 200"), "{path}: {resp}");
    let body = resp.split_once("\r\n\r\n").expect("a body").1;
    body.to_string()
}

/// `include_oidc_identity_token` (Modal JS's `includeOidcIdentityToken`): the sandbox
/// finds in MODAL_IDENTITY_TOKEN a JWT naming it and its app, signed with the key that
/// sandboxd publishes at its issuer's JWKS (found through OpenID discovery); a sandbox
/// that did not ask has none.
#[tokio::test]
async fn an_oidc_identity_token_is_issued_when_asked_for() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let env = Env::new().await;
    let def = pb::Sandbox {
        include_oidc_identity_token: true,
        ..env.def(&[])
    };
    let mut sb = env.create(def).await.expect("create asking for a token");
    let token = sh(&mut sb, "printenv MODAL_IDENTITY_TOKEN").await;
    let token = token.trim();
    let mut parts = token.split('.');
    let (header, claims, sig) = (
        parts.next().unwrap(),
        parts.next().expect("claims"),
        parts.next().expect("signature"),
    );
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&b64.decode(p).expect("base64url")).expect("JSON")
    };
    let (header_json, c) = (json(header), json(claims));
    assert_eq!(header_json["alg"], "EdDSA");
    let issuer = format!("http://127.0.0.1:{}", env.sd.port);
    assert_eq!(c["iss"], issuer.as_str());
    assert_eq!(c["sandbox_id"], sb.id.as_str());
    assert_eq!(c["container_id"], sb.task_id.as_str());
    assert_eq!(c["app_id"], env.app_id.as_str());
    assert_eq!(c["app_name"], "itest");
    assert!(
        c["sub"]
            .as_str()
            .unwrap()
            .ends_with(&format!("sandbox_id:{}", sb.id)),
        "{c}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        c["exp"].as_u64().unwrap() > now + 60,
        "valid for the sandbox's life: {c}"
    );

    let discovery: serde_json::Value =
        serde_json::from_str(&http_get(env.sd.port, "/.well-known/openid-configuration").await)
            .expect("discovery JSON");
    assert_eq!(discovery["issuer"], issuer.as_str());
    let jwks_path = discovery["jwks_uri"]
        .as_str()
        .unwrap()
        .strip_prefix(&issuer)
        .expect("the JWKS at the issuer")
        .to_string();
    let jwks: serde_json::Value =
        serde_json::from_str(&http_get(env.sd.port, &jwks_path).await).expect("JWKS JSON");
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], header_json["kid"]);
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ED25519,
        b64.decode(key["x"].as_str().unwrap()).unwrap(),
    );
    let signed = format!("{header}.{claims}");
    let sig = b64.decode(sig).unwrap();
    public
        .verify(signed.as_bytes(), &sig)
        .expect("signed by the published key");
    // a token whose claims were changed does not verify
    let forged = b64.encode(c.to_string().replace(&sb.id, "sb-other"));
    assert!(public
        .verify(format!("{header}.{forged}").as_bytes(), &sig)
        .is_err());
    // nor is it a credential for sandboxd itself
    let mut tcr = tcr_with(&env.sd, env.transport, &sb.url, Md::bearer(token)).await;
    let refused = tcr
        .task_reload_volumes(tcr::TaskReloadVolumesRequest {
            task_id: sb.task_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("the identity token is not a command router token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    env.terminate(&sb.id).await;

    let mut plain = env.create(env.def(&[])).await.expect("create");
    let (out, _, exit) = plain.run(&["printenv", "MODAL_IDENTITY_TOKEN"]).await;
    assert_eq!(
        (out.as_str(), exit),
        ("", Exit::Code(1)),
        "no token unless asked"
    );
    env.terminate(&plain.id).await;
}

/// Sidecar containers (Modal JS's `sb.sidecars`: TaskContainerCreate and friends) are
/// not something sandboxd runs: each call is UNIMPLEMENTED naming the method, over native
/// gRPC and gRPC-web alike, before any other check.
#[tokio::test]
async fn sidecar_calls_are_unimplemented_by_name() {
    let env = Env::new().await;
    let sb = env.idle_sandbox().await;
    for t in [Transport::Grpc, Transport::GrpcWeb] {
        for rpc in [
            "TaskContainerCreate",
            "TaskContainerGet",
            "TaskContainerList",
            "TaskContainerTerminate",
            "TaskContainerWait",
        ] {
            let svc = tonic::service::interceptor::InterceptedService::new(
                env.sd.svc(t).await,
                Md::bearer(&sb.jwt),
            );
            let mut grpc = tonic::client::Grpc::with_origin(svc, sb.url.parse().unwrap());
            grpc.ready().await.expect("ready");
            let path = format!("/modal.task_command_router.TaskCommandRouter/{rpc}");
            let status = grpc
                .unary::<(), (), _>(
                    tonic::Request::new(()),
                    path.parse().unwrap(),
                    tonic_prost::ProstCodec::default(),
                )
                .await
                .expect_err("a sidecar call is refused");
            assert_eq!(
                status.code(),
                Code::Unimplemented,
                "{t:?} {rpc}: {status:?}"
            );
            assert!(
                status
                    .message()
                    .contains(&format!("TaskCommandRouter/{rpc}")),
                "{t:?} {rpc}: {status:?}"
            );
        }
    }
    // a call for a sidecar's container (Modal JS's sidecar.exec, .reloadVolumes, ...)
    // is never run in the main container instead
    let mut tcr = sb.tcr.clone();
    let exec = tcr
        .task_exec_start(tcr::TaskExecStartRequest {
            task_id: sb.task_id.clone(),
            exec_id: uuid::Uuid::new_v4().to_string(),
            command_args: vec!["true".into()],
            container_id: "sc-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("exec in a sidecar");
    let reload = tcr
        .task_reload_volumes(tcr::TaskReloadVolumesRequest {
            task_id: sb.task_id.clone(),
            container_id: "sc-1".into(),
        })
        .await
        .expect_err("reload a sidecar's volumes");
    for status in [exec, reload] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains("no sidecars"), "{status:?}");
    }
    env.terminate(&sb.id).await;
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

async fn reload(sb: &mut Sb) {
    within(
        30,
        "TaskReloadVolumes",
        sb.tcr.task_reload_volumes(tcr::TaskReloadVolumesRequest {
            task_id: sb.task_id.clone(),
            ..Default::default()
        }),
    )
    .await
    .expect("TaskReloadVolumes");
}

async fn sh(sb: &mut Sb, script: &str) -> String {
    let (out, err, exit) = sb.run(&["sh", "-c", script]).await;
    assert_eq!(exit, Exit::Code(0), "{script}: {err}");
    out
}

/// Modal's volume semantics: a sandbox sees what was committed when it started (or last
/// reloaded) plus its own writes; another's writes reach it only after they are
/// committed (the writer's `reloadVolumes`, or its end) and it reloads. Deletions,
/// replaced directories and sub_path mounts too; concurrent writers each keep their
/// files, the last commit of a file wins.
#[tokio::test]
async fn volume_writes_are_seen_after_commit_and_reload() {
    let mut env = Env::new().await;
    let vol = volume(&mut env, "commits").await;
    let mounted = |sub: Option<&str>, ro: bool| pb::Sandbox {
        volume_mounts: vec![pb::VolumeMount {
            read_only: ro,
            ..mount(&vol, "/v", sub)
        }],
        ..env.def(&[])
    };
    let mut a = env.create(mounted(None, false)).await.expect("a");
    let mut b = env.create(mounted(None, false)).await.expect("b");
    let mut r = env.create(mounted(None, true)).await.expect("read-only");
    // the sub_path `d` (made in s's view, committed with s's writes) and the whole volume:
    // one view of the volume, so each mount sees the other's writes at once
    let both = pb::Sandbox {
        volume_mounts: vec![mount(&vol, "/v", Some("d")), mount(&vol, "/w", None)],
        ..env.def(&[])
    };
    let mut s = env.create(both).await.expect("sub_path");
    assert_eq!(
        sh(
            &mut s,
            "echo mine > /v/m && cat /w/d/m && rm /w/d/m && ls -A /v"
        )
        .await,
        "mine\n"
    );

    sh(
        &mut a,
        "echo one > /v/f && mkdir -p /v/d && echo x > /v/d/g",
    )
    .await;
    assert_eq!(
        sh(&mut a, "cat /v/f").await,
        "one\n",
        "a sees its own write"
    );
    assert_eq!(sh(&mut b, "ls -A /v").await, "", "b before a commits");
    reload(&mut b).await;
    assert_eq!(
        sh(&mut b, "ls -A /v").await,
        "",
        "b reloaded, a not committed"
    );

    reload(&mut a).await; // commits a's writes
    assert_eq!(
        sh(&mut a, "cat /v/f /v/d/g").await,
        "one\nx\n",
        "a after its commit"
    );
    assert_eq!(sh(&mut b, "ls -A /v").await, "", "b before its reload");
    reload(&mut b).await;
    assert_eq!(
        sh(&mut b, "cat /v/f /v/d/g").await,
        "one\nx\n",
        "b after reload"
    );
    assert_eq!(sh(&mut r, "ls -A /v").await, "", "read-only before reload");
    reload(&mut r).await;
    assert_eq!(
        sh(&mut r, "cat /v/f").await,
        "one\n",
        "read-only after reload"
    );
    let (_, _, exit) = r.run(&["sh", "-c", "echo no > /v/f"]).await;
    assert_ne!(
        exit,
        Exit::Code(0),
        "a read-only mount stays read-only after reload"
    );
    reload(&mut s).await;
    assert_eq!(sh(&mut s, "cat /v/g").await, "x\n", "sub_path after reload");

    // both write, b deletes and replaces a directory; the last commit of f wins
    sh(&mut a, "echo from-a > /v/a && echo a > /v/f").await;
    sh(
        &mut b,
        "echo from-b > /v/b && rm -r /v/d && mkdir /v/d && echo new > /v/d/h && echo b > /v/f",
    )
    .await;
    sh(&mut s, "echo from-s > /v/s").await;
    reload(&mut a).await;
    reload(&mut b).await;
    reload(&mut s).await;
    reload(&mut a).await;
    let want = "a b d f\nb\nfrom-a from-b\nh s\n";
    let seen = "ls /v | tr '\\n' ' ' | sed 's/ $//'; echo; cat /v/f; echo $(cat /v/a /v/b); ls /v/d | tr '\\n' ' ' | sed 's/ $//'; echo";
    assert_eq!(sh(&mut a, seen).await, want, "a after everyone committed");
    assert_eq!(
        sh(&mut b, seen).await,
        "a b d f\nb\nfrom-a from-b\nh\n",
        "b has not seen s's commit"
    );

    // as on Modal, no reload while a file of the volume is open for writing
    sh(
        &mut a,
        "(exec 3>>/v/held; exec sleep 300) >/dev/null 2>&1 & echo $! > /tmp/holder; sleep 0.3",
    )
    .await;
    let busy = a
        .tcr
        .task_reload_volumes(tcr::TaskReloadVolumesRequest {
            task_id: a.task_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("a reload with a file open for writing");
    assert_eq!(busy.code(), Code::FailedPrecondition, "{busy:?}");
    assert!(busy.message().contains("open for writing"), "{busy:?}");
    assert_eq!(
        sh(&mut a, "echo still > /v/held2; cat /v/held2").await,
        "still\n",
        "a still writes"
    );
    sh(&mut a, "p=$(cat /tmp/holder); kill $p; while kill -0 $p 2>/dev/null; do sleep 0.05; done; rm /v/held /v/held2").await;
    reload(&mut a).await;

    // a sandbox's end commits its writes; a new sandbox starts from the newest version
    sh(&mut b, "rm /v/a && echo last > /v/z").await;
    env.terminate(&b.id).await;
    let mut c = env.create(mounted(None, false)).await.expect("c");
    assert_eq!(
        sh(&mut c, "ls /v | tr '\\n' ' '").await,
        "b d f z ",
        "c starts from b's last commit"
    );
    assert_eq!(
        sh(&mut a, "cat /v/a").await,
        "from-a\n",
        "a keeps its view until it reloads"
    );
    for sb in [&a, &r, &s, &c] {
        env.terminate(&sb.id).await;
    }
    // versions nothing mounts are gone: only the newest is left
    let dir = env.sd.state_dir.join("volumes").join(&vol);
    let versions: Vec<String> = std::fs::read_dir(&dir)
        .expect("the volume's directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
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

/// An outbound domain allowlist: the domain's addresses (resolved as the sandbox starts)
/// are reached, by name, through the sandbox's own DNS; anything else is unreachable. On
/// a machine where the domain does not resolve, the create is refused naming it.
#[tokio::test]
async fn an_outbound_domain_allowlist_is_enforced() {
    let env = Env::new().await;
    // a domain this machine reaches (its package mirror), and a listener of its own
    let domain = "deb.debian.org";
    let host = host_addr();
    let listener = std::net::TcpListener::bind((host, 0)).expect("a listener");
    let port = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let def = pb::Sandbox {
        network_access: allowlist(&[], &[domain]),
        ..env.def(&[])
    };
    let resolves = tokio::net::lookup_host((domain, 80)).await.is_ok();
    let mut sb = match env.create(def).await {
        Ok(sb) => sb,
        Err(e) => {
            assert!(!resolves, "{domain} resolves here, yet: {e:?}");
            assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
            assert!(e.message().contains(domain), "{e:?}");
            return;
        }
    };
    let (out, err, _) = sb.run(&["python3", "-c", CONNECT, domain, "80"]).await;
    assert_eq!(out, "connected\n", "{domain}, allowed: {err}");
    let ip = host.to_string();
    let (out, err, _) = sb.run(&["python3", "-c", CONNECT, &ip, &port]).await;
    assert_eq!(
        out, "Network is unreachable\n",
        "this machine, not allowed: {err}"
    );
    env.terminate(&sb.id).await;

    let def = pb::Sandbox {
        network_access: allowlist(&[], &["no-such-host.invalid"]),
        ..env.def(&[])
    };
    let e = env
        .create(def)
        .await
        .err()
        .expect("an unresolvable domain is refused");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("'no-such-host.invalid'"), "{e:?}");
}

const SERVE_HI: &str = "import socket\n\
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('0.0.0.0', 8000)); s.listen()\n\
while True:\n    c, _ = s.accept(); c.sendall(b'hi'); c.close()";

/// What a tunnel's host port answers: the server's greeting, or nothing (closed).
async fn through_tunnel(env: &mut Env, sandbox_id: &str, secs: u64) -> String {
    use tokio::io::AsyncReadExt;
    let tunnels = env
        .cp
        .sandbox_get_tunnels_v2(pb::SandboxGetTunnelsRequest {
            sandbox_id: sandbox_id.into(),
            timeout: 10.0,
        })
        .await
        .expect("SandboxGetTunnelsV2")
        .into_inner()
        .tunnels;
    let port = tunnels.first().expect("a tunnel").port as u16;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let mut got = String::new();
        if let Ok(mut c) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let _ = within(10, "the tunnel's answer", c.read_to_string(&mut got)).await;
        }
        // the server may still be starting; a refused source never gets an answer
        if !got.is_empty() || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// An inbound CIDR allowlist: a sandbox's tunnels (and connect proxies) accept
/// connections only from the listed sources. Tunnels listen on 127.0.0.1, so a list with
/// this machine's loopback lets them through and one without it closes them at once.
#[tokio::test]
async fn an_inbound_cidr_allowlist_is_enforced() {
    let mut env = Env::new().await;
    let base = env.def(&["python3", "-c", SERVE_HI]);
    let served = |inbound: &[&str]| pb::Sandbox {
        inbound_cidr_allowlist: inbound.iter().map(|s| s.to_string()).collect(),
        open_ports_oneof: Some(pb::sandbox::OpenPortsOneof::OpenPorts(pb::PortSpecs {
            ports: vec![pb::PortSpec {
                port: 8000,
                unencrypted: true,
                ..Default::default()
            }],
        })),
        ..base.clone()
    };
    let open = env
        .create(served(&["127.0.0.0/8", "2001:db8::/32"]))
        .await
        .expect("create");
    assert_eq!(
        through_tunnel(&mut env, &open.id, 20).await,
        "hi",
        "a listed source"
    );
    let closed = env
        .create(served(&["198.51.100.0/24"]))
        .await
        .expect("create");
    // the server answers from inside (readiness), yet the tunnel refuses this source
    let mut probe = closed;
    let (out, err, _) = probe
        .run(&["python3", "-c", "import socket,time\nfor _ in range(100):\n  try: print(socket.create_connection(('127.0.0.1', 8000), 1).recv(2).decode()); break\n  except OSError: time.sleep(0.1)"])
        .await;
    assert_eq!(out, "hi\n", "the server runs: {err}");
    assert_eq!(
        through_tunnel(&mut env, &probe.id, 2).await,
        "",
        "an unlisted source"
    );
    env.terminate(&open.id).await;
    env.terminate(&probe.id).await;
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
    // asked for again once built: its result in the reply, as Modal answers, so the
    // clients skip ImageJoinStreaming
    let again = env
        .cp
        .image_get_or_create(req(&["FROM debian:bookworm-slim", run], false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.result.map(|r| r.status),
        Some(1),
        "built: SUCCESS at once"
    );
    assert!(again
        .metadata
        .is_some_and(|m| m.image_builder_version.is_some()));
    // a failed build is followed through ImageJoinStreaming each time (its logs)
    let failing = || {
        req(
            &["FROM debian:bookworm-slim", "RUN echo no >&2; exit 3"],
            false,
        )
    };
    let (log, status) = build_log(&mut env, failing()).await;
    assert_eq!(status, 2, "{log}");
    let again = env
        .cp
        .image_get_or_create(failing())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.result, None, "a failed build: no result in the reply");
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
