//! Hostile input against a real sandboxd process, over real sockets:
//!
//! - property tests over decoded requests: for every RPC of both services, requests that
//!   decode fine but carry what a hostile or broken client sends (absurd timeouts, 10k
//!   tags, megabyte strings, NUL bytes, `..` paths, offsets near 2^64, ids of other
//!   objects, tokens for another task), each answered with a typed status;
//! - a wire fuzzer below gRPC: malformed gRPC and gRPC-web framing, huge declared
//!   lengths, bad varints and wire types, invalid UTF-8, wrong content types and methods,
//!   garbage and forged tokens, over HTTP/2 (native gRPC) and HTTP/1.1 (gRPC-web);
//! - the documented bounds, one by one.
//!
//! Every reply must be a typed gRPC status (for anything sent as gRPC or gRPC-web), never
//! INTERNAL or UNKNOWN, never an HTTP 5xx, never a dropped connection; a message that does
//! not decode gets INVALID_ARGUMENT and one over the size limit RESOURCE_EXHAUSTED; and
//! sandboxd never panics and still serves afterwards. Seeds are fixed (and printed), so a
//! failure replays.

mod common;

use bytes::Bytes;
use common::wire::{frame, Outcome, Proto, RawClient};
use common::*;
use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::Code;

const CP_SERVICE: &str = "modal.client.ModalClient";
const TCR_SERVICE: &str = "modal.task_command_router.TaskCommandRouter";

const CP_RPCS: [&str; 35] = [
    "AppGetOrCreate",
    "EnvironmentGetOrCreate",
    "AuthTokenGet",
    "ClientHello",
    "ImageGetOrCreate",
    "ImageJoinStreaming",
    "ImageFromId",
    "ImageDelete",
    "VolumeHeartbeat",
    "SecretGetOrCreate",
    "VolumeGetOrCreate",
    "SandboxCreateV2",
    "SandboxCreate",
    "SandboxGetTaskId",
    "TaskGetCommandRouterAccess",
    "SandboxGetCommandRouterAccess",
    "SandboxWait",
    "SandboxWaitV2",
    "SandboxTerminate",
    "SandboxTerminateV2",
    "SandboxTagsGet",
    "SandboxTagsGetV2",
    "SandboxTagsSet",
    "SandboxTagsSetV2",
    "SandboxList",
    "SandboxListV2",
    "SandboxGetFromName",
    "SandboxGetFromNameV2",
    "SandboxGetLogs",
    "SandboxStdinWrite",
    "SandboxGetTunnels",
    "SandboxGetTunnelsV2",
    "SandboxCreateConnectToken",
    "SandboxCreateConnectTokenV2",
    "SandboxWaitUntilReady",
];

const TCR_RPCS: [&str; 15] = [
    "TaskExecStart",
    "TaskExecStdioRead",
    "TaskExecStdinWrite",
    "TaskExecStdinWriteStream",
    "TaskExecStdinStatus",
    "TaskExecWait",
    "TaskExecPoll",
    "SandboxStdioReadV2",
    "SandboxStdinWriteV2",
    "SandboxWaitUntilReady",
    "TaskSnapshotFilesystem",
    "TaskSnapshotDirectory",
    "TaskMountDirectory",
    "TaskUnmountDirectory",
    "TaskReloadVolumes",
];

/// Calls that may rightly stay open longer than a client waits: they wait for an end,
/// stream output, or block on a pipe nobody reads (back-pressure).
const MAY_WAIT: [&str; 16] = [
    "ImageJoinStreaming",
    "SandboxWait",
    "SandboxWaitV2",
    "SandboxGetLogs",
    "SandboxWaitUntilReady",
    "TaskExecStdioRead",
    "SandboxStdioReadV2",
    "TaskExecWait",
    "TaskExecStdinWrite",
    "TaskExecStdinWriteStream",
    "SandboxStdinWriteV2",
    "SandboxStdinWrite",
    "TaskSnapshotFilesystem",
    "TaskSnapshotDirectory",
    "SandboxCreateV2",
    "SandboxCreate",
];

/// Codes a reply may never carry: they say the server failed, not the request.
const NEVER: [Code; 3] = [Code::Internal, Code::Unknown, Code::DataLoss];

/// Real objects of the sandboxd under test, for requests to name.
struct Ctx {
    app_id: String,
    image_id: String,
    /// A running sandbox (no network, to keep creates cheap) and its task and token.
    sandbox_id: String,
    task_id: String,
    jwt: String,
    /// A command that ended, and one (`cat`) that reads stdin until EOF.
    exec_done: String,
    exec_cat: String,
    /// A terminated sandbox.
    ended_sandbox_id: String,
    ended_task_id: String,
    ended_jwt: String,
}

async fn context(env: &mut Env) -> Ctx {
    let mut def = env.def(&[]);
    def.block_network = true;
    def.timeout_secs = 600;
    let mut sb = env.create(def.clone()).await.expect("create");
    let exec_done = sb.exec(&["echo", "done"]).await;
    assert_eq!(sb.wait(&exec_done).await, Exit::Code(0));
    let exec_cat = sb.exec(&["cat"]).await;
    let ended = env.create(def).await.expect("create");
    env.terminate(&ended.id).await;
    Ctx {
        app_id: env.app_id.clone(),
        image_id: env.image_id.clone(),
        sandbox_id: sb.id.clone(),
        task_id: sb.task_id.clone(),
        jwt: sb.jwt.clone(),
        exec_done,
        exec_cat,
        ended_sandbox_id: ended.id,
        ended_task_id: ended.task_id,
        ended_jwt: ended.jwt,
    }
}

/// Values a hostile or broken client sends.
struct Gen<'a> {
    rng: StdRng,
    ctx: &'a Ctx,
    /// Keep every value small (the wire fuzzer breaks small messages; the big values
    /// are the property test's).
    small: bool,
}

impl Gen<'_> {
    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.rng.random_range(0..xs.len())].clone()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn ascii(&mut self, n: usize) -> String {
        // long strings repeat a random piece: as hostile, and cheap to make
        let piece: String = (0..n.min(64))
            .map(|_| self.rng.random_range(0x20u8..0x7f) as char)
            .collect();
        piece.repeat(n.div_ceil(64).max(1))[..n].to_string()
    }

    /// Any string, weighted toward the dangerous.
    fn s(&mut self) -> String {
        match self.rng.random_range(0..100) {
            0..=9 => String::new(),
            10..=29 => {
                let c = self.ctx;
                self.pick(&[
                    c.app_id.clone(),
                    c.image_id.clone(),
                    c.sandbox_id.clone(),
                    c.task_id.clone(),
                    c.exec_done.clone(),
                    c.exec_cat.clone(),
                    c.ended_sandbox_id.clone(),
                    c.ended_task_id.clone(),
                ])
            }
            30..=44 => {
                let n = self.rng.random_range(1..40);
                self.ascii(n)
            }
            45..=54 => self.pick(&[
                "itest".to_string(),
                "main".into(),
                "sb-AAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                "sb-0123456789012345678901".into(),
                "im-hostbase0000000000000".into(),
                "ta-nope".into(),
                "0-0".into(),
                "-1".into(),
                "18446744073709551615".into(),
            ]),
            55..=59 => "é漢🦀\u{202e}\u{feff}".repeat(self.rng.random_range(1..20)),
            60..=64 => format!("a\0b{}", self.ascii(3)),
            65..=72 => self.pick(&[
                "..".to_string(),
                "/../../../../etc/passwd".into(),
                "/proc/1/root/etc".into(),
                "/".into(),
                "/tmp/../..".into(),
                "/__modal/.bin".into(),
                "/usr".into(),
                "relative/path".into(),
                "/dev/sda".into(),
                "/sys/kernel".into(),
            ]),
            73..=80 => "\u{1}\n\r\t\u{7f}".repeat(self.rng.random_range(1..50)),
            _ if self.small => self.ascii(100),
            81..=93 => {
                let n = self.pick(&[1 << 10, 4 << 10, 100 << 10]);
                self.ascii(n)
            }
            _ => self.ascii(1 << 20),
        }
    }

    fn f32(&mut self) -> f32 {
        self.pick(&[
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1.0,
            0.0,
            -0.0,
            0.001,
            0.5,
            1e30,
            f32::MAX,
            f32::MIN_POSITIVE,
            3.0,
        ])
    }

    fn u64(&mut self) -> u64 {
        self.pick(&[
            0,
            1,
            3,
            5,
            64 << 10,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            u32::MAX as u64,
        ])
    }

    fn u32(&mut self) -> u32 {
        self.pick(&[
            0,
            1,
            2,
            60,
            86_400,
            86_401,
            65_535,
            65_536,
            u32::MAX,
            1 << 31,
        ])
    }

    fn i32(&mut self) -> i32 {
        self.pick(&[0, 1, 2, 3, 4, 5, 7, 99, -1, i32::MIN, i32::MAX])
    }

    fn bytes(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0 => vec![],
            1..=6 => (0..self.rng.random_range(1..64))
                .map(|_| self.rng.random())
                .collect(),
            7 | 8 => self.s().into_bytes(),
            _ if self.small => vec![b'x'; 100],
            _ => vec![b'x'; 1 << 20],
        }
    }

    fn strings(&mut self) -> Vec<String> {
        match self.rng.random_range(0..10) {
            0 => vec![],
            1..=7 => (0..self.rng.random_range(1..4)).map(|_| self.s()).collect(),
            _ if self.small => vec!["x".into(); 10],
            8 => vec!["a".repeat(1 << 20); 4], // 4 MB of argv
            _ => vec!["x".into(); 5000],
        }
    }

    fn map(&mut self) -> std::collections::HashMap<String, String> {
        match self.rng.random_range(0..10) {
            0..=7 => (0..self.rng.random_range(0..4))
                .map(|_| (self.s(), self.s()))
                .collect(),
            _ if self.small => Default::default(),
            _ => (0..5000).map(|i| (format!("K{i}"), "v".into())).collect(),
        }
    }

    fn tags(&mut self) -> Vec<pb::SandboxTag> {
        match self.rng.random_range(0..10) {
            0..=6 => (0..self.rng.random_range(0..4))
                .map(|_| pb::SandboxTag {
                    tag_name: self.s(),
                    tag_value: self.s(),
                })
                .collect(),
            _ if self.small => vec![],
            // today's 10,000 tags of 100 bytes
            7 | 8 => (0..10_000)
                .map(|i| pb::SandboxTag {
                    tag_name: format!("tag-{i}"),
                    tag_value: "v".repeat(100),
                })
                .collect(),
            _ => vec![pb::SandboxTag {
                tag_name: "k".into(),
                tag_value: "v".repeat(1 << 20),
            }],
        }
    }

    /// A command line: one that runs here, or anything.
    fn argv(&mut self) -> Vec<String> {
        if self.chance(0.4) {
            let safe: [&[&str]; 4] = [&["true"], &["echo", "x"], &["cat"], &["sh", "-c", "exit 3"]];
            return self.pick(&safe).iter().map(|s| s.to_string()).collect();
        }
        self.strings()
    }

    fn sandbox(&mut self) -> pb::Sandbox {
        let image_id = if self.chance(0.7) {
            self.ctx.image_id.clone()
        } else {
            self.s()
        };
        pb::Sandbox {
            entrypoint_args: if self.chance(0.5) {
                vec![]
            } else {
                self.argv()
            },
            image_id,
            timeout_secs: if self.chance(0.5) { 60 } else { self.u32() },
            idle_timeout_secs: self.chance(0.3).then(|| self.u32()),
            workdir: self.chance(0.3).then(|| self.s()),
            block_network: self.chance(0.9),
            name: self.chance(0.3).then(|| self.s()),
            secret_ids: if self.chance(0.8) {
                vec![]
            } else {
                self.strings()
            },
            resources: self.chance(0.5).then(|| pb::Resources {
                memory_mb: self.u32(),
                memory_mb_max: if self.chance(0.5) { 0 } else { self.u32() },
                milli_cpu: self.u32(),
                milli_cpu_max: if self.chance(0.5) { 0 } else { self.u32() },
                ephemeral_disk_mb: if self.chance(0.6) { 0 } else { self.u32() },
                ..Default::default()
            }),
            volume_mounts: if self.chance(0.8) {
                vec![]
            } else {
                (0..self.rng.random_range(1..40))
                    .map(|_| pb::VolumeMount {
                        volume_id: self.s(),
                        mount_path: self.s(),
                        read_only: self.rng.random(),
                        ..Default::default()
                    })
                    .collect()
            },
            open_ports_oneof: self.chance(0.2).then(|| {
                pb::sandbox::OpenPortsOneof::OpenPorts(pb::PortSpecs {
                    ports: (0..self.rng.random_range(0..50))
                        .map(|_| pb::PortSpec {
                            port: self.u32(),
                            ..Default::default()
                        })
                        .collect(),
                })
            }),
            readiness_probe: self.chance(0.2).then(|| pb::Probe {
                interval_ms: Some(self.u32()),
                probe_oneof: Some(if self.rng.random() {
                    pb::probe::ProbeOneof::TcpPort(self.u32())
                } else {
                    pb::probe::ProbeOneof::ExecCommand(pb::probe::ExecCommand {
                        argv: self.strings(),
                    })
                }),
            }),
            environment_variables: self.chance(0.3).then(|| pb::StringMap {
                contents: self.map(),
            }),
            ..Default::default()
        }
    }

    fn task(&mut self) -> String {
        if self.chance(0.8) {
            self.ctx.task_id.clone()
        } else if self.chance(0.5) {
            self.ctx.ended_task_id.clone()
        } else {
            self.s()
        }
    }

    fn exec(&mut self) -> String {
        if self.chance(0.8) {
            let c = self.ctx;
            self.pick(&[c.exec_done.clone(), c.exec_cat.clone()])
        } else {
            self.s()
        }
    }

    fn sandbox_id(&mut self) -> String {
        if self.chance(0.6) {
            self.ctx.sandbox_id.clone()
        } else if self.chance(0.5) {
            self.ctx.ended_sandbox_id.clone()
        } else {
            self.s()
        }
    }

    /// A short wait, or an absurd one: the client gives up after a few seconds anyway.
    fn timeout(&mut self) -> f32 {
        if self.chance(0.6) {
            self.pick(&[0.0, 0.0, 0.1])
        } else {
            self.f32()
        }
    }

    fn app(&mut self) -> String {
        if self.chance(0.7) {
            self.ctx.app_id.clone()
        } else {
            self.s()
        }
    }

    /// The encoded request message of `rpc`, with hostile values.
    fn message(&mut self, rpc: &str, service: &str) -> Vec<u8> {
        use tcr::*;
        if service == TCR_SERVICE {
            return match rpc {
                "TaskExecStart" => TaskExecStartRequest {
                    task_id: self.task(),
                    exec_id: if self.chance(0.7) {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        self.s()
                    },
                    command_args: self.argv(),
                    stdout_config: self.i32(),
                    stderr_config: self.i32(),
                    timeout_secs: self.chance(0.5).then(|| self.u32()),
                    workdir: self.chance(0.3).then(|| self.s()),
                    secret_ids: if self.chance(0.8) {
                        vec![]
                    } else {
                        self.strings()
                    },
                    env: if self.chance(0.5) {
                        Default::default()
                    } else {
                        self.map()
                    },
                    ..Default::default()
                }
                .encode_to_vec(),
                "TaskExecStdioRead" => TaskExecStdioReadRequest {
                    task_id: self.task(),
                    exec_id: self.exec(),
                    offset: self.u64(),
                    file_descriptor: self.i32(),
                }
                .encode_to_vec(),
                "TaskExecStdinWrite" => TaskExecStdinWriteRequest {
                    task_id: self.task(),
                    exec_id: self.exec(),
                    offset: self.u64(),
                    data: self.bytes(),
                    eof: self.chance(0.1),
                }
                .encode_to_vec(),
                "TaskExecStdinWriteStream" => {
                    // several messages in one body: a start, data, maybe an end
                    let mut body = Vec::new();
                    let start = TaskExecStdinWriteStreamRequest {
                        payload: Some(task_exec_stdin_write_stream_request::Payload::Start(
                            TaskExecStdinWriteStreamStart {
                                task_id: self.task(),
                                exec_id: self.exec(),
                                offset: self.u64(),
                            },
                        )),
                    };
                    if self.chance(0.8) {
                        body.push(start.encode_to_vec());
                    }
                    for _ in 0..self.rng.random_range(0..3) {
                        body.push(
                            TaskExecStdinWriteStreamRequest {
                                payload: Some(task_exec_stdin_write_stream_request::Payload::Data(
                                    self.bytes(),
                                )),
                            }
                            .encode_to_vec(),
                        );
                    }
                    if self.chance(0.2) {
                        body.push(
                            TaskExecStdinWriteStreamRequest {
                                payload: Some(task_exec_stdin_write_stream_request::Payload::End(
                                    TaskExecStdinWriteStreamEnd {},
                                )),
                            }
                            .encode_to_vec(),
                        );
                    }
                    // frames are joined by the caller; a marker separates them here
                    return join_messages(body);
                }
                "TaskExecStdinStatus" => TaskExecStdinStatusRequest {
                    task_id: self.task(),
                    exec_id: self.exec(),
                }
                .encode_to_vec(),
                "TaskExecWait" => TaskExecWaitRequest {
                    task_id: self.task(),
                    exec_id: self.exec(),
                }
                .encode_to_vec(),
                "TaskExecPoll" => TaskExecPollRequest {
                    task_id: self.task(),
                    exec_id: self.exec(),
                }
                .encode_to_vec(),
                "SandboxStdioReadV2" => SandboxStdioReadV2Request {
                    task_id: self.task(),
                    offset: self.u64(),
                    file_descriptor: self.i32(),
                }
                .encode_to_vec(),
                "SandboxStdinWriteV2" => SandboxStdinWriteV2Request {
                    task_id: self.task(),
                    offset: self.u64(),
                    data: self.bytes(),
                    eof: self.chance(0.1),
                }
                .encode_to_vec(),
                "SandboxWaitUntilReady" => SandboxWaitUntilReadyTcrRequest {
                    task_id: self.task(),
                    timeout: self.timeout(),
                }
                .encode_to_vec(),
                "TaskSnapshotFilesystem" => TaskSnapshotFilesystemRequest {
                    task_id: self.task(),
                    ttl_seconds: self
                        .chance(0.5)
                        .then(|| self.pick(&[i64::MIN, -1, 0, 1, i64::MAX])),
                    ..Default::default()
                }
                .encode_to_vec(),
                "TaskSnapshotDirectory" => TaskSnapshotDirectoryRequest {
                    task_id: self.task(),
                    path: self.path(),
                    ttl_seconds: self
                        .chance(0.5)
                        .then(|| self.pick(&[i64::MIN, -1, 0, 1, i64::MAX])),
                    ..Default::default()
                }
                .encode_to_vec(),
                "TaskMountDirectory" => TaskMountDirectoryRequest {
                    task_id: self.task(),
                    path: self.path(),
                    image_id: if self.chance(0.5) {
                        self.ctx.image_id.clone()
                    } else if self.chance(0.5) {
                        String::new()
                    } else {
                        self.s()
                    },
                    ..Default::default()
                }
                .encode_to_vec(),
                "TaskUnmountDirectory" => TaskUnmountDirectoryRequest {
                    task_id: self.task(),
                    path: self.path(),
                    ..Default::default()
                }
                .encode_to_vec(),
                "TaskReloadVolumes" => TaskReloadVolumesRequest {
                    task_id: self.task(),
                    ..Default::default()
                }
                .encode_to_vec(),
                other => panic!("no generator for {other}"),
            };
        }
        match rpc {
            "AppGetOrCreate" => pb::AppGetOrCreateRequest {
                app_name: self.s(),
                environment_name: if self.chance(0.5) {
                    String::new()
                } else {
                    self.s()
                },
                object_creation_type: self.i32(),
            }
            .encode_to_vec(),
            "EnvironmentGetOrCreate" => pb::EnvironmentGetOrCreateRequest {
                deployment_name: self.s(),
                object_creation_type: self.i32(),
            }
            .encode_to_vec(),
            "AuthTokenGet" => pb::AuthTokenGetRequest {}.encode_to_vec(),
            "ClientHello" => vec![],
            "ImageGetOrCreate" => {
                let steps: Vec<String> = match self.rng.random_range(0..10) {
                    0..=5 => {
                        let mut v = vec!["FROM debian:bookworm-slim".to_string()];
                        for _ in 0..self.rng.random_range(0..3) {
                            let (env, junk) = (format!("ENV {}", self.ascii(8)), self.s());
                            v.push(self.pick(&[
                                "ENV A=1".to_string(),
                                "WORKDIR /w".into(),
                                "RUN true".into(),
                                env,
                                junk,
                            ]));
                        }
                        v
                    }
                    6 | 7 if self.small => vec![],
                    6 => vec!["RUN true".into(); 2000],
                    7 => vec!["x".repeat(100 << 10)],
                    _ => self.strings(),
                };
                pb::ImageGetOrCreateRequest {
                    app_id: self.app(),
                    existing_image_id: if self.chance(0.8) {
                        String::new()
                    } else {
                        self.s()
                    },
                    image: self.chance(0.9).then(|| pb::Image {
                        dockerfile_commands: steps,
                        context_files: if self.chance(0.8) {
                            vec![]
                        } else {
                            vec![pb::ImageContextFile {
                                filename: self.s(),
                                data: self.bytes(),
                            }]
                        },
                        base_images: if self.chance(0.9) {
                            vec![]
                        } else {
                            vec![pb::BaseImage {
                                image_id: self.s(),
                                docker_tag: self.s(),
                            }]
                        },
                        ..Default::default()
                    }),
                    force_build: self.chance(0.1),
                    ..Default::default()
                }
                .encode_to_vec()
            }
            "ImageJoinStreaming" => pb::ImageJoinStreamingRequest {
                image_id: if self.chance(0.5) {
                    self.ctx.image_id.clone()
                } else {
                    self.s()
                },
                timeout: self.timeout(),
                last_entry_id: self.s(),
                include_logs_for_finished: self.rng.random(),
            }
            .encode_to_vec(),
            "ImageFromId" => pb::ImageFromIdRequest { image_id: self.s() }.encode_to_vec(),
            "ImageDelete" => pb::ImageDeleteRequest { image_id: self.s() }.encode_to_vec(),
            "VolumeHeartbeat" => pb::VolumeHeartbeatRequest {
                volume_id: self.s(),
            }
            .encode_to_vec(),
            "SecretGetOrCreate" => pb::SecretGetOrCreateRequest {
                deployment_name: self.s(),
                object_creation_type: self.i32(),
                env_dict: self.map(),
                app_id: self.app(),
                required_keys: self.strings(),
                ..Default::default()
            }
            .encode_to_vec(),
            "VolumeGetOrCreate" => pb::VolumeGetOrCreateRequest {
                deployment_name: self.s(),
                object_creation_type: self.i32(),
                app_id: self.app(),
                version: self.i32(),
                ..Default::default()
            }
            .encode_to_vec(),
            "SandboxCreateV2" => pb::SandboxCreateV2Request {
                app_id: self.app(),
                definition: self.chance(0.95).then(|| self.sandbox()),
                tags: self.tags(),
                ephemeral_secrets: self.chance(0.2).then(|| pb::StringMap {
                    contents: self.map(),
                }),
                secret_sources: if self.chance(0.8) {
                    vec![]
                } else {
                    vec![pb::SecretSource {
                        source: Some(pb::secret_source::Source::SecretId(self.s())),
                    }]
                },
                ..Default::default()
            }
            .encode_to_vec(),
            "SandboxCreate" => pb::SandboxCreateRequest {
                app_id: self.app(),
                definition: self.chance(0.95).then(|| self.sandbox()),
                tags: self.tags(),
                ..Default::default()
            }
            .encode_to_vec(),
            "SandboxGetTaskId" => pb::SandboxGetTaskIdRequest {
                sandbox_id: self.sandbox_id(),
                timeout: self.chance(0.5).then(|| self.timeout()),
                wait_until_ready: self.rng.random(),
            }
            .encode_to_vec(),
            "TaskGetCommandRouterAccess" => pb::TaskGetCommandRouterAccessRequest {
                task_id: self.task(),
            }
            .encode_to_vec(),
            "SandboxGetCommandRouterAccess" => pb::SandboxGetCommandRouterAccessRequest {
                target: match self.rng.random_range(0..3) {
                    0 => None,
                    1 => Some(
                        pb::sandbox_get_command_router_access_request::Target::SandboxId(
                            self.sandbox_id(),
                        ),
                    ),
                    _ => Some(
                        pb::sandbox_get_command_router_access_request::Target::TaskId(self.task()),
                    ),
                },
            }
            .encode_to_vec(),
            "SandboxWait" | "SandboxWaitV2" => pb::SandboxWaitRequest {
                sandbox_id: self.sandbox_id(),
                timeout: self.timeout(),
            }
            .encode_to_vec(),
            // terminating the context's own sandboxes would end the fuzz early: only the
            // ended one and junk
            "SandboxTerminate" | "SandboxTerminateV2" => pb::SandboxTerminateRequest {
                sandbox_id: if self.rng.random() {
                    self.ctx.ended_sandbox_id.clone()
                } else {
                    let s = self.s();
                    if s == self.ctx.sandbox_id {
                        String::new()
                    } else {
                        s
                    }
                },
            }
            .encode_to_vec(),
            "SandboxTagsGet" | "SandboxTagsGetV2" => pb::SandboxTagsGetRequest {
                sandbox_id: self.sandbox_id(),
            }
            .encode_to_vec(),
            "SandboxTagsSet" | "SandboxTagsSetV2" => pb::SandboxTagsSetRequest {
                sandbox_id: self.sandbox_id(),
                tags: self.tags(),
                environment_name: self.s(),
            }
            .encode_to_vec(),
            "SandboxList" | "SandboxListV2" => pb::SandboxListRequest {
                app_id: if self.rng.random() {
                    String::new()
                } else {
                    self.app()
                },
                before_timestamp: self.pick(&[0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, 1.7e9]),
                include_finished: self.rng.random(),
                tags: self.tags(),
                environment_name: self.s(),
            }
            .encode_to_vec(),
            "SandboxGetFromName" | "SandboxGetFromNameV2" => pb::SandboxGetFromNameRequest {
                sandbox_name: self.s(),
                app_name: if self.rng.random() {
                    "itest".into()
                } else {
                    self.s()
                },
                environment_name: self.s(),
                include_terminated: self.rng.random(),
            }
            .encode_to_vec(),
            "SandboxGetLogs" => pb::SandboxGetLogsRequest {
                sandbox_id: self.sandbox_id(),
                file_descriptor: self.i32(),
                timeout: self.timeout(),
                last_entry_id: self.s(),
            }
            .encode_to_vec(),
            "SandboxStdinWrite" => pb::SandboxStdinWriteRequest {
                sandbox_id: self.sandbox_id(),
                input: self.bytes(),
                index: self.u32(),
                eof: self.chance(0.1),
            }
            .encode_to_vec(),
            "SandboxGetTunnels" | "SandboxGetTunnelsV2" => pb::SandboxGetTunnelsRequest {
                sandbox_id: self.sandbox_id(),
                timeout: self.timeout(),
            }
            .encode_to_vec(),
            "SandboxCreateConnectToken" | "SandboxCreateConnectTokenV2" => {
                pb::SandboxCreateConnectTokenRequest {
                    sandbox_id: self.sandbox_id(),
                    user_metadata: self.s(),
                    port: self.chance(0.7).then(|| self.u32()),
                }
                .encode_to_vec()
            }
            "SandboxWaitUntilReady" => pb::SandboxWaitUntilReadyRequest {
                sandbox_id: self.sandbox_id(),
                timeout: self.timeout(),
            }
            .encode_to_vec(),
            other => panic!("no generator for {other}"),
        }
    }

    fn path(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0..=5 => self.s().into_bytes(),
            6 => b"/mnt/\xff\xfe".to_vec(),
            7 => format!("/tmp/m{}", self.rng.random_range(0..5)).into_bytes(),
            _ => self.bytes(),
        }
    }
}

/// Several encoded messages of one client stream, to be framed one by one.
const STREAM_SEP: &[u8] = b"\0--next-message--\0";

fn join_messages(msgs: Vec<Vec<u8>>) -> Vec<u8> {
    msgs.join(STREAM_SEP)
}

/// The request body: each message framed (client streams carry several).
fn framed(rpc: &str, msg: &[u8]) -> Vec<u8> {
    if rpc == "TaskExecStdinWriteStream" {
        if msg.is_empty() {
            return vec![];
        }
        let mut out = Vec::new();
        let mut rest = msg;
        loop {
            match rest.windows(STREAM_SEP.len()).position(|w| w == STREAM_SEP) {
                Some(i) => {
                    out.extend(frame(0, &rest[..i]));
                    rest = &rest[i + STREAM_SEP.len()..];
                }
                None => {
                    out.extend(frame(0, rest));
                    return out;
                }
            }
        }
    }
    frame(0, msg)
}

/// How a request is dressed: transport, content type, credentials.
#[derive(Clone, Debug)]
struct Dress {
    proto: Proto,
    content_type: Option<String>,
    method: &'static str,
    headers: Vec<(String, Vec<u8>)>,
    /// The credentials are right (for the service called).
    authorized: bool,
}

fn request(path: &str, dress: &Dress, body: Vec<u8>) -> http::Request<Bytes> {
    let mut b = http::Request::builder().method(dress.method).uri(path);
    if let Some(ct) = &dress.content_type {
        b = b.header("content-type", ct.as_str());
    }
    if dress.proto == Proto::H2 {
        b = b.header("te", "trailers");
    } else {
        b = b.header("x-grpc-web", "1");
    }
    for (k, v) in &dress.headers {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            b = b.header(k.as_str(), v);
        }
    }
    b.body(Bytes::from(body)).unwrap()
}

/// The right content type for gRPC over `proto`.
fn grpc_ct(proto: Proto) -> &'static str {
    match proto {
        Proto::H2 => "application/grpc",
        Proto::Http1 => "application/grpc-web+proto",
    }
}

fn good_headers(service: &str, ctx: &Ctx) -> Vec<(String, Vec<u8>)> {
    if service == CP_SERVICE {
        vec![
            ("x-modal-token-id".into(), TOKEN_ID.into()),
            ("x-modal-token-secret".into(), TOKEN_SECRET.into()),
            ("x-modal-client-type".into(), b"1".to_vec()),
        ]
    } else {
        vec![(
            "authorization".into(),
            format!("Bearer {}", ctx.jwt).into_bytes(),
        )]
    }
}

/// What the oracle knows about a request: what it expects back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Any typed status but the forbidden ones.
    Typed,
    /// This code, exactly (given right credentials).
    Exactly(Code),
}

/// Tally of outcomes, for the report.
#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    waited: AtomicUsize,
    http4xx: AtomicUsize,
    by_code: Mutex<BTreeMap<String, usize>>,
    time: Mutex<BTreeMap<String, f64>>,
}

impl Tally {
    fn code(&self, c: Code) {
        *self
            .by_code
            .lock()
            .unwrap()
            .entry(format!("{c:?}"))
            .or_default() += 1;
    }

    fn slowest(&self) -> String {
        let t = self.time.lock().unwrap();
        let mut v: Vec<_> = t.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1));
        format!(" slowest RPCs (total seconds): {:?}", &v[..v.len().min(6)])
    }

    fn summary(&self) -> String {
        format!(
            "{} requests: {:?}, {} still waiting when the client gave up (allowed calls), {} HTTP 4xx (not gRPC)",
            self.requests.load(Ordering::SeqCst),
            self.by_code.lock().unwrap(),
            self.waited.load(Ordering::SeqCst),
            self.http4xx.load(Ordering::SeqCst)
        )
    }
}

/// Check one outcome; `Err` describes the failure.
fn judge(
    rpc: &str,
    known_service: bool,
    dress: &Dress,
    expect: Expect,
    outcome: &Outcome,
    tally: &Tally,
) -> Result<(), String> {
    tally.requests.fetch_add(1, Ordering::SeqCst);
    let reply = match outcome {
        Outcome::Reply(r) => r,
        Outcome::TimedOut if MAY_WAIT.contains(&rpc) => {
            tally.waited.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        other => return Err(format!("no reply: {other:?}")),
    };
    if reply.http >= 500 {
        return Err(format!("HTTP {}", reply.http));
    }
    let is_grpc_request = match dress.proto {
        Proto::H2 => true,
        Proto::Http1 => {
            dress.method == "POST"
                && dress
                    .content_type
                    .as_deref()
                    .is_some_and(|c| c.starts_with("application/grpc-web"))
        }
    };
    let Some((code, message)) = &reply.grpc else {
        // not a gRPC request (HTTP/1.1 without a gRPC-web content type, GET): a 4xx
        if !is_grpc_request && (400..500).contains(&reply.http) {
            tally.http4xx.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        return Err(format!("HTTP {} without a gRPC status", reply.http));
    };
    tally.code(*code);
    if NEVER.contains(code) {
        return Err(format!("{code:?}: {message}"));
    }
    if !known_service || !is_grpc_request {
        return Ok(());
    }
    if let Expect::Exactly(want) = expect {
        let unauthorized_cp = !dress.authorized && *code == Code::Unauthenticated;
        if *code != want && *code != Code::Unimplemented && !unauthorized_cp {
            return Err(format!("expected {want:?}, got {code:?}: {message}"));
        }
    }
    Ok(())
}

/// Start sandboxd and the context the requests name.
async fn setup() -> (Env, Ctx) {
    let mut env = Env::new().await;
    let ctx = context(&mut env).await;
    (env, ctx)
}

/// After the storm: no panic in the log, the process alive, and a normal flow works.
async fn still_serves(env: &mut Env) {
    assert!(env.sd.alive(), "sandboxd is alive");
    let log = env.sd.log_tail(1_000_000);
    assert!(!log.contains("panicked"), "sandboxd panicked:\n{}", {
        let i = log.find("panicked").unwrap();
        &log[i.saturating_sub(500)..(i + 2000).min(log.len())]
    });
    let mut def = env.def(&[]);
    def.block_network = true;
    let mut sb = env.create(def).await.expect("create after the storm");
    assert_eq!(sb.sh("echo still-serving").await, "still-serving\n");
    env.terminate(&sb.id).await;
}

/// Run `count` requests made by `make` on `workers` concurrent connections; every
/// failure is collected (with the seed of its request) and reported together.
async fn storm<F>(port: u16, workers: usize, count: usize, seed: u64, tally: Arc<Tally>, make: F)
where
    F: Fn(&mut StdRng) -> (String, bool, Dress, Vec<u8>, Expect) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (make, next, failures, tally) =
            (make.clone(), next.clone(), failures.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut h2 = RawClient::new(port, Proto::H2);
            let mut h1 = RawClient::new(port, Proto::Http1);
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    return;
                }
                let mut rng =
                    StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let (path, known, dress, body, expect) = make(&mut rng);
                let rpc = path.rsplit('/').next().unwrap_or("").to_string();
                let client = match dress.proto {
                    Proto::H2 => &mut h2,
                    Proto::Http1 => &mut h1,
                };
                let t0 = Instant::now();
                // a call that may wait is given up on sooner (a waiting call is fine)
                let patience = if MAY_WAIT.contains(&rpc.as_str()) {
                    1500
                } else {
                    15_000
                };
                let outcome = client
                    .send(
                        request(&path, &dress, body),
                        Duration::from_millis(patience),
                    )
                    .await;
                *tally.time.lock().unwrap().entry(rpc.clone()).or_default() +=
                    t0.elapsed().as_secs_f64();
                if let Err(why) = judge(&rpc, known, &dress, expect, &outcome, &tally) {
                    failures.lock().unwrap().push(format!(
                        "request #{i} (worker {w}) {path} {:?} ct={:?} {} authorized={}: {why}",
                        dress.proto, dress.content_type, dress.method, dress.authorized
                    ));
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {count} requests (seed {seed:#x}) were answered wrongly:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn rpc_path(rng: &mut StdRng) -> (&'static str, &'static str) {
    if rng.random_bool(CP_RPCS.len() as f64 / (CP_RPCS.len() + TCR_RPCS.len()) as f64) {
        (CP_SERVICE, CP_RPCS[rng.random_range(0..CP_RPCS.len())])
    } else {
        (TCR_SERVICE, TCR_RPCS[rng.random_range(0..TCR_RPCS.len())])
    }
}

/// Property test over decoded requests: every RPC, hostile values, well-formed frames,
/// right credentials (and sometimes a token for another task). Never a failure status.
#[tokio::test]
async fn decoded_hostile_requests_get_typed_statuses() {
    let (mut env, ctx) = setup().await;
    let ctx = Arc::new(ctx);
    let tally = Arc::new(Tally::default());
    let per_rpc = 40;
    let all: Vec<(&str, &str)> = CP_RPCS
        .iter()
        .map(|r| (CP_SERVICE, *r))
        .chain(TCR_RPCS.iter().map(|r| (TCR_SERVICE, *r)))
        .collect();
    let count = all.len() * per_rpc;
    let seed = 0x5eed_0001;
    let started = Instant::now();
    let c2 = ctx.clone();
    storm(env.sd.port, 6, count, seed, tally.clone(), move |rng| {
        let i = rng.random_range(0..all.len());
        let (service, rpc) = all[i];
        let proto = if rng.random_bool(0.7) {
            Proto::H2
        } else {
            Proto::Http1
        };
        let mut headers = good_headers(service, &c2);
        if service == TCR_SERVICE && rng.random_bool(0.1) {
            // a real token, for another task
            headers = vec![(
                "authorization".into(),
                format!("Bearer {}", c2.ended_jwt).into_bytes(),
            )];
        }
        let mut g = Gen {
            rng: StdRng::seed_from_u64(rng.random()),
            ctx: &c2,
            small: false,
        };
        let msg = g.message(rpc, service);
        (
            format!("/{service}/{rpc}"),
            true,
            Dress {
                proto,
                content_type: Some(grpc_ct(proto).into()),
                method: "POST",
                headers,
                authorized: true,
            },
            framed(rpc, &msg),
            Expect::Typed,
        )
    })
    .await;
    eprintln!(
        "property test over decoded requests ({} RPCs x {per_rpc}): {} in {:.1}s",
        all_len(),
        tally.summary() + &tally.slowest(),
        started.elapsed().as_secs_f64()
    );
    still_serves(&mut env).await;
}

fn all_len() -> usize {
    CP_RPCS.len() + TCR_RPCS.len()
}

/// How the bytes of a request are broken, and what that must give.
fn corrupt(rng: &mut StdRng, rpc: &str, msg: Vec<u8>) -> (Vec<u8>, Expect, &'static str) {
    let bad = Expect::Exactly(Code::InvalidArgument);
    match rng.random_range(0..16) {
        // a varint that never ends
        0 => (frame(0, &[0xff; 11]), bad, "bad varint"),
        // a key with wire type 6 or 7 (there are none)
        1 => (frame(0, &[0x0e, 0x01]), bad, "bad wire type"),
        // field number 0
        2 => (frame(0, &[0x00, 0x01]), bad, "field 0"),
        // a length-delimited field longer than the message
        3 => (
            frame(0, &[0x0a, 0x7f, b'a', b'b']),
            bad,
            "length past the end",
        ),
        // invalid UTF-8 in field 1, a string in most requests
        4 if STRING_FIELD_1.contains(&rpc) => (
            frame(0, &[0x0a, 0x03, 0xff, 0xc3, 0x28]),
            bad,
            "invalid UTF-8 in a string field",
        ),
        // a declared length far past the limit (64 MiB)
        5 => (
            [&[0u8][..], &u32::MAX.to_be_bytes(), &msg].concat(),
            Expect::Exactly(Code::ResourceExhausted),
            "4 GiB declared",
        ),
        6 => (
            [&[0u8][..], &((64u32 << 20) + 1).to_be_bytes(), &msg].concat(),
            Expect::Exactly(Code::ResourceExhausted),
            "limit + 1 declared",
        ),
        // a declared length past the end of the body
        7 => {
            let mut f = frame(0, &msg);
            let len = msg.len() as u32 + 1 + rng.random_range(0..1000u32);
            f[1..5].copy_from_slice(&len.to_be_bytes());
            (f, bad, "frame cut short")
        }
        // the compressed flag with no grpc-encoding, or an undefined flag
        8 => (frame(1, &msg), bad, "compressed flag"),
        9 => (
            frame(rng.random_range(2..=255), &msg),
            bad,
            "undefined flag",
        ),
        // a header cut short, or no message at all
        10 => (
            vec![0, 0, 0][..rng.random_range(1..=3)].to_vec(),
            bad,
            "header cut short",
        ),
        11 if rpc != "TaskExecStdinWriteStream" => (vec![], bad, "no message"),
        // random bytes in a frame: may decode (unknown fields) or not
        12 => {
            let n = rng.random_range(0..200);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            (frame(0, &junk), Expect::Typed, "random message bytes")
        }
        // the real message with some bytes flipped
        13 => {
            let mut m = msg;
            for _ in 0..rng.random_range(1..4) {
                if !m.is_empty() {
                    let i = rng.random_range(0..m.len());
                    m[i] ^= 1 << rng.random_range(0..8);
                }
            }
            (frame(0, &m), Expect::Typed, "flipped bits")
        }
        // random bytes, no framing at all
        14 => {
            let n = rng.random_range(0..300);
            (
                (0..n).map(|_| rng.random()).collect(),
                Expect::Typed,
                "random body",
            )
        }
        // the real message, well framed (the dress is what is broken)
        _ => (framed(rpc, &msg), Expect::Typed, "intact"),
    }
}

/// Requests whose field 1 is a string (so invalid UTF-8 there cannot decode).
const STRING_FIELD_1: [&str; 40] = [
    "AppGetOrCreate",
    "EnvironmentGetOrCreate",
    "ImageJoinStreaming",
    "ImageFromId",
    "SecretGetOrCreate",
    "VolumeGetOrCreate",
    "SandboxCreateV2",
    "SandboxCreate",
    "SandboxGetTaskId",
    "TaskGetCommandRouterAccess",
    "SandboxGetCommandRouterAccess",
    "SandboxWait",
    "SandboxWaitV2",
    "SandboxTerminate",
    "SandboxTerminateV2",
    "SandboxTagsGet",
    "SandboxTagsGetV2",
    "SandboxTagsSet",
    "SandboxTagsSetV2",
    "SandboxList",
    "SandboxListV2",
    "SandboxGetFromName",
    "SandboxGetFromNameV2",
    "SandboxGetLogs",
    "SandboxStdinWrite",
    "SandboxGetTunnels",
    "SandboxGetTunnelsV2",
    "SandboxCreateConnectToken",
    "SandboxCreateConnectTokenV2",
    "SandboxWaitUntilReady",
    "TaskExecStart",
    "TaskExecStdioRead",
    "TaskExecStdinWrite",
    "TaskExecStdinStatus",
    "TaskExecWait",
    "TaskExecPoll",
    "SandboxStdioReadV2",
    "SandboxStdinWriteV2",
    "TaskSnapshotFilesystem",
    "TaskSnapshotDirectory",
];

/// Garbage where credentials go.
fn garbage_headers(rng: &mut StdRng, service: &str, ctx: &Ctx) -> (Vec<(String, Vec<u8>)>, bool) {
    let junk = |rng: &mut StdRng, n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| rng.random_range(0x21u8..0xff))
            .filter(|b| *b != 0x7f)
            .collect()
    };
    let forged_jwt = {
        let mut parts: Vec<String> = ctx.jwt.split('.').map(str::to_string).collect();
        match rng.random_range(0..4) {
            // alg none, no signature
            0 => format!("{}.{}.", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", parts[1]),
            // the payload of another task under this signature
            1 => {
                parts[1] = parts[1].chars().rev().collect();
                parts.join(".")
            }
            // a signature cut short
            2 => ctx.jwt[..ctx.jwt.len() - 5].to_string(),
            _ => String::from_utf8_lossy(&junk(rng, 40)).into_owned(),
        }
    };
    match rng.random_range(0..8) {
        0 => (vec![], false),
        1 => (
            vec![
                ("x-modal-token-id".into(), junk(rng, 8000)),
                ("x-modal-token-secret".into(), junk(rng, 30)),
            ],
            false,
        ),
        2 => (
            vec![(
                "authorization".into(),
                format!("Bearer {forged_jwt}").into_bytes(),
            )],
            false,
        ),
        3 => (vec![("authorization".into(), junk(rng, 4000))], false),
        4 => (
            vec![
                ("x-modal-token-id".into(), TOKEN_ID.into()),
                ("x-modal-token-secret".into(), b"as-wrong".to_vec()),
            ],
            false,
        ),
        5 => (
            vec![
                ("grpc-timeout".into(), junk(rng, 5)),
                ("grpc-encoding".into(), b"gzip".to_vec()),
            ]
            .into_iter()
            .chain(good_headers(service, ctx))
            .collect(),
            true,
        ),
        _ => (good_headers(service, ctx), true),
    }
}

/// The wire fuzzer: requests broken below gRPC, on both transports.
#[tokio::test]
async fn wire_fuzz_gets_typed_statuses() {
    let (mut env, ctx) = setup().await;
    let ctx = Arc::new(ctx);
    let tally = Arc::new(Tally::default());
    let count: usize = std::env::var("SANDBOXD_FUZZ_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed = 0xf022_0002;
    let started = Instant::now();
    let c2 = ctx.clone();
    storm(env.sd.port, 6, count, seed, tally.clone(), move |rng| {
        let (service, rpc) = rpc_path(rng);
        let proto = if rng.random_bool(0.6) {
            Proto::H2
        } else {
            Proto::Http1
        };
        let mut g = Gen {
            rng: StdRng::seed_from_u64(rng.random()),
            ctx: &c2,
            small: true,
        };
        let msg = g.message(rpc, service);
        let (mut body, mut expect, _how) = corrupt(rng, rpc, msg);
        let (headers, authorized) = if rng.random_bool(0.75) {
            (good_headers(service, &c2), true)
        } else {
            garbage_headers(rng, service, &c2)
        };
        let mut content_type = Some(grpc_ct(proto).to_string());
        let mut method = "POST";
        let mut path = format!("/{service}/{rpc}");
        let mut known = true;
        match rng.random_range(0..20) {
            0 => content_type = None,
            1 => content_type = Some("text/plain".into()),
            2 => content_type = Some("application/json".into()),
            3 => content_type = Some("application/grpc+json".into()),
            4 if proto == Proto::Http1 => {
                // gRPC-web text: base64 of the body, or not quite
                use base64::Engine;
                content_type = Some("application/grpc-web-text".into());
                body = if rng.random_bool(0.5) {
                    base64::engine::general_purpose::STANDARD
                        .encode(&body)
                        .into_bytes()
                } else {
                    expect = Expect::Exactly(Code::InvalidArgument);
                    b"!!not base64!!".to_vec()
                };
            }
            5 => method = "GET",
            6 => method = "PUT",
            7 => {
                path = format!("/{service}/NoSuchMethod");
                expect = Expect::Exactly(Code::Unimplemented);
            }
            8 => {
                path = "/no.such.Service/Call".into();
                known = false;
            }
            9 => {
                path = format!("/{service}/{rpc}/../../etc/passwd");
                known = false;
            }
            _ => {}
        }
        (
            path,
            known,
            Dress {
                proto,
                content_type,
                method,
                headers,
                authorized,
            },
            body,
            expect,
        )
    })
    .await;
    eprintln!(
        "wire fuzz: {} in {:.1}s",
        tally.summary() + &tally.slowest(),
        started.elapsed().as_secs_f64()
    );
    still_serves(&mut env).await;
}

/// Every RPC of both services, over native gRPC and gRPC-web: a message that does not
/// decode is INVALID_ARGUMENT, one declared over the 64 MiB limit RESOURCE_EXHAUSTED.
#[tokio::test]
async fn undecodable_messages_are_invalid_argument_on_every_rpc() {
    let (mut env, ctx) = setup().await;
    let cases: [(&str, Vec<u8>, Code); 7] = [
        ("bad varint", frame(0, &[0xff; 11]), Code::InvalidArgument),
        (
            "bad wire type",
            frame(0, &[0x0e, 0x01]),
            Code::InvalidArgument,
        ),
        (
            "length past the end",
            frame(0, &[0x0a, 0x7f, 1]),
            Code::InvalidArgument,
        ),
        (
            "frame cut short",
            vec![0, 0, 0, 0, 9, 1],
            Code::InvalidArgument,
        ),
        (
            "compressed flag",
            frame(1, &[0x0a, 0x01, b'a']),
            Code::InvalidArgument,
        ),
        (
            "4 GiB declared",
            vec![0, 0xff, 0xff, 0xff, 0xff, 1],
            Code::ResourceExhausted,
        ),
        (
            "invalid UTF-8",
            frame(0, &[0x0a, 0x02, 0xff, 0xfe]),
            Code::InvalidArgument,
        ),
    ];
    let mut checked = 0;
    for proto in [Proto::H2, Proto::Http1] {
        let mut client = RawClient::new(env.sd.port, proto);
        for (service, rpcs) in [(CP_SERVICE, &CP_RPCS[..]), (TCR_SERVICE, &TCR_RPCS[..])] {
            for rpc in rpcs {
                for (what, body, want) in &cases {
                    if *what == "invalid UTF-8" && !STRING_FIELD_1.contains(rpc) {
                        continue;
                    }
                    let dress = Dress {
                        proto,
                        content_type: Some(grpc_ct(proto).into()),
                        method: "POST",
                        headers: good_headers(service, &ctx),
                        authorized: true,
                    };
                    let out = client
                        .send(
                            request(&format!("/{service}/{rpc}"), &dress, body.clone()),
                            Duration::from_secs(15),
                        )
                        .await;
                    let Outcome::Reply(r) = &out else {
                        panic!("{rpc} {what} over {proto:?}: {out:?}")
                    };
                    let (code, msg) = r.grpc.clone().unwrap_or((Code::Ok, String::new()));
                    assert_eq!(
                        (r.http, code),
                        (200, *want),
                        "{rpc} {what} over {proto:?}: {msg}"
                    );
                    checked += 1;
                }
            }
        }
    }
    eprintln!("{checked} undecodable requests, each answered with its code");
    still_serves(&mut env).await;
}

fn tag_list(n: usize, value_len: usize) -> Vec<pb::SandboxTag> {
    (0..n)
        .map(|i| pb::SandboxTag {
            tag_name: format!("tag-{i}"),
            tag_value: "v".repeat(value_len),
        })
        .collect()
}

/// The documented bounds, one by one (README, "Limits").
#[tokio::test]
async fn every_client_controlled_size_is_bounded() {
    let mut env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let invalid = Code::InvalidArgument;

    // tags: today's 10,000 tags of 100 bytes, 65 tags, a 513-byte value; 64 are fine
    for (tags, what) in [
        (tag_list(10_000, 100), "10,000 tags"),
        (tag_list(65, 1), "65 tags"),
        (tag_list(1, 513), "a 513-byte tag value"),
    ] {
        assert_code(
            env.create_tagged_pb(env.def(&[]), tags.clone())
                .await
                .map(|s| s.id),
            invalid,
            what,
        );
        assert_code(
            env.cp
                .sandbox_tags_set_v2(pb::SandboxTagsSetRequest {
                    sandbox_id: sb.id.clone(),
                    tags,
                    ..Default::default()
                })
                .await,
            invalid,
            what,
        );
    }
    env.cp
        .sandbox_tags_set_v2(pb::SandboxTagsSetRequest {
            sandbox_id: sb.id.clone(),
            tags: tag_list(64, 512),
            ..Default::default()
        })
        .await
        .expect("64 tags of 512 bytes are within bounds");

    // environment and argv
    let mut def = env.def(&[]);
    def.environment_variables = Some(pb::StringMap {
        contents: (0..1025).map(|i| (format!("V{i}"), "x".into())).collect(),
    });
    assert_code(
        env.create(def).await.map(|s| s.id),
        invalid,
        "1025 env vars",
    );
    let mut def = env.def(&[]);
    def.environment_variables = Some(pb::StringMap {
        contents: [("A=B".to_string(), "x".to_string())].into(),
    });
    assert_code(
        env.create(def).await.map(|s| s.id),
        invalid,
        "an env name with '='",
    );
    let four_mb = "a".repeat(1 << 20);
    assert_code(
        sb.exec_opts(
            &["echo", &four_mb, &four_mb, &four_mb, &four_mb],
            ExecOpts::default(),
        )
        .await,
        invalid,
        "4 MB of argv",
    );
    let big_arg = "a".repeat(200 << 10);
    assert_code(
        sb.exec_opts(&["echo", &big_arg], ExecOpts::default()).await,
        invalid,
        "one 200 KiB argument",
    );
    let near = "a".repeat(100 << 10);
    let id = sb.exec(&["sh", "-c", "echo ${#0}", &near]).await;
    assert_eq!(
        sb.wait(&id).await,
        Exit::Code(0),
        "a 100 KiB argument is fine"
    );

    // names
    let mut def = env.def(&[]);
    def.name = Some("n".repeat(65));
    assert_code(
        env.create(def).await.map(|s| s.id),
        invalid,
        "a 65-char name",
    );
    assert_code(
        env.cp
            .app_get_or_create(pb::AppGetOrCreateRequest {
                app_name: "no/slash".into(),
                object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
                ..Default::default()
            })
            .await,
        invalid,
        "an app name with '/'",
    );

    // timeouts
    let mut def = env.def(&[]);
    def.timeout_secs = 24 * 3600 + 1;
    assert_code(
        env.create(def).await.map(|s| s.id),
        invalid,
        "a 24 h + 1 s timeout",
    );
    let mut def = env.def(&[]);
    def.idle_timeout_secs = Some(u32::MAX);
    assert_code(
        env.create(def).await.map(|s| s.id),
        invalid,
        "an absurd idle timeout",
    );
    assert_code(
        sb.exec_opts(
            &["true"],
            ExecOpts {
                timeout_secs: Some(u32::MAX),
                ..Default::default()
            },
        )
        .await,
        invalid,
        "an absurd exec timeout",
    );
    for t in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -5.0] {
        let started = Instant::now();
        env.cp
            .sandbox_wait_v2(pb::SandboxWaitRequest {
                sandbox_id: sb.id.clone(),
                timeout: t,
            })
            .await
            .expect("a wait with a non-finite or negative timeout is a poll");
        assert!(started.elapsed() < Duration::from_secs(5), "{t}");
    }

    // offsets near 2^64: refused, not wrapped (this panicked in debug builds)
    let cat = sb.exec(&["cat"]).await;
    let write = |offset: u64, data: &[u8]| tcr::TaskExecStdinWriteRequest {
        task_id: sb.task_id.clone(),
        exec_id: cat.clone(),
        offset,
        data: data.to_vec(),
        eof: false,
    };
    let mut t = sb.tcr.clone();
    assert_code(
        t.task_exec_stdin_write(write(u64::MAX - 1, b"xyz")).await,
        invalid,
        "a stdin offset whose end overflows",
    );
    t.task_exec_stdin_write(write(0, b"fine\n"))
        .await
        .expect("the exec's stdin still works");
    assert_code(
        t.sandbox_stdin_write_v2(tcr::SandboxStdinWriteV2Request {
            task_id: sb.task_id.clone(),
            offset: u64::MAX,
            data: b"x".to_vec(),
            eof: false,
        })
        .await,
        invalid,
        "a V2 stdin offset whose end overflows",
    );
    let done = sb.exec(&["echo", "x"]).await;
    sb.wait(&done).await;
    let mut s = sb
        .stdio(&done, u64::MAX, false)
        .await
        .expect("read at 2^64 - 1");
    assert!(
        s.message().await.expect("ends OK").is_none(),
        "nothing past the end"
    );

    // the writable layer's cap a client may ask for, and memory
    for mib in [1, 63, (1 << 20) + 1] {
        let mut def = env.def(&[]);
        def.resources = Some(pb::Resources {
            ephemeral_disk_mb: mib,
            ..Default::default()
        });
        assert_code(
            env.create(def).await.map(|s| s.id),
            invalid,
            "ephemeral_disk_mb",
        );
    }
    let mut def = env.def(&[]);
    def.resources = Some(pb::Resources {
        memory_mb_max: u32::MAX,
        ..Default::default()
    });
    assert_code(
        env.create(def).await.map(|s| s.id),
        Code::ResourceExhausted,
        "more memory than the host has",
    );

    // a status quoting a huge input stays small
    let huge_id = "x".repeat(1 << 20);
    let s = assert_code(env.poll(&huge_id).await, Code::NotFound, "a 1 MiB id");
    assert!(s.message().len() <= 1024, "{}", s.message().len());

    // connect tokens: at most 16 ports per sandbox
    let mut net = env.idle_sandbox().await;
    for port in 1..=16u32 {
        env.cp
            .sandbox_create_connect_token_v2(pb::SandboxCreateConnectTokenRequest {
                sandbox_id: net.id.clone(),
                port: Some(8000 + port),
                ..Default::default()
            })
            .await
            .expect("a connect token");
    }
    assert_code(
        env.cp
            .sandbox_create_connect_token_v2(pb::SandboxCreateConnectTokenRequest {
                sandbox_id: net.id.clone(),
                port: Some(9000),
                ..Default::default()
            })
            .await,
        Code::ResourceExhausted,
        "a 17th connect-token port",
    );
    assert_eq!(net.sh("echo ok").await, "ok\n");
    env.terminate(&net.id).await;

    // running commands per sandbox: 128 at once; the 129th waits its turn
    let mut sleepers = Vec::new();
    for _ in 0..127 {
        sleepers.push(sb.exec(&["sleep", "600"]).await);
    }
    // (`cat` above still runs: 128)
    assert_code(
        sb.exec_opts(&["true"], ExecOpts::default()).await,
        Code::ResourceExhausted,
        "a 129th running command",
    );
    t.task_exec_stdin_write(tcr::TaskExecStdinWriteRequest {
        task_id: sb.task_id.clone(),
        exec_id: cat.clone(),
        offset: 5,
        data: vec![],
        eof: true,
    })
    .await
    .expect("eof to cat");
    sb.wait(&cat).await;
    let id = sb.exec(&["true"]).await;
    assert_eq!(
        sb.wait(&id).await,
        Exit::Code(0),
        "room again once one ended"
    );
    env.terminate(&sb.id).await;
}

/// Ended commands are kept for reading up to a bound; the oldest go first.
#[tokio::test]
async fn ended_commands_are_kept_up_to_a_bound() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let first = sb.exec(&["echo", "first"]).await;
    sb.wait(&first).await;
    let mut last = String::new();
    for _ in 0..260 {
        last = sb.exec(&["true"]).await;
        sb.wait(&last).await;
    }
    assert_code(
        sb.tcr
            .task_exec_poll(tcr::TaskExecPollRequest {
                task_id: sb.task_id.clone(),
                exec_id: first.clone(),
            })
            .await,
        Code::NotFound,
        "the oldest ended command is forgotten",
    );
    assert_eq!(sb.wait(&last).await, Exit::Code(0), "the newest is kept");
    // their cgroups went with them
    let cgroups = env.sd.leftovers().cgroups.len();
    assert!(
        cgroups <= 10,
        "exec cgroups are removed as commands end: {cgroups}"
    );
    env.terminate(&sb.id).await;
}

/// `serve --max-sandboxes`: creates past it get RESOURCE_EXHAUSTED until one ends.
#[tokio::test]
async fn running_sandboxes_are_bounded() {
    let sd = Sandboxd::start_with(&["--max-sandboxes".into(), "2".into()]).await;
    let env = Env::on(sd, Transport::Grpc).await;
    let a = env.idle_sandbox().await;
    let _b = env.idle_sandbox().await;
    assert_code(
        env.create(env.def(&[])).await.map(|s| s.id),
        Code::ResourceExhausted,
        "a third sandbox",
    );
    env.terminate(&a.id).await;
    let mut c = env.idle_sandbox().await;
    assert_eq!(c.sh("echo ok").await, "ok\n");
}
