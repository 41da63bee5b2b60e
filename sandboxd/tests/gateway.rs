//! `sandboxd gateway` against real processes: an upstream sandboxd serving TLS (a CA and a
//! certificate made by the test), one or two gateway processes in front of it, and clients
//! holding only scoped tokens, over native gRPC and gRPC-web. Each test attacks one
//! promise: tenants are isolated, tokens are checked, limits hold, the upstream's secrets
//! never reach a client, replicas are interchangeable.

mod common;

use common::terminal::*;
use common::*;
use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;
use modal_proto::task_command_router::task_command_router_client::TaskCommandRouterClient;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tonic::service::interceptor::InterceptedService;
use tonic::Code;

const SIGNING_KEY: &str = "gateway-test-signing-key-0123456789abcdefghij";
const APP: &str = "gw-app";
const ALL: &str = "create,exec,fs,read,terminate,snapshot,connect-token";

/// A CA and a certificate for 127.0.0.1 and localhost, as PEM files in `dir`.
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "modal-wasm test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_path, cert_path, key_path)
}

/// A gateway process; killed on drop.
struct GatewayProc {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl GatewayProc {
    async fn start(dir: &Path, upstream: &str, ca: &Path, secret: &str, extra: &[&str]) -> Self {
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let log = dir.join(format!("gateway-{n}.log"));
        let key = dir.join("signing.key");
        std::fs::write(&key, SIGNING_KEY).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandboxd"))
            .args(["gateway", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .arg("--upstream-ca")
            .arg(ca)
            .arg("--signing-key")
            .arg(&key)
            .args(extra)
            .env("MODAL_TOKEN_ID", TOKEN_ID)
            .env("MODAL_TOKEN_SECRET", secret)
            .env("RUST_LOG", "sandboxd=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting sandboxd gateway");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) =
                    line.strip_prefix("sandboxd gateway: listening on http://127.0.0.1:")
                {
                    let port = rest
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.parse::<u16>().ok());
                    if let (Some(tx), Some(p)) = (tx.take(), port) {
                        let _ = tx.send(p);
                    }
                }
            }
        });
        let port = match tokio::time::timeout(Duration::from_secs(20), rx).await {
            Ok(Ok(p)) => p,
            _ => panic!(
                "the gateway did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        };
        GatewayProc { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- gateway log:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An upstream sandboxd over TLS and gateways in front of it.
struct World {
    dir: TempDir,
    ca: PathBuf,
    upstream: Sandboxd,
    gateways: Vec<GatewayProc>,
}

impl World {
    async fn new(replicas: usize, extra: &[&str]) -> World {
        let dir = TempDir::new().unwrap();
        let (ca, cert, key) = make_certs(dir.path());
        let upstream = Sandboxd::start_with(&[
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ])
        .await;
        assert!(upstream.url().starts_with("https://"), "{}", upstream.url());
        let mut gateways = Vec::new();
        for _ in 0..replicas {
            let gdir = dir.path().join("gw");
            std::fs::create_dir_all(&gdir).unwrap();
            gateways
                .push(GatewayProc::start(&gdir, &upstream.url(), &ca, TOKEN_SECRET, extra).await);
        }
        World {
            dir,
            ca,
            upstream,
            gateways,
        }
    }

    /// `sandboxd token mint` with the test's signing key.
    fn mint(&self, sub: &str, tags: &[(&str, &str)], scopes: &str) -> String {
        let key = self.dir.path().join("mint.key");
        std::fs::write(&key, SIGNING_KEY).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandboxd"));
        cmd.args(["token", "mint", "--signing-key"])
            .arg(&key)
            .args([
                "--sub", sub, "--app", APP, "--scope", scopes, "--ttl", "10m",
            ]);
        for (k, v) in tags {
            cmd.arg("--tag").arg(format!("{k}={v}"));
        }
        let out = cmd.output().expect("sandboxd token mint");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    async fn client(&self, gw: usize, t: Transport, token: &str) -> Cp {
        let url = self.gateways[gw].url();
        pb::modal_client_client::ModalClientClient::with_origin(
            InterceptedService::new(svc_to(&url, t).await, Md::bearer(token)),
            url.parse().unwrap(),
        )
        .max_decoding_message_size(64 << 20)
    }
}

/// A token holder: its control-plane client and its app.
struct Tenant {
    cp: Cp,
    app_id: String,
    image_id: String,
    transport: Transport,
    token: String,
}

impl Tenant {
    async fn new(w: &World, gw: usize, t: Transport, token: String) -> Tenant {
        let mut cp = w.client(gw, t, &token).await;
        let app_id = app(&mut cp, APP).await;
        let image_id = image(&mut cp, &app_id).await;
        Tenant {
            cp,
            app_id,
            image_id,
            transport: t,
            token,
        }
    }

    fn def(&self) -> pb::Sandbox {
        pb::Sandbox {
            image_id: self.image_id.clone(),
            timeout_secs: 120,
            ..Default::default()
        }
    }

    async fn create(
        &mut self,
        def: pb::Sandbox,
        tags: &[(&str, &str)],
    ) -> Result<pb::SandboxCreateV2Response, tonic::Status> {
        let r = self
            .cp
            .sandbox_create_v2(pb::SandboxCreateV2Request {
                app_id: self.app_id.clone(),
                definition: Some(def),
                tags: tags
                    .iter()
                    .map(|(k, v)| pb::SandboxTag {
                        tag_name: k.to_string(),
                        tag_value: v.to_string(),
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        Ok(r.into_inner())
    }

    /// A sandbox handle whose command-router calls go where the create reply says.
    async fn sb(&self, r: &pb::SandboxCreateV2Response) -> Sb {
        let access = r
            .command_router_access
            .clone()
            .expect("command_router_access");
        sb_at(
            &access.url,
            self.transport,
            &r.sandbox_id,
            &r.task_id,
            &access.jwt,
        )
        .await
    }
}

async fn sb_at(url: &str, t: Transport, id: &str, task: &str, jwt: &str) -> Sb {
    let tcr = TaskCommandRouterClient::with_origin(
        InterceptedService::new(svc_to(url, t).await, Md::bearer(jwt)),
        url.parse().unwrap(),
    )
    .max_decoding_message_size(64 << 20);
    Sb {
        id: id.into(),
        task_id: task.into(),
        jwt: jwt.into(),
        url: url.into(),
        tcr,
    }
}

#[tokio::test]
async fn a_tenant_drives_sandboxes_through_the_gateway() {
    let w = World::new(1, &[]).await;
    let token = w.mint("alice", &[("user", "a")], ALL);
    let mut a = Tenant::new(&w, 0, Transport::GrpcWeb, token).await;
    assert!(
        a.image_id.contains('~'),
        "image ids are sealed: {}",
        a.image_id
    );

    let r = a.create(a.def(), &[("team", "x")]).await.expect("create");
    assert!(
        r.sandbox_token.is_empty(),
        "the upstream's sandbox token is stripped"
    );
    let access = r.command_router_access.clone().unwrap();
    assert_eq!(
        access.url,
        w.gateways[0].url(),
        "exec traffic comes through the gateway"
    );
    let tags =
        a.cp.sandbox_tags_get_v2(pb::SandboxTagsGetRequest {
            sandbox_id: r.sandbox_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tags;
    let tags: std::collections::BTreeMap<_, _> = tags
        .into_iter()
        .map(|t| (t.tag_name, t.tag_value))
        .collect();
    assert_eq!(
        tags.get("user").map(String::as_str),
        Some("a"),
        "forced tag"
    );
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("x"),
        "own tag kept"
    );
    assert_eq!(tags.get("modal-wasm-app").map(String::as_str), Some(APP));

    let mut sb = a.sb(&r).await;
    assert_eq!(sb.sh("echo hello; echo oops >&2").await, "hello\n");

    // stdin through the gateway, byte for byte
    let id = sb.exec(&["sha256sum"]).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for (n, chunk) in data.chunks(1 << 20).enumerate() {
        sb.tcr
            .task_exec_stdin_write(tcr::TaskExecStdinWriteRequest {
                task_id: sb.task_id.clone(),
                exec_id: id.clone(),
                offset: (n << 20) as u64,
                data: chunk.to_vec(),
                eof: (n + 1) << 20 >= data.len(),
            })
            .await
            .expect("stdin through the gateway");
    }
    use sha2::Digest;
    let want = format!("{:x}", sha2::Sha256::digest(&data));
    let out = String::from_utf8(sb.read_all(&id, false).await).unwrap();
    assert!(out.starts_with(&want), "{out}");

    // a snapshot's image id comes back sealed, and creates a sandbox
    let snap = sb
        .tcr
        .task_snapshot_filesystem(tcr::TaskSnapshotFilesystemRequest {
            task_id: sb.task_id.clone(),
            ..Default::default()
        })
        .await
        .expect("snapshot")
        .into_inner()
        .image_id;
    assert!(snap.contains('~'), "{snap}");
    let mut def = a.def();
    def.image_id = snap;
    let r2 = a.create(def, &[]).await.expect("create from the snapshot");

    // list shows the tenant's sandboxes, with sealed image ids
    let list =
        a.cp.sandbox_list_v2(pb::SandboxListRequest::default())
            .await
            .unwrap()
            .into_inner()
            .sandboxes;
    let ids: Vec<_> = list.iter().map(|s| s.id.clone()).collect();
    assert!(
        ids.contains(&r.sandbox_id) && ids.contains(&r2.sandbox_id),
        "{ids:?}"
    );
    assert!(list.iter().all(|s| s.image_id.contains('~')));

    for id in [&r.sandbox_id, &r2.sandbox_id] {
        a.cp.sandbox_terminate_v2(pb::SandboxTerminateRequest {
            sandbox_id: id.clone(),
        })
        .await
        .expect("terminate");
    }
    let _ = a.token;
}

#[tokio::test]
async fn tenants_cannot_touch_each_other() {
    let w = World::new(1, &[]).await;
    let mut a = Tenant::new(
        &w,
        0,
        Transport::Grpc,
        w.mint("alice", &[("user", "a")], ALL),
    )
    .await;
    let mut b = Tenant::new(&w, 0, Transport::Grpc, w.mint("bob", &[("user", "b")], ALL)).await;
    let ra = a.create(a.def(), &[]).await.unwrap();
    let id = ra.sandbox_id.clone();
    let denied = Code::PermissionDenied;

    let list =
        b.cp.sandbox_list_v2(pb::SandboxListRequest::default())
            .await
            .unwrap()
            .into_inner();
    assert!(
        list.sandboxes.iter().all(|s| s.id != id),
        "b's list hides a's sandbox"
    );
    let sid = || id.clone();
    assert_code(
        b.cp.sandbox_wait_v2(pb::SandboxWaitRequest {
            sandbox_id: sid(),
            timeout: 0.0,
        })
        .await,
        denied,
        "wait",
    );
    assert_code(
        b.cp.sandbox_tags_get_v2(pb::SandboxTagsGetRequest { sandbox_id: sid() })
            .await,
        denied,
        "tags get",
    );
    assert_code(
        b.cp.sandbox_tags_set_v2(pb::SandboxTagsSetRequest {
            sandbox_id: sid(),
            ..Default::default()
        })
        .await,
        denied,
        "tags set",
    );
    assert_code(
        b.cp.sandbox_terminate_v2(pb::SandboxTerminateRequest { sandbox_id: sid() })
            .await,
        denied,
        "terminate",
    );
    assert_code(
        b.cp.sandbox_get_tunnels_v2(pb::SandboxGetTunnelsRequest {
            sandbox_id: sid(),
            timeout: 0.0,
        })
        .await,
        denied,
        "tunnels",
    );
    assert_code(
        b.cp.sandbox_create_connect_token_v2(pb::SandboxCreateConnectTokenRequest {
            sandbox_id: sid(),
            ..Default::default()
        })
        .await,
        denied,
        "connect token",
    );
    let access = pb::SandboxGetCommandRouterAccessRequest {
        target: Some(pb::sandbox_get_command_router_access_request::Target::SandboxId(sid())),
    };
    assert_code(
        b.cp.sandbox_get_command_router_access(access).await,
        denied,
        "router access (fromId + exec)",
    );
    let by_task = pb::SandboxGetCommandRouterAccessRequest {
        target: Some(
            pb::sandbox_get_command_router_access_request::Target::TaskId(ra.task_id.clone()),
        ),
    };
    assert_code(
        b.cp.sandbox_get_command_router_access(by_task).await,
        denied,
        "router access by task",
    );

    // b's own ticket, aimed at a's task: the ticket is bound to b's task
    let rb = b.create(b.def(), &[]).await.unwrap();
    let mut stolen = b.sb(&rb).await;
    stolen.task_id = ra.task_id.clone();
    let exec = stolen
        .exec_opts(&["cat", "/etc/hostname"], ExecOpts::default())
        .await;
    assert_code(exec, denied, "exec in a's task with b's ticket");
    let files = stolen.exec_opts(
        &[
            "/__modal/.bin/modal-sandbox-fs-tools",
            r#"{"ReadFile":{"path":"/etc/hostname"}}"#,
        ],
        ExecOpts::default(),
    );
    assert_code(files.await, denied, "read a's files with b's ticket");
    let snap = stolen
        .tcr
        .task_snapshot_filesystem(tcr::TaskSnapshotFilesystemRequest {
            task_id: ra.task_id.clone(),
            ..Default::default()
        })
        .await;
    assert_code(snap, denied, "snapshot a's sandbox with b's ticket");

    // a's snapshot image is a's: b cannot create from it
    let mut sa = a.sb(&ra).await;
    let snap = sa
        .tcr
        .task_snapshot_filesystem(tcr::TaskSnapshotFilesystemRequest {
            task_id: ra.task_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .image_id;
    let mut def = b.def();
    def.image_id = snap.clone();
    assert_code(
        b.create(def.clone(), &[]).await,
        denied,
        "create from a's snapshot",
    );
    def.image_id = snap.split('~').next().unwrap().to_string();
    assert_code(
        b.create(def, &[]).await,
        denied,
        "create from a's unsealed image id",
    );

    // b cannot name itself into a's tenant
    assert_code(
        b.create(b.def(), &[("user", "a")]).await,
        denied,
        "create with a's tag",
    );

    // from_name: a's named sandbox does not exist for b
    let mut named = a.def();
    named.name = Some("shared-name".into());
    a.create(named, &[]).await.unwrap();
    let r =
        b.cp.sandbox_get_from_name_v2(pb::SandboxGetFromNameRequest {
            sandbox_name: "shared-name".into(),
            app_name: APP.into(),
            ..Default::default()
        })
        .await;
    assert_code(r, Code::NotFound, "from_name of a's sandbox");

    // and a still works
    assert_eq!(sa.sh("echo still mine").await, "still mine\n");
}

#[tokio::test]
async fn tokens_scopes_and_limits_are_enforced() {
    let w = World::new(
        1,
        &[
            "--max-timeout",
            "600",
            "--max-cpu",
            "2",
            "--image",
            "debian:*",
        ],
    )
    .await;
    let url = w.gateways[0].url();
    let t = Transport::GrpcWeb;
    let unauth = Code::Unauthenticated;
    let denied = Code::PermissionDenied;
    let app_req = || pb::AppGetOrCreateRequest {
        app_name: APP.into(),
        object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
        ..Default::default()
    };

    // forged, alg none, expired, garbage
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let good = w.mint("carol", &[("user", "c")], ALL);
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], parts[1], B64.encode([7u8; 32]));
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let payload = format!(
        r#"{{"sub":"carol","app":"{APP}","scopes":["create"],"exp":{}}}"#,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 600
    );
    let head = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{head}.{}", B64.encode(payload));
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_KEY.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let expired = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
    for (what, token) in [
        ("forged", forged),
        ("alg none", none),
        ("expired", expired),
        ("garbage", "x.y.z".into()),
    ] {
        let mut cp = w.client(0, t, &token).await;
        assert_code(cp.app_get_or_create(app_req()).await, unauth, what);
    }
    // a workspace credential sent by a client: refused, with or without a token
    for md in [Md::workspace(), {
        let mut m = Md::workspace();
        m.0.push(("authorization", format!("Bearer {good}")));
        m
    }] {
        let mut cp = pb::modal_client_client::ModalClientClient::with_origin(
            InterceptedService::new(svc_to(&url, t).await, md),
            url.parse().unwrap(),
        );
        assert_code(
            cp.app_get_or_create(app_req()).await,
            unauth,
            "token id/secret headers",
        );
    }
    // no credential at all
    let mut cp = pb::modal_client_client::ModalClientClient::with_origin(
        InterceptedService::new(svc_to(&url, t).await, Md::default()),
        url.parse().unwrap(),
    );
    assert_code(cp.app_get_or_create(app_req()).await, unauth, "no token");

    // methods outside the Sandbox API
    let mut ok = Tenant::new(&w, 0, t, good.clone()).await;
    assert_code(
        ok.cp.auth_token_get(pb::AuthTokenGetRequest {}).await,
        denied,
        "AuthTokenGet",
    );
    assert_code(ok.cp.client_hello(()).await, denied, "ClientHello");
    // a published image name is the workspace's, not a token's
    let publish = pb::ImagePublishRequest {
        image_id: "im-any".into(),
        tag: "tools:v1".into(),
        ..Default::default()
    };
    assert_code(ok.cp.image_publish(publish).await, denied, "ImagePublish");
    let get = pb::ImageGetByTagRequest {
        tag: "tools:v1".into(),
        ..Default::default()
    };
    assert_code(ok.cp.image_get_by_tag(get).await, denied, "ImageGetByTag");

    // the wrong app
    let mut other_app = app_req();
    other_app.app_name = "someone-elses-app".into();
    assert_code(
        ok.cp.app_get_or_create(other_app).await,
        denied,
        "wrong app by name",
    );
    let mut wrong = ok.def();
    wrong.timeout_secs = 60;
    let r = ok
        .cp
        .sandbox_create_v2(pb::SandboxCreateV2Request {
            app_id: "ap-not-the-tokens-app".into(),
            definition: Some(wrong),
            ..Default::default()
        })
        .await;
    assert_code(r, denied, "create in another app");

    // limits and forbidden fields
    let mut d = ok.def();
    d.timeout_secs = 601;
    let e = assert_code(ok.create(d, &[]).await, denied, "timeout above the limit");
    assert!(e.message().contains("600"), "{}", e.message());
    let mut d = ok.def();
    d.resources = Some(pb::Resources {
        milli_cpu: 2500,
        ..Default::default()
    });
    assert_code(ok.create(d, &[]).await, denied, "cpu above the limit");
    let mut d = ok.def();
    d.i6pn_enabled = true;
    let e = assert_code(ok.create(d, &[]).await, denied, "private networking");
    assert!(e.message().contains("i6pn_enabled"), "{}", e.message());
    let r = ok
        .cp
        .image_get_or_create(pb::ImageGetOrCreateRequest {
            app_id: ok.app_id.clone(),
            image: Some(pb::Image {
                dockerfile_commands: vec!["FROM alpine:3.21".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert_code(r, denied, "an image off the list");
    let r = ok
        .cp
        .secret_get_or_create(pb::SecretGetOrCreateRequest {
            deployment_name: "workspace-secret".into(),
            ..Default::default()
        })
        .await;
    assert_code(r, denied, "a named workspace secret");

    // missing scopes
    let reader = w.mint("dave", &[("user", "c")], "read");
    let mut rd = w.client(0, t, &reader).await;
    let r = rd
        .sandbox_create_v2(pb::SandboxCreateV2Request {
            app_id: ok.app_id.clone(),
            definition: Some(ok.def()),
            ..Default::default()
        })
        .await;
    assert_code(r, denied, "create without the create scope");
    let created = ok.create(ok.def(), &[]).await.unwrap();
    let access = rd
        .sandbox_get_command_router_access(pb::SandboxGetCommandRouterAccessRequest {
            target: Some(
                pb::sandbox_get_command_router_access_request::Target::SandboxId(
                    created.sandbox_id.clone(),
                ),
            ),
        })
        .await
        .expect("a reader may get router access (for readiness)")
        .into_inner();
    let mut sb = sb_at(
        &access.url,
        t,
        &created.sandbox_id,
        &created.task_id,
        &access.jwt,
    )
    .await;
    assert_code(
        sb.exec_opts(&["true"], ExecOpts::default()).await,
        denied,
        "exec with read only",
    );
    let fs_only = w.mint("erin", &[("user", "c")], "fs");
    let mut fsc = w.client(0, t, &fs_only).await;
    let access = fsc
        .sandbox_get_command_router_access(pb::SandboxGetCommandRouterAccessRequest {
            target: Some(
                pb::sandbox_get_command_router_access_request::Target::SandboxId(
                    created.sandbox_id.clone(),
                ),
            ),
        })
        .await
        .unwrap()
        .into_inner();
    let mut sb = sb_at(
        &access.url,
        t,
        &created.sandbox_id,
        &created.task_id,
        &access.jwt,
    )
    .await;
    assert_code(
        sb.exec_opts(&["sh", "-c", "id"], ExecOpts::default()).await,
        denied,
        "a command with fs only",
    );
    let id = sb
        .exec_opts(
            &[
                "/__modal/.bin/modal-sandbox-fs-tools",
                r#"{"Stat":{"path":"/"}}"#,
            ],
            ExecOpts::default(),
        )
        .await
        .expect("the fs helper with fs scope");
    assert_eq!(sb.wait(&id).await, Exit::Code(0));
    let e = ok
        .cp
        .sandbox_terminate_v2(pb::SandboxTerminateRequest {
            sandbox_id: created.sandbox_id.clone(),
        })
        .await;
    e.expect("terminate");
    assert!(w.gateways[0].alive_check());
}

impl GatewayProc {
    fn alive_check(&self) -> bool {
        // the process answered every refusal above without dying
        std::process::Command::new("kill")
            .args(["-0", &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

#[tokio::test]
async fn replicas_are_interchangeable_and_secrets_stay_inside() {
    let w = World::new(2, &[]).await;
    // every byte the gateways send back goes through recording proxies
    let p0 = RecordingProxy::start(w.gateways[0].port).await;
    let p1 = RecordingProxy::start(w.gateways[1].port).await;
    let token = w.mint("frank", &[("user", "f")], ALL);
    let t = Transport::GrpcWeb;
    let cp0 = pb::modal_client_client::ModalClientClient::with_origin(
        InterceptedService::new(svc_to(&p0.url(), t).await, Md::bearer(&token)),
        p0.url().parse().unwrap(),
    );
    let cp1 = pb::modal_client_client::ModalClientClient::with_origin(
        InterceptedService::new(svc_to(&p1.url(), t).await, Md::bearer(&token)),
        p1.url().parse().unwrap(),
    );
    let mut tenant = Tenant {
        cp: cp0.clone(),
        app_id: String::new(),
        image_id: String::new(),
        transport: t,
        token: token.clone(),
    };
    tenant.app_id = app(&mut tenant.cp, APP).await;
    tenant.image_id = image(&mut tenant.cp, &tenant.app_id).await;
    let r = tenant.create(tenant.def(), &[]).await.unwrap();
    let jwt = r.command_router_access.clone().unwrap().jwt;
    // the same sandbox, alternately through each replica
    for (i, url) in [p0.url(), p1.url(), p0.url(), p1.url()].iter().enumerate() {
        let mut sb = sb_at(url, t, &r.sandbox_id, &r.task_id, &jwt).await;
        assert_eq!(
            sb.sh(&format!("echo round {i}")).await,
            format!("round {i}\n")
        );
    }
    let mut cp1 = cp1;
    let access = cp1
        .sandbox_get_command_router_access(pb::SandboxGetCommandRouterAccessRequest {
            target: Some(
                pb::sandbox_get_command_router_access_request::Target::SandboxId(
                    r.sandbox_id.clone(),
                ),
            ),
        })
        .await
        .unwrap()
        .into_inner();
    let mut sb = sb_at(&p0.url(), t, &r.sandbox_id, &r.task_id, &access.jwt).await;
    // 10 MB of stdout through a replica, byte-exact
    let id = sb
        .exec(&["sh", "-c", "head -c 10000000 /dev/zero | tr '\\0' 'z'"])
        .await;
    let out = sb.read_all(&id, false).await;
    assert_eq!(out.len(), 10_000_000);
    assert!(out.iter().all(|b| *b == b'z'));
    cp1.sandbox_terminate_v2(pb::SandboxTerminateRequest {
        sandbox_id: r.sandbox_id.clone(),
    })
    .await
    .unwrap();

    // what the upstream would have handed out: its auth token and its router JWTs are
    // JWTs with sub "client" / "task:..."; its credential is the token pair
    let mut seen = p0.bytes();
    seen.extend(p1.bytes());
    assert!(
        seen.len() > 10_000_000,
        "the proxies saw the traffic ({} bytes)",
        seen.len()
    );
    let leaks = secrets_in(&seen, &[TOKEN_SECRET, TOKEN_ID]);
    assert!(
        leaks.is_empty(),
        "upstream secrets reached a client: {leaks:?}"
    );
}

/// Upstream credentials and upstream-signed JWTs (sub `client` or `task:...`) in `bytes`.
fn secrets_in(bytes: &[u8], literals: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut found: Vec<String> = literals
        .iter()
        .filter(|l| text.contains(*l))
        .map(|l| format!("literal {l}"))
        .collect();
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    // every run of JWT characters that starts like a JWT header (`{"` in base64url)
    for (at, _) in text.match_indices("eyJ") {
        let run: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        let parts: Vec<&str> = run.split('.').collect();
        if parts.len() < 3 {
            continue;
        }
        let Ok(payload) = B64.decode(parts[1]) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&payload) else {
            continue;
        };
        let sub = v.get("sub").and_then(|s| s.as_str()).unwrap_or("");
        if sub == "client" || sub.starts_with("task:") {
            found.push(format!("upstream JWT with sub {sub}"));
        }
    }
    found
}

#[test]
fn the_secret_scan_finds_what_it_looks_for() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
        B64.encode(br#"{"sub":"task:ta-1","exp":1}"#)
    );
    let hay = format!("xx{jwt}yy as-test zz");
    assert_eq!(secrets_in(hay.as_bytes(), &["as-test"]).len(), 2);
    assert!(secrets_in(b"nothing here", &["as-test"]).is_empty());
}

#[tokio::test]
async fn a_refused_upstream_credential_is_the_operators_problem() {
    let w = World::new(0, &[]).await;
    let gdir = w.dir.path().join("gw-bad");
    std::fs::create_dir_all(&gdir).unwrap();
    let g = GatewayProc::start(&gdir, &w.upstream.url(), &w.ca, "as-wrong-secret", &[]).await;
    let token = w.mint("gina", &[], ALL);
    let mut cp = pb::modal_client_client::ModalClientClient::with_origin(
        InterceptedService::new(svc_to(&g.url(), Transport::Grpc).await, Md::bearer(&token)),
        g.url().parse().unwrap(),
    );
    let r = cp
        .app_get_or_create(pb::AppGetOrCreateRequest {
            app_name: APP.into(),
            object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
            ..Default::default()
        })
        .await;
    let e = assert_code(r, Code::Unavailable, "a refused gateway credential");
    assert!(e.message().contains("operator"), "{}", e.message());
    assert!(
        g.log().contains("refused this gateway's credential"),
        "{}",
        g.log()
    );
}

#[tokio::test]
async fn per_subject_rate_limits() {
    let w = World::new(1, &["--rate-limit", "5"]).await;
    let token = w.mint("hank", &[], "read");
    let mut cp = w.client(0, Transport::Grpc, &token).await;
    let mut exhausted = 0;
    for _ in 0..30 {
        let r = cp.sandbox_list_v2(pb::SandboxListRequest::default()).await;
        if let Err(e) = r {
            assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
            exhausted += 1;
        }
    }
    assert!(
        exhausted >= 15,
        "30 calls at once against 5/s (burst 10): {exhausted} refused"
    );
    // another subject is not affected
    let other = w.mint("ivy", &[], "read");
    let mut cp = w.client(0, Transport::Grpc, &other).await;
    cp.sandbox_list_v2(pb::SandboxListRequest::default())
        .await
        .expect("another subject");
}

#[tokio::test]
async fn unknown_methods_are_refused_not_unimplemented() {
    let w = World::new(1, &[]).await;
    let token = w.mint("jack", &[], ALL);
    // a raw gRPC-web POST to a method outside the subset
    let url = format!("{}/modal.client.ModalClient/AppList", w.gateways[0].url());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(url)
        .header("content-type", "application/grpc-web+proto")
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(&[
            0, 0, 0, 0, 0,
        ])))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("grpc-status").unwrap(), "7");
}

/// A TCP proxy in front of a gateway that keeps every byte the gateway sends back.
struct RecordingProxy {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl RecordingProxy {
    async fn start(target: u16) -> RecordingProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rec = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rec = rec.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut ur, mut uw) = upstream.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut uw).await;
                        let _ = uw.shutdown().await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match ur.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                rec.lock().unwrap().extend_from_slice(&buf[..n]);
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = cw.shutdown().await;
                    up.abort();
                });
            }
        });
        RecordingProxy { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn bytes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn serve_with_a_signing_key_takes_both_kinds_of_clients() {
    let dir = TempDir::new().unwrap();
    let key = dir.path().join("signing.key");
    std::fs::write(&key, SIGNING_KEY).unwrap();
    let sd = Sandboxd::start_with(&[
        "--signing-key".into(),
        key.display().to_string(),
        "--quota-sandboxes".into(),
        "2".into(),
    ])
    .await;
    // the workspace credential still works, for Modal's official clients and the operator
    let url = sd.url();
    let mut owner = Env::on(sd, Transport::Grpc).await;
    let mut sb = owner.idle_sandbox().await;
    assert_eq!(sb.sh("echo operator").await, "operator\n");

    // a scoped token on the same port goes through the gateway's policy
    let w = World {
        dir,
        ca: PathBuf::new(),
        upstream: Sandboxd::start().await,
        gateways: Vec::new(),
    };
    let token = w.mint("kim", &[("user", "k")], ALL);
    let mut cp = pb::modal_client_client::ModalClientClient::with_origin(
        InterceptedService::new(svc_to(&url, Transport::GrpcWeb).await, Md::bearer(&token)),
        url.parse().unwrap(),
    );
    let app_id = app(&mut cp, APP).await;
    let image_id = image(&mut cp, &app_id).await;
    let mut t = Tenant {
        cp,
        app_id,
        image_id,
        transport: Transport::GrpcWeb,
        token,
    };
    let r = t.create(t.def(), &[]).await.expect("a token creates");
    let access = r.command_router_access.clone().unwrap();
    assert!(!access.jwt.is_empty() && access.url.starts_with("http://127.0.0.1:"));
    let mut mine = t.sb(&r).await;
    assert_eq!(mine.sh("echo scoped").await, "scoped\n");
    // terminals resize on the same port, with a ticket and with the local router JWT alike
    for sb in [&mut mine, &mut sb] {
        let id = exec_pty(sb, &["sh", "-c", "echo ready; read x; stty size"], 24, 80)
            .await
            .unwrap();
        let mut screen = Screen::new(id.clone());
        screen.until(sb, "ready", 20).await;
        let mut term = terminal_client(&sb.url, Transport::GrpcWeb, &sb.jwt).await;
        resize(&mut term, sb, &id, 33, 99).await.unwrap();
        screen.type_(sb, b"\r").await;
        let out = screen.read_to_end(sb, 20).await;
        assert!(out.ends_with("33 99\r\n"), "{out:?}");
    }
    t.create(t.def(), &[]).await.expect("the second of two");
    let e = assert_code(
        t.create(t.def(), &[]).await,
        Code::ResourceExhausted,
        "a third sandbox",
    );
    assert!(e.message().contains("allows 2 per user"), "{}", e.message());
    // the operator's sandbox is not the token's
    let r =
        t.cp.sandbox_terminate_v2(pb::SandboxTerminateRequest {
            sandbox_id: sb.id.clone(),
        })
        .await;
    assert_code(
        r,
        Code::PermissionDenied,
        "terminate the operator's sandbox",
    );
    // and the operator sees every sandbox
    let all = owner
        .cp
        .sandbox_list_v2(pb::SandboxListRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sandboxes;
    assert!(all.len() >= 3, "{}", all.len());
}

/// A plaintext HTTP/2 front for a sandboxd that passes Modal's two services and answers
/// UNIMPLEMENTED to everything else, as Modal's own servers do for the project's Terminal
/// service. It keeps the request's authority, so the router url sandboxd hands out is the
/// front's too.
async fn modal_only_front(backend_port: u16) -> u16 {
    use http_body_util::{combinators::BoxBody, BodyExt, Empty};
    use hyper::body::Incoming;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    type Body = BoxBody<bytes::Bytes, hyper::Error>;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let backend = tokio::net::TcpStream::connect(("127.0.0.1", backend_port))
                    .await
                    .unwrap();
                let (send, conn) = hyper::client::conn::http2::handshake::<_, _, Incoming>(
                    TokioExecutor::new(),
                    TokioIo::new(backend),
                )
                .await
                .unwrap();
                tokio::spawn(conn);
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let mut send = send.clone();
                    async move {
                        let path = req.uri().path();
                        if path.starts_with("/modal.client.ModalClient/")
                            || path.starts_with("/modal.task_command_router.TaskCommandRouter/")
                        {
                            let resp = send.send_request(req).await?;
                            return Ok::<_, hyper::Error>(resp.map(|b| b.boxed()));
                        }
                        let mut resp = http::Response::new(
                            Empty::new().map_err(|never| match never {}).boxed(),
                        );
                        let h = resp.headers_mut();
                        h.insert("content-type", "application/grpc".parse().unwrap());
                        h.insert("grpc-status", "12".parse().unwrap());
                        Ok::<http::Response<Body>, hyper::Error>(resp)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn terminals_resize_through_the_gateway_and_not_supported_is_not_refused() {
    let mut w = World::new(1, &[]).await;
    let token = w.mint("tom", &[("user", "t")], ALL);
    let mut a = Tenant::new(&w, 0, Transport::GrpcWeb, token).await;
    let r = a.create(a.def(), &[]).await.expect("create");
    let mut sb = a.sb(&r).await;
    let id = exec_pty(
        &mut sb,
        &["sh", "-c", "echo ready; read x; tput cols"],
        24,
        80,
    )
    .await
    .expect("a terminal through the gateway");
    let mut screen = Screen::new(id.clone());
    screen.until(&mut sb, "ready", 20).await;
    let mut term = terminal_client(&sb.url, Transport::GrpcWeb, &sb.jwt).await;
    resize(&mut term, &sb, &id, 30, 123).await.expect("resize");
    screen.type_(&mut sb, b"\r").await;
    let out = screen.read_to_end(&mut sb, 20).await;
    assert!(out.ends_with("123\r\n"), "{out:?}");

    // a ticket for another sandbox's task reaches nothing here
    let r2 = a.create(a.def(), &[]).await.expect("create");
    let other = a.sb(&r2).await;
    let mut other_term = terminal_client(&other.url, Transport::GrpcWeb, &other.jwt).await;
    assert_code(
        resize(&mut other_term, &sb, &id, 30, 100).await,
        Code::PermissionDenied,
        "a ticket for another task",
    );
    // a token that may read but not run commands may not resize either
    let reader = w.mint("tom", &[("user", "t")], "read,fs");
    let mut reader_cp = w.client(0, Transport::GrpcWeb, &reader).await;
    let access = reader_cp
        .sandbox_get_command_router_access(pb::SandboxGetCommandRouterAccessRequest {
            target: Some(
                pb::sandbox_get_command_router_access_request::Target::SandboxId(
                    r.sandbox_id.clone(),
                ),
            ),
        })
        .await
        .expect("router access for a reader")
        .into_inner();
    let mut reader_term = terminal_client(&access.url, Transport::GrpcWeb, &access.jwt).await;
    let e = assert_code(
        resize(&mut reader_term, &sb, &id, 30, 100).await,
        Code::PermissionDenied,
        "resize without the exec scope",
    );
    assert!(e.message().contains("exec"), "{e:?}");

    // an upstream without the service (Modal's routers): UNIMPLEMENTED reaches the
    // client as such, so it can tell "not supported here" from "not allowed"
    let plain = Sandboxd::start().await;
    let front = modal_only_front(plain.port).await;
    let gdir = w.dir.path().join("gw-modal-like");
    std::fs::create_dir_all(&gdir).unwrap();
    let gw = GatewayProc::start(
        &gdir,
        &format!("http://127.0.0.1:{front}"),
        &w.ca,
        TOKEN_SECRET,
        &[],
    )
    .await;
    w.gateways.push(gw);
    let token = w.mint("una", &[("user", "u")], ALL);
    let mut b = Tenant::new(&w, 1, Transport::GrpcWeb, token).await;
    let r = b
        .create(b.def(), &[])
        .await
        .expect("create behind the front");
    let mut sb = b.sb(&r).await;
    let id = exec_pty(&mut sb, &["sleep", "30"], 24, 80)
        .await
        .expect("a terminal behind the front");
    let mut term = terminal_client(&sb.url, Transport::GrpcWeb, &sb.jwt).await;
    assert_code(
        resize(&mut term, &sb, &id, 30, 100).await,
        Code::Unimplemented,
        "resize where the upstream lacks it",
    );
}
