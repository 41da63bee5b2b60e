//! sandboxd: a local server that speaks Modal's protocol and runs isolated sandboxes.

mod app_logs;
mod auth;
mod backend;
mod build_log;
mod builds;
mod cp;
mod definition;
mod ephemeral;
mod gateway;
mod grpc_errors;
mod ids;
mod images;
mod limits;
mod logs;
mod named_images;
mod oidc;
mod output;
mod playground;
mod server;
mod snapshots;
mod state;
mod stdio_streams;
mod store;
mod sync;
mod tcr;
mod terminal;
mod tls;
mod tokens;

pub use server::tcr_url;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "sandboxd",
    version,
    about = "A local server that speaks Modal's protocol and runs isolated sandboxes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum MissingImagePolicy {
    /// Use the host base image (the host's /usr and /opt, read-only).
    Host,
    /// Fail the image build.
    Error,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the control plane, the task command router and the playground on one port.
    Serve(ServeArgs),
    /// Serve a gateway to a Modal-compatible upstream (Modal's API, or a sandboxd) for
    /// browsers and edge workers: it holds the upstream credential and accepts only scoped,
    /// expiring tokens.
    Gateway(gateway::GatewayArgs),
    /// Scoped tokens: mint one (for scripts and tests; apps mint with the SDK's mintToken).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// (Started by `serve`.) Sweep an instance once its sandboxd is gone.
    #[command(hide = true)]
    Guard {
        #[arg(long)]
        state_dir: PathBuf,
        #[arg(long)]
        parent: u32,
    },
    /// Manage the local image store.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8787, or a free port if that is taken).
    #[arg(long, env = "SANDBOXD_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where records, images, volumes and writable layers live.
    #[arg(long, env = "SANDBOXD_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Workspace token id clients must send (generated and stored if not given).
    #[arg(long, env = "SANDBOXD_TOKEN_ID")]
    token_id: Option<String>,
    #[arg(long, env = "SANDBOXD_TOKEN_SECRET")]
    token_secret: Option<String>,
    /// What a registry tag missing from the local image store resolves to.
    #[arg(long, value_enum, default_value = "host")]
    missing_image: MissingImagePolicy,
    /// Directory with modal-sandbox-init and modal-sandbox-fs-tools (static binaries).
    #[arg(long, env = "SANDBOXD_HELPERS")]
    helpers: Option<PathBuf>,
    /// Static files served at / (the playground).
    #[arg(long)]
    www: Option<PathBuf>,
    /// The npm package served at /pkg.
    #[arg(long)]
    pkg: Option<PathBuf>,
    /// Host uid (and gid) that root inside sandboxes maps to.
    #[arg(long, default_value_t = 100000)]
    sandbox_uid: u32,
    /// Never give sandboxes network access, whatever they ask for.
    #[arg(long)]
    no_network: bool,
    /// Size cap of each sandbox's writable layer in MiB, unless the sandbox asks for
    /// another (`ephemeral_disk_mb`); writes past it fail with ENOSPC. 0: no cap.
    #[arg(long, env = "SANDBOXD_SANDBOX_DISK_MIB", default_value_t = 4096)]
    sandbox_disk_mib: u64,
    /// Sandboxes that may run at once; creates past it get RESOURCE_EXHAUSTED.
    #[arg(long, env = "SANDBOXD_MAX_SANDBOXES", default_value_t = state::DEFAULT_MAX_SANDBOXES)]
    max_sandboxes: usize,
    /// Testing only: end every stdio read stream with UNAVAILABLE after this many
    /// bytes, so clients' resume-from-offset can be tested against a real server.
    #[arg(long, hide = true)]
    fault_cut_stdio_after: Option<u64>,
    /// Seconds an ephemeral volume lives without a heartbeat (Modal's clients send one
    /// every 300 s).
    #[arg(long, default_value_t = crate::ephemeral::DEFAULT_TTL.as_secs_f64())]
    ephemeral_volume_ttl_secs: f64,
    /// Do not hand the credential to same-origin pages at /__sandboxd/config.json
    /// (the playground uses it; it is only served on loopback addresses anyway).
    #[arg(long)]
    no_playground_credentials: bool,
    #[command(flatten)]
    tls: TlsArgs,
    /// With --signing-key, scoped tokens (as the gateway accepts them) are served under the
    /// gateway's policy, and the playground hands each visitor a token of its own.
    #[command(flatten)]
    policy: gateway::PolicyArgs,
}

/// Serving over TLS (ALPN h2 and http/1.1 on the same port).
#[derive(clap::Args, Clone)]
pub struct TlsArgs {
    /// PEM certificate chain: serve https (h2 and http/1.1 by ALPN).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    pub fn server_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Ok(Some(tls::server_config(c, k)?)),
            _ => Ok(None),
        }
    }
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a scoped token signed with FILE (an HS256 secret, or an Ed25519 private key PEM).
    Mint {
        #[arg(long)]
        signing_key: PathBuf,
        /// Who the token is for.
        #[arg(long)]
        sub: String,
        /// The app (by name) its sandboxes live in.
        #[arg(long)]
        app: String,
        /// A tag forced onto the sandboxes it creates and required on those it touches
        /// (k=v, repeatable).
        #[arg(long = "tag", value_name = "K=V")]
        tags: Vec<String>,
        /// Scopes, comma separated: create, exec, fs, read, terminate, snapshot, connect-token.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// Sandbox ids it may reach whatever their tags (repeatable).
        #[arg(long = "sandbox")]
        sandboxes: Vec<String>,
        /// Lifetime: 900, 15m, 2h, at most 24h.
        #[arg(long, default_value = "15m")]
        ttl: String,
    },
    /// Revoke tokens, by id or by subject: every server reading the list refuses them
    /// within seconds.
    Revoke {
        /// A token's `jti`.
        #[arg(long, required_unless_present = "sub")]
        jti: Option<String>,
        /// A subject: its tokens issued until now are refused.
        #[arg(long)]
        sub: Option<String>,
        /// The revocation list (default: `revocations` in the state dir).
        #[arg(long)]
        revocations: Option<PathBuf>,
        #[arg(long, env = "SANDBOXD_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Make a rootfs directory or tarball available as registry tag TAG.
    Import {
        tag: String,
        path: PathBuf,
        #[arg(long, env = "SANDBOXD_STATE_DIR")]
        state_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 100000)]
        sandbox_uid: u32,
    },
}

fn default_state_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("/var/lib"))
        .join("sandboxd")
}

fn random_token(prefix: &str) -> String {
    use rand::Rng;
    let s: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}-{s}")
}

fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> Result<(String, bool)> {
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok((s.trim().to_string(), false));
    }
    let v = make();
    std::fs::write(path, &v)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok((v, true))
}

/// Find the helper binaries: the flag, next to this executable, or where the build
/// script puts the static builds.
fn find_helpers(flag: Option<PathBuf>) -> Result<PathBuf> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let candidates = match flag {
        Some(p) => vec![p],
        None => vec![
            exe_dir.clone(),
            exe_dir.join("../x86_64-unknown-linux-gnu/release"),
            exe_dir.join("../../x86_64-unknown-linux-gnu/release"),
        ],
    };
    candidates
        .into_iter()
        .find(|d| d.join(backend::spawn::INIT).is_file())
        .with_context(|| {
            "modal-sandbox-init not found; build the helpers with scripts/build-helpers.sh or pass --helpers DIR"
        })
}

/// Copy the helpers into a root-owned directory every sandbox uid can traverse.
fn install_helpers(from: &Path, run_root: &Path) -> Result<PathBuf> {
    let dir = run_root.join("helpers");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    for name in [backend::spawn::INIT, "modal-sandbox-fs-tools"] {
        let src = from.join(name);
        if src.is_file() {
            let dst = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::copy(&src, &tmp)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
            std::fs::rename(&tmp, &dst)?;
        } else {
            tracing::warn!("helper {name} not found in {}", from.display());
        }
    }
    Ok(dir)
}

async fn bind(listen: Option<SocketAddr>) -> Result<tokio::net::TcpListener> {
    match listen {
        Some(a) => tokio::net::TcpListener::bind(a)
            .await
            .with_context(|| format!("listening on {a}")),
        None => match tokio::net::TcpListener::bind("127.0.0.1:8787").await {
            Ok(l) => Ok(l),
            Err(_) => Ok(tokio::net::TcpListener::bind("127.0.0.1:0").await?),
        },
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let ServeArgs {
        listen,
        state_dir,
        token_id,
        token_secret,
        missing_image: missing,
        helpers,
        www,
        pkg,
        sandbox_uid: uid,
        no_network,
        sandbox_disk_mib,
        max_sandboxes,
        fault_cut_stdio_after,
        ephemeral_volume_ttl_secs,
        no_playground_credentials,
        tls,
        mut policy,
    } = args;
    let tls = tls.server_config()?;
    if unsafe { libc::geteuid() } != 0 {
        bail!("sandboxd's local backend needs root (it mounts overlayfs and writes cgroups); run it as root");
    }
    raise_fd_limit();
    let state_dir = state_dir.unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700))?;
    // held for this process's life, and by its guardian until that has swept up after it:
    // a start on this state dir waits for a sweep in progress
    let lock = backend::guard::lock_state_dir(&state_dir)?;
    let store = store::Store::open(&state_dir.join("state.redb"))?;
    let (key, _) = read_or_create(&state_dir.join("signing.key"), || random_token("key"))?;
    let (token_id, token_secret) = match (token_id, token_secret) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => (i, s),
        (None, None) => {
            let (i, fresh) = read_or_create(&state_dir.join("token-id"), || random_token("ak"))?;
            let (s, _) = read_or_create(&state_dir.join("token-secret"), || random_token("as"))?;
            if fresh {
                println!(
                    "sandboxd: generated credentials (stored in {}):",
                    state_dir.display()
                );
                println!("  MODAL_TOKEN_ID={i}\n  MODAL_TOKEN_SECRET={s}");
            }
            (i, s)
        }
        _ => bail!("give both --token-id and --token-secret, non-empty, or neither"),
    };
    // this instance's name: its run root and cgroups, distinct from any other instance's
    let paths = backend::InstancePaths::of(&state_dir);
    // a guardian that sweeps all of it if this process dies without a clean stop
    let _guardian = backend::guard::spawn(&state_dir, &lock)?;
    let run_root = paths.run_root.clone();
    std::fs::create_dir_all(&run_root)?;
    for d in [Path::new("/run/sandboxd"), run_root.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711))?;
    }
    let helpers = install_helpers(&find_helpers(helpers)?, &run_root)?;
    let data_root = paths.data_root.clone();
    let backend = backend::BackendConfig {
        instance: paths.instance.clone(),
        run_root: run_root.clone(),
        data_root: data_root.clone(),
        helpers,
        uid,
        slirp: !no_network && which("slirp4netns"),
        disk: backend::disk::Disks::new(sandbox_disk_mib, data_root, uid),
        live: Default::default(),
        volumes: std::sync::Arc::new(backend::volumes::Volumes::new(&state_dir, uid)),
    };
    // the store is open (and locked): no other sandboxd runs on this state dir, so
    // whatever is left under this instance's names is an earlier run's, killed
    let leftovers = backend::reap::reap(&paths);
    if !leftovers.is_empty() {
        tracing::info!(
            "cleaned up after an earlier run on this state dir: {} processes, {} mounts, {} cgroups",
            leftovers.processes,
            leftovers.mounts,
            leftovers.cgroups
        );
    }
    backend
        .disk
        .prepare()
        .context("preparing the sandboxes' disk (serve --sandbox-disk-mib 0 for no cap)")?;
    let images = images::Images::new(
        &state_dir,
        uid,
        match missing {
            MissingImagePolicy::Host => images::MissingImage::Host,
            MissingImagePolicy::Error => images::MissingImage::Error,
        },
    );
    let mut state = state::State::new(
        store,
        auth::Auth::new(token_id, token_secret, key.into_bytes()),
        images,
        backend,
        state_dir.clone(),
    );
    state.stdio_streams.cut_after = fault_cut_stdio_after;
    state.max_sandboxes = max_sandboxes;
    state.ephemeral_ttl = std::time::Duration::try_from_secs_f64(ephemeral_volume_ttl_secs)
        .map_err(|e| anyhow::anyhow!("--ephemeral-volume-ttl-secs: {e}"))?;
    let state = Arc::new(state);
    ephemeral::spawn_sweeper(state.clone());
    let recovered = state.recover()?;
    if recovered > 0 {
        tracing::info!(
            "{recovered} sandboxes were running when sandboxd stopped; recorded them as terminated"
        );
    }
    let listener = server::Listener {
        tcp: bind(listen).await?,
        tls,
    };
    let credential = if policy.signing_key.is_some() {
        policy
            .revocations
            .get_or_insert(state_dir.join("revocations"));
        match playground::VisitorTokens::new(&policy, listener.tls.is_some()) {
            Ok(v) => Some(playground::Credential::Visitors(v)),
            Err(e) => {
                tracing::warn!("the playground hands out no tokens: {e:#}");
                None
            }
        }
    } else if !no_playground_credentials && listener.tcp.local_addr()?.ip().is_loopback() {
        let a = &state.auth;
        Some(playground::Credential::Workspace {
            token_id: a.token_id.clone(),
            token_secret: a.token_secret.clone(),
        })
    } else {
        None
    };
    // handlers in place before anyone can learn the address
    let stop = stop_signal()?;
    println!(
        "sandboxd: listening on {} (state dir {})",
        listener.url()?,
        state_dir.display()
    );
    tokio::select! {
        r = server::serve(server::ServeArgs {
            listener,
            state: state.clone(),
            www,
            pkg,
            credential,
            policy,
        }) => r,
        sig = stop => {
            tracing::info!("{sig}: ending every sandbox, then stopping");
            // a second signal stops at once (the next start cleans up what is left)
            let again = stop_signal()?;
            tokio::spawn(async {
                again.await;
                std::process::exit(130);
            });
            let swept = state.shutdown().await;
            tracing::info!(?swept, "stopped cleanly");
            Ok(())
        }
    }
}

/// Catch SIGTERM and SIGINT from now on; the future ends at the first of them.
fn stop_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Each running command holds a few pipes and each client a socket: take the hard limit
/// on open files, not the soft one (1024 under most service managers).
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sandboxd=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Guard { state_dir, parent } => backend::guard::run(state_dir, parent).await,
        Command::Gateway(args) => gateway::run(args).await,
        Command::Token {
            command:
                TokenCommand::Mint {
                    signing_key,
                    sub,
                    app,
                    tags,
                    scope,
                    sandboxes,
                    ttl,
                },
        } => {
            let tags = tags
                .iter()
                .map(|t| {
                    t.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("--tag {t}: expected K=V"))
                })
                .collect::<Result<_>>()?;
            let scopes = scope
                .iter()
                .map(|s| {
                    tokens::Scope::parse(s.trim()).with_context(|| {
                        format!("unknown scope '{s}' (create, exec, fs, read, terminate, snapshot, connect-token)")
                    })
                })
                .collect::<Result<_>>()?;
            let sandboxes = (!sandboxes.is_empty()).then_some(sandboxes);
            let claims = tokens::new_claims(
                &sub,
                &app,
                tags,
                scopes,
                sandboxes,
                tokens::parse_ttl(&ttl)?,
            )?;
            println!(
                "{}",
                tokens::Signer::from_file(&signing_key)?.sign(&claims)?
            );
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Revoke {
                    jti,
                    sub,
                    revocations,
                    state_dir,
                },
        } => {
            let path = revocations.unwrap_or_else(|| {
                state_dir
                    .unwrap_or_else(default_state_dir)
                    .join("revocations")
            });
            gateway::revocations::revoke(&path, jti.as_deref(), sub.as_deref())?;
            println!(
                "revoked; servers reading {} refuse it within seconds",
                path.display()
            );
            Ok(())
        }
        Command::Image {
            command:
                ImageCommand::Import {
                    tag,
                    path,
                    state_dir,
                    sandbox_uid,
                },
        } => {
            let state_dir = state_dir.unwrap_or_else(default_state_dir);
            std::fs::create_dir_all(&state_dir)?;
            let store = store::Store::open(&state_dir.join("state.redb"))?;
            let rec = images::Images::new(&state_dir, sandbox_uid, images::MissingImage::Error)
                .import(&store, &tag, &path)?;
            println!("imported {tag} as {}", rec.id);
            Ok(())
        }
    }
}
