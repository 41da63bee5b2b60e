//! [`SandboxFilesystem`]: reads, streamed reads, uploads, listing, stat, mkdir and remove
//! in a sandbox. Everything runs the in-sandbox helper (`crate::fs::HELPER`) through
//! ordinary exec: its stdout is read as a resumable stream, uploads go to its stdin as
//! offset-carrying writes, and failures come back as typed errors (`crate::fs`).

use std::rc::Rc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use futures_util::{SinkExt, Stream};
use modal_proto::task_command_router as tcr;

use crate::error::{Error, Result};
use crate::fs::{self, FileInfo, Op};
use crate::js;
use crate::options::{exec_start_request, SandboxExecParams};
use crate::process::Exec;
use crate::retry::Backoff;
use crate::rpc::Router;
use crate::stdio::{OutputStream, MAX_WRITE};
use crate::wire;

/// Progress of an upload or download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes transferred so far.
    pub loaded: u64,
    /// Total bytes, when known.
    pub total: Option<u64>,
}

/// Called as bytes go over the wire (after each chunk of up to 1 MiB).
pub type OnProgress<'a> = Option<&'a mut dyn FnMut(Progress)>;

fn report(progress: &mut OnProgress, loaded: u64, total: Option<u64>) {
    if let Some(f) = progress {
        f(Progress { loaded, total });
    }
}

/// One run of the helper.
struct Helper(Exec);

impl Helper {
    async fn start(router: &Rc<Router>, command: String) -> Result<Helper> {
        let task_id = router.task_id().await?;
        let exec_id = js::uuid();
        let req = exec_start_request(
            &task_id,
            &exec_id,
            vec![fs::HELPER.to_string(), command],
            &SandboxExecParams::default(),
        )?;
        router
            .call(wire::TASK_EXEC_START, &req, Backoff::UNARY)
            .await?;
        Ok(Helper(Exec {
            router: router.clone(),
            task_id,
            exec_id,
        }))
    }

    fn stdout(&self) -> OutputStream {
        self.0.output(tcr::TaskExecStdioFileDescriptor::Stdout, 0)
    }

    /// Waits for the exit; a non-zero exit becomes the typed error its stderr describes.
    async fn finish(&self, op: Op, path: &str) -> Result<()> {
        let stderr = self
            .0
            .output(tcr::TaskExecStdioFileDescriptor::Stderr, 0)
            .read_to_end()
            .await?;
        let code = self.0.wait().await?;
        if code == 0 {
            Ok(())
        } else {
            Err(fs::helper_error(op, path, code, &stderr))
        }
    }

    /// The helper's typed error if it has already failed (no waiting).
    async fn failure(&self, op: Op, path: &str) -> Option<Error> {
        self.0.poll().await.ok()??;
        self.finish(op, path).await.err()
    }

    /// Runs a helper command to completion: its stdout.
    async fn run(router: &Rc<Router>, op: Op, path: &str, command: String) -> Result<Vec<u8>> {
        let h = Helper::start(router, command).await?;
        let out = h.stdout().read_to_end().await?;
        h.finish(op, path).await?;
        Ok(out)
    }
}

/// The files of a sandbox, from [`Sandbox::filesystem`](crate::Sandbox::filesystem).
/// Paths are absolute.
#[derive(Clone)]
pub struct SandboxFilesystem {
    router: Rc<Router>,
}

impl std::fmt::Debug for SandboxFilesystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxFilesystem")
            .field("sandbox_id", &self.router.sandbox_id)
            .finish()
    }
}

impl SandboxFilesystem {
    pub(crate) fn new(router: Rc<Router>) -> SandboxFilesystem {
        SandboxFilesystem { router }
    }

    /// A file's bytes as a stream (for large files); a failure (e.g. not found) ends it
    /// with the typed error. Dropping it stops the download.
    pub fn read_stream(&self, path: &str) -> OutputStream {
        /// Where the download is: the helper not started yet, its stdout being read, or over.
        enum Step {
            Start(Rc<Router>),
            Reading(Helper, OutputStream),
            Done,
        }
        // One state machine (stream combinators made one per combinator, ~1.3 KB of wasm).
        let start = (Step::Start(self.router.clone()), path.to_string());
        let chunks = stream::unfold(start, |(step, path)| async move {
            let (h, mut out) = match step {
                Step::Done => return None,
                Step::Reading(h, out) => (h, out),
                Step::Start(router) => {
                    let started = match fs::check_path(&path, "read") {
                        Ok(()) => Helper::start(&router, fs::read_command(&path)).await,
                        Err(e) => Err(e),
                    };
                    match started {
                        Ok(h) => {
                            let out = h.stdout();
                            (h, out)
                        }
                        Err(e) => return Some((Err(e), (Step::Done, path))),
                    }
                }
            };
            match out.next().await {
                Some(chunk) => Some((chunk, (Step::Reading(h, out), path))),
                // the end of stdout: a failed helper ends the stream with its typed error
                None => match h.finish(Op::Read, &path).await {
                    Ok(()) => None,
                    Err(e) => Some((Err(e), (Step::Done, path))),
                },
            }
        })
        .boxed_local();
        OutputStream::new(chunks)
    }

    /// Reads a file whole.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.read_with_progress(path, None).await
    }

    /// Reads a file whole, reporting progress (the total from a `stat` first).
    pub async fn read_with_progress(
        &self,
        path: &str,
        mut progress: OnProgress<'_>,
    ) -> Result<Vec<u8>> {
        let total = match progress {
            Some(_) => self.stat(path).await.ok().map(|i| i.size as u64),
            None => None,
        };
        let mut chunks = self.read_stream(path);
        let mut out = Vec::new();
        while let Some(chunk) = chunks.next().await {
            out.extend_from_slice(&chunk?);
            report(&mut progress, out.len() as u64, total);
        }
        Ok(out)
    }

    /// Writes `data` to a file, replacing it; parents are created.
    pub async fn write(&self, path: &str, data: impl Into<Bytes>) -> Result<()> {
        let data: Bytes = data.into();
        let total = Some(data.len() as u64);
        let source = stream::once(futures_util::future::ready(Ok(data))).boxed_local();
        self.write_stream(path, source, total, None).await
    }

    /// Writes the bytes of `source` to a file, replacing it (parents are created), in
    /// chunks of up to 1 MiB; `total` (when known) goes into the progress reports.
    pub async fn write_stream(
        &self,
        path: &str,
        source: impl Stream<Item = Result<Bytes>> + Unpin,
        total: Option<u64>,
        mut progress: OnProgress<'_>,
    ) -> Result<()> {
        fs::check_path(path, "write")?;
        let mut input = source;
        let h = Helper::start(&self.router, fs::write_command(path)).await?;
        let sent = async {
            let mut sink = h.0.stdin(0);
            let mut buf: Vec<u8> = Vec::new();
            let mut loaded = 0u64;
            let mut ended = false;
            while !ended {
                match input.next().await {
                    Some(chunk) => buf.extend_from_slice(&chunk?),
                    None => ended = true,
                }
                while buf.len() >= MAX_WRITE || (ended && !buf.is_empty()) {
                    let n = buf.len().min(MAX_WRITE);
                    let rest = buf.split_off(n);
                    let piece = std::mem::replace(&mut buf, rest);
                    sink.send(Bytes::from(piece)).await?;
                    loaded += n as u64;
                    report(&mut progress, loaded, total);
                }
            }
            if loaded == 0 {
                report(&mut progress, 0, total);
            }
            SinkExt::<Bytes>::close(&mut sink).await
        }
        .await;
        match sent {
            Ok(()) => h.finish(Op::Write, path).await,
            // A helper that already failed explains the failure better than its stdin does.
            Err(e) => Err(h.failure(Op::Write, path).await.unwrap_or(e)),
        }
    }

    /// The entries of a directory, sorted by name.
    pub async fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        fs::check_path(path, "listFiles")?;
        let out = Helper::run(&self.router, Op::List, path, fs::list_command(path)).await?;
        fs::parse_entries(&out)
    }

    /// Metadata of one path (a symlink itself, not its target).
    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        fs::check_path(path, "stat")?;
        let out = Helper::run(&self.router, Op::Stat, path, fs::stat_command(path)).await?;
        fs::parse_entry(&out)
    }

    /// Creates a directory; with `parents`, also missing parents (and no error if it
    /// exists).
    pub async fn make_directory(&self, path: &str, parents: bool) -> Result<()> {
        fs::check_path(path, "makeDirectory")?;
        let command = fs::mkdir_command(path, parents);
        Helper::run(&self.router, Op::MakeDirectory, path, command).await?;
        Ok(())
    }

    /// Removes a file or an empty directory; with `recursive`, any directory.
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<()> {
        fs::check_path(path, "remove")?;
        let command = fs::remove_command(path, recursive);
        Helper::run(&self.router, Op::Remove, path, command).await?;
        Ok(())
    }
}
