//! Dockerfile-style image builds: `FROM`, then `RUN`, `ENV`, `WORKDIR` and `COPY` (from the
//! request's inline context files). Each `RUN` runs in a build sandbox made from the image
//! so far; its writable layer becomes the next layer. Every step's result is cached by
//! content (the parent, the step, the files it copies), so a rebuild that shares a prefix
//! reuses those layers. Logs stream to ImageJoinStreaming while the build runs.

use crate::auth::now_f64;
use crate::backend::cgroup::Limits;
use crate::backend::rootfs::inside;
use crate::backend::sandbox::{set_env, ExecRequest, Outcome, Sandbox, SandboxSpec, StderrMode};
use crate::build_log::Build;
use crate::images::{freeze_writable_layers, hex_digest, ImageRecord};
use crate::state::{base_env, idle_entrypoint, State};
use crate::store::{Record, Table};
use crate::sync::lock;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const RUN_TIMEOUT: Duration = Duration::from_secs(1800);

/// The secrets an image definition names (`secret_ids`): their variables are in the
/// environment of its RUN steps only, never in the image.
#[derive(Clone, Default)]
pub struct BuildSecrets {
    pub ids: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// What a cached step produced.
#[derive(Clone, Serialize, Deserialize)]
struct StepResult {
    layers: Vec<String>,
    env: Vec<(String, String)>,
    workdir: Option<String>,
}

/// Keyed by the digest of the parent's key, the step and the files it copies.
impl Record for StepResult {
    const TABLE: Table = Table::META;
    const KEY_PREFIX: &'static str = "step:";
}

impl StepResult {
    fn of(base: &ImageRecord) -> Self {
        Self {
            layers: base.layers.clone(),
            env: base.env.clone(),
            workdir: base.workdir.clone(),
        }
    }

    fn with_env(&self, vars: Vec<(String, String)>) -> Self {
        let mut n = self.clone();
        set_env(&mut n.env, vars);
        n
    }

    fn with_layer(&self, layer: String) -> Self {
        let mut n = self.clone();
        n.layers.push(layer);
        n
    }

    fn into_image(self, id: &str, base: &ImageRecord) -> ImageRecord {
        ImageRecord {
            id: id.to_string(),
            layers: self.layers,
            host_dirs: base.host_dirs.clone(),
            created_at: now_f64(),
            logs: vec![],
            error: None,
            expires_at: None,
            env: self.env,
            workdir: self.workdir,
        }
    }
}

enum Step {
    Run(Vec<String>),
    Env(Vec<(String, String)>),
    Workdir(String),
    Copy { sources: Vec<String>, dest: String },
    Ignored(String),
}

fn parse_step(line: &str) -> Result<Step> {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    Ok(match word.to_ascii_uppercase().as_str() {
        "RUN" => {
            if rest.starts_with('[') {
                let argv: Vec<String> = serde_json::from_str(rest)
                    .context("RUN [..] must be a JSON array of strings")?;
                if argv.is_empty() {
                    bail!("RUN [] names no program");
                }
                Step::Run(argv)
            } else {
                Step::Run(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
            }
        }
        "ENV" => {
            let mut vars = Vec::new();
            if rest.contains('=') {
                for pair in rest.split_whitespace() {
                    let (k, v) = pair
                        .split_once('=')
                        .context("ENV expects KEY=VALUE pairs")?;
                    vars.push((k.to_string(), v.trim_matches('"').to_string()));
                }
            } else {
                let (k, v) = rest
                    .split_once(char::is_whitespace)
                    .context("ENV expects KEY VALUE")?;
                vars.push((k.to_string(), v.trim().to_string()));
            }
            Step::Env(vars)
        }
        "WORKDIR" => Step::Workdir(rest.to_string()),
        "COPY" | "ADD" => {
            let mut parts: Vec<String> = rest
                .split_whitespace()
                .filter(|p| !p.starts_with("--"))
                .map(str::to_string)
                .collect();
            if parts.len() < 2 {
                bail!("{word} needs a source and a destination");
            }
            let dest = parts.pop().unwrap_or_default();
            Step::Copy {
                sources: parts,
                dest,
            }
        }
        _ => Step::Ignored(line.to_string()),
    })
}

/// The first of a COPY's sources that names the context file `name` (itself, a
/// directory it is in, or `.`).
fn copy_source<'a>(sources: &'a [String], name: &str) -> Option<&'a str> {
    sources
        .iter()
        .find(|s| {
            *s == "." || name == *s || name.starts_with(&format!("{}/", s.trim_end_matches('/')))
        })
        .map(String::as_str)
}

/// A step's cache key: its parent's key, its line and, for COPY, the files it copies.
fn step_key(parent: &str, line: &str, step: &Step, context: &[(String, Vec<u8>)]) -> String {
    let mut copied = String::new();
    if let Step::Copy { sources, .. } = step {
        for (name, data) in context {
            if copy_source(sources, name).is_some() {
                copied.push_str(&format!("{name}:{};", hex_digest(data)));
            }
        }
    }
    hex_digest(format!("{parent}\n{line}\n{copied}").as_bytes())
}

/// Where each context file a COPY takes goes in the layer `dir`, `dest` being absolute.
fn copy_targets<'a>(
    sources: &[String],
    dest: &str,
    context: &'a [(String, Vec<u8>)],
    dir: &Path,
) -> Result<Vec<(PathBuf, &'a [u8])>> {
    let mut files = Vec::new();
    for (name, data) in context {
        let Some(src) = copy_source(sources, name) else {
            continue;
        };
        let rel = if name == src {
            name.rsplit('/').next().unwrap_or(name)
        } else {
            name.strip_prefix(src.trim_end_matches('/'))
                .unwrap_or(name)
                .trim_start_matches('/')
        };
        let target = if dest.ends_with('/') || sources.len() > 1 || name != src {
            inside(dir, &format!("{}/{rel}", dest.trim_end_matches('/')))?
        } else {
            inside(dir, dest)?
        };
        files.push((target, data.as_slice()));
    }
    if files.is_empty() {
        bail!("COPY: no context file matches {sources:?}");
    }
    Ok(files)
}

fn join_workdir(cur: &Option<String>, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!(
            "{}/{}",
            cur.as_deref().unwrap_or("").trim_end_matches('/'),
            path
        )
    }
}

impl State {
    /// The image id for a definition: the same definition always gets the same id.
    pub fn definition_id(
        commands: &[String],
        context: &[(String, Vec<u8>)],
        secret_ids: &[String],
    ) -> String {
        let mut key = commands.join("\n");
        for (name, data) in context {
            key.push_str(&format!("\n{name}:{}", hex_digest(data)));
        }
        for id in secret_ids {
            key.push_str(&format!("\nsecret:{id}"));
        }
        format!("im-{}", &hex_digest(key.as_bytes())[..22])
    }

    /// Start building `id` unless it is built or building; returns the running build, if any.
    /// `force` (Modal's `force_build`): run every step again, none taken from the cache.
    pub fn start_build(
        self: &Arc<Self>,
        id: &str,
        commands: Vec<String>,
        context: Vec<(String, Vec<u8>)>,
        secrets: BuildSecrets,
        force: bool,
    ) -> Option<Arc<Build>> {
        match self.store.get::<ImageRecord>(id) {
            Ok(Some(_)) => return None,
            Ok(None) => {}
            // building again is the way to a readable record
            Err(e) => tracing::warn!(image = %id, "reading the image's record: {e:#}"),
        }
        let mut builds = lock(&self.builds);
        if let Some(b) = builds.get(id) {
            return Some(b.clone());
        }
        let build = Arc::new(Build::default());
        builds.insert(id.to_string(), build.clone());
        drop(builds);
        let (me, id, b) = (self.clone(), id.to_string(), build.clone());
        tokio::spawn(async move {
            let rec = match me
                .build(&id, &commands, &context, &secrets, force, &b)
                .await
            {
                Ok(rec) => rec,
                Err(e) => {
                    b.log(format!("Image build failed: {e:#}"));
                    ImageRecord {
                        id: id.clone(),
                        layers: vec![],
                        host_dirs: vec![],
                        created_at: now_f64(),
                        logs: vec![],
                        error: Some(format!("{e:#}")),
                        expires_at: None,
                        env: vec![],
                        workdir: None,
                    }
                }
            };
            let rec = ImageRecord {
                logs: b.all_lines(),
                ..rec
            };
            if let Err(e) = me.store.put(&id, &rec) {
                tracing::error!(image = %id, "recording the build's result: {e:#}");
            }
            b.finish();
            lock(&me.builds).remove(&id);
        });
        Some(build)
    }

    pub fn running_build(&self, id: &str) -> Option<Arc<Build>> {
        lock(&self.builds).get(id).cloned()
    }

    /// Build `id` step by step from its base, reusing cached steps unless `force`.
    async fn build(
        &self,
        id: &str,
        commands: &[String],
        context: &[(String, Vec<u8>)],
        secrets: &BuildSecrets,
        force: bool,
        log: &Build,
    ) -> Result<ImageRecord> {
        let mut lines = commands
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let base = self.build_base(lines.next(), log)?;
        let mut cur = StepResult::of(&base);
        let mut key = format!("{}:{}", base.id, base.layers.join(","));
        if !secrets.ids.is_empty() {
            // a step run with secrets is not the one run without them
            key.push_str(&format!(";secrets:{}", secrets.ids.join(",")));
        }
        for line in lines {
            let step = parse_step(line)?;
            key = step_key(&key, line, &step, context);
            let cached = match force {
                true => None,
                false => self.store.get::<StepResult>(&key)?,
            };
            cur = match cached {
                Some(hit) if self.images.has_layers(&hit.layers) => {
                    log.log(format!("=> {line} (cached)"));
                    hit
                }
                _ => {
                    log.log(format!("=> {line}"));
                    // a forced rebuild's layers are new ones: the cached ones stay in use
                    let layer = match force {
                        true => crate::ids::new_id(&format!("{id}-{}", &key[..12])),
                        false => format!("{id}-{}", &key[..12]),
                    };
                    let next = self
                        .apply_step(step, &cur, &base, layer, context, &secrets.env, log)
                        .await?;
                    self.store.put(&key, &next)?;
                    next
                }
            };
        }
        log.log(format!("=> built {id}"));
        Ok(cur.into_image(id, &base))
    }

    /// The image a definition's first line, `FROM <image>`, names.
    fn build_base(&self, first: Option<&str>, log: &Build) -> Result<ImageRecord> {
        let first = first.context("the image definition is empty")?;
        let from = match first.split_once(char::is_whitespace) {
            Some((w, rest)) if w.eq_ignore_ascii_case("FROM") => {
                rest.split_whitespace().next().unwrap_or("")
            }
            _ => bail!("the first step must be FROM, not {first:?}"),
        };
        let base = self.images.resolve_from(&self.store, from)?;
        log.log(format!("=> FROM {from}"));
        for l in &base.logs {
            log.log(l.clone());
        }
        Ok(base)
    }

    /// The image after one step; a step that makes files adds them as `layer`.
    #[allow(clippy::too_many_arguments)]
    async fn apply_step(
        &self,
        step: Step,
        cur: &StepResult,
        base: &ImageRecord,
        layer: String,
        context: &[(String, Vec<u8>)],
        secret_env: &[(String, String)],
        log: &Build,
    ) -> Result<StepResult> {
        Ok(match step {
            Step::Ignored(l) => {
                log.log(format!(
                    "   (sandboxd does not apply {l:?} to the image; it has no effect)"
                ));
                cur.clone()
            }
            Step::Env(vars) => cur.with_env(vars),
            Step::Workdir(w) => StepResult {
                workdir: Some(join_workdir(&cur.workdir, &w)),
                ..cur.clone()
            },
            Step::Copy { sources, dest } => {
                let dest = join_workdir(&cur.workdir, &dest);
                let dir = self.images.layers_dir.join(&layer);
                let files = copy_targets(&sources, &dest, context, &dir)?;
                for (target, data) in &files {
                    if let Some(parent) = target.parent() {
                        tokio::fs::create_dir_all(parent).await?;
                    }
                    tokio::fs::write(target, data).await?;
                }
                let chown = tokio::process::Command::new("chown")
                    .arg("-R")
                    .arg(format!("{0}:{0}", self.backend.uid))
                    .arg(&dir)
                    .status()
                    .await;
                if !chown.as_ref().is_ok_and(|s| s.success()) {
                    tracing::warn!(layer = %layer, "chown of the copied files: {chown:?}");
                }
                log.log(format!("   copied {} file(s) to {dest}", files.len()));
                cur.with_layer(layer)
            }
            Step::Run(argv) => {
                self.run_step(base, cur, &argv, &layer, secret_env, log)
                    .await?;
                cur.with_layer(layer)
            }
        })
    }

    /// Run one RUN step in a build sandbox and keep its writable layer as `layer`.
    async fn run_step(
        &self,
        base: &ImageRecord,
        cur: &StepResult,
        argv: &[String],
        layer: &str,
        secret_env: &[(String, String)],
        log: &Build,
    ) -> Result<()> {
        let image = ImageRecord {
            layers: cur.layers.clone(),
            ..base.clone()
        };
        let mut env = base_env();
        env.extend(cur.env.iter().cloned());
        let workdir = cur.workdir.clone().unwrap_or_else(|| "/".into());
        let spec = SandboxSpec {
            id: crate::ids::new_id("build"),
            entrypoint: idle_entrypoint(),
            env,
            workdir: workdir.clone(),
            image: self.images.layers(&image),
            volumes: vec![],
            limits: Limits {
                memory_bytes: Some(crate::state::DEFAULT_MEMORY_MAX_MIB << 20),
                pids: Some(crate::state::MAX_PIDS),
                ..Limits::default()
            },
            block_network: false,
            outbound_allowlist: None,
            inbound: Default::default(),
            timeout: RUN_TIMEOUT + Duration::from_secs(60),
            idle_timeout: None,
            ports: vec![],
            readiness: None,
            disk_mib: self.backend.disk.default_mib,
        };
        let sb = Sandbox::start(&self.backend, spec)
            .await
            .context("starting the build sandbox")?;
        let result: Result<()> = async {
            run_logged(&sb, argv, workdir, secret_env, log).await?;
            let dir = self.images.layers_dir.join(layer);
            let data = sb
                .data_dir()
                .context("the build sandbox ended before its layer was kept")?;
            freeze_writable_layers(&data, &base.host_dirs, &dir).await
        }
        .await;
        sb.terminate(Outcome::Terminated).await;
        result
    }
}

/// Run `argv` in the build sandbox, its output (stderr in stdout) going to the build log
/// line by line; an error unless it exits 0.
async fn run_logged(
    sb: &Sandbox,
    argv: &[String],
    workdir: String,
    env: &[(String, String)],
    log: &Build,
) -> Result<()> {
    let exec = sb.exec(
        "build-step",
        ExecRequest {
            argv: argv.to_vec(),
            env: env.to_vec(),
            workdir: Some(workdir),
            timeout: Some(RUN_TIMEOUT),
            stdout: true,
            stderr: StderrMode::Stdout,
        },
    )?;
    let mut offset = 0;
    let mut pending = String::new();
    while let Some((at, data)) = exec.stdout.next(offset, 64 * 1024).await {
        offset = at + data.len() as u64;
        pending.push_str(&String::from_utf8_lossy(&data));
        while let Some(i) = pending.find('\n') {
            log.log(pending[..i].to_string());
            pending.drain(..=i);
        }
    }
    if !pending.is_empty() {
        log.log(pending);
    }
    match exec.wait().await {
        crate::backend::sandbox::ExitStatus::Code(0) => Ok(()),
        status => bail!("RUN {argv:?} failed ({status:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_like_a_dockerfile() {
        assert!(
            matches!(parse_step("RUN echo hi").unwrap(), Step::Run(a) if a == ["/bin/sh", "-c", "echo hi"])
        );
        assert!(
            matches!(parse_step(r#"RUN ["ls", "-l"]"#).unwrap(), Step::Run(a) if a == ["ls", "-l"])
        );
        assert!(
            matches!(parse_step("ENV A=1 B=\"two\"").unwrap(), Step::Env(v) if v == [("A".into(), "1".into()), ("B".into(), "two".into())])
        );
        assert!(
            matches!(parse_step("ENV A one two").unwrap(), Step::Env(v) if v == [("A".into(), "one two".into())])
        );
        assert!(
            matches!(parse_step("COPY --chown=1 a b /dst/").unwrap(), Step::Copy { sources, dest } if sources == ["a", "b"] && dest == "/dst/")
        );
        assert!(parse_step("COPY onlyone").is_err());
        assert!(matches!(parse_step("CMD x").unwrap(), Step::Ignored(_)));
        assert_eq!(join_workdir(&Some("/app".into()), "sub"), "/app/sub");
        assert_eq!(join_workdir(&Some("/app".into()), "/abs"), "/abs");
    }

    #[test]
    fn copy_places_files_like_a_dockerfile() {
        let ctx: Vec<(String, Vec<u8>)> = ["a.txt", "src/x.rs", "src/y/z.rs", "other"]
            .iter()
            .map(|n| (n.to_string(), n.as_bytes().to_vec()))
            .collect();
        let dir = Path::new("/layer");
        let places = |sources: &[&str], dest: &str| -> Vec<(String, String)> {
            let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
            copy_targets(&sources, dest, &ctx, dir)
                .unwrap()
                .into_iter()
                .map(|(p, d)| (p.display().to_string(), String::from_utf8_lossy(d).into()))
                .collect()
        };
        // one file to a file name, or into a directory
        assert_eq!(
            places(&["a.txt"], "/app/b.txt"),
            [("/layer/app/b.txt".into(), "a.txt".into())]
        );
        assert_eq!(
            places(&["a.txt"], "/app/"),
            [("/layer/app/a.txt".into(), "a.txt".into())]
        );
        // a directory's files keep their paths under it
        assert_eq!(
            places(&["src"], "/app"),
            [
                ("/layer/app/x.rs".into(), "src/x.rs".into()),
                ("/layer/app/y/z.rs".into(), "src/y/z.rs".into())
            ]
        );
        // several sources go into the destination by their own names
        assert_eq!(
            places(&["a.txt", "other"], "/d"),
            [
                ("/layer/d/a.txt".into(), "a.txt".into()),
                ("/layer/d/other".into(), "other".into())
            ]
        );
        assert_eq!(places(&["."], "/d").len(), 4);
        let none = copy_targets(&["nope".into()], "/d", &ctx, dir).unwrap_err();
        assert!(none.to_string().contains("no context file matches"));
        assert!(copy_targets(&["a.txt".into()], "/../etc/x", &ctx, dir).is_err());
        // the cache key changes with the files a COPY takes, and only with those
        let copy = parse_step("COPY a.txt /d").unwrap();
        let k = step_key("p", "COPY a.txt /d", &copy, &ctx);
        let mut changed = ctx.clone();
        changed[3].1 = b"changed".to_vec();
        assert_eq!(k, step_key("p", "COPY a.txt /d", &copy, &changed));
        changed[0].1 = b"changed".to_vec();
        assert_ne!(k, step_key("p", "COPY a.txt /d", &copy, &changed));
    }
}
