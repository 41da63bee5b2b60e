//! [`ContainerProcess`]: a command run by [`Sandbox::exec`](crate::Sandbox::exec), and the
//! router calls behind exec stdio, shared with the filesystem calls.

use std::cell::Cell;
use std::rc::Rc;

use futures_util::StreamExt;
use modal_proto::rpcs::{task_command_router as tcr_rpc, terminal as terminal_rpc};
use modal_proto::task_command_router as tcr;
use modal_proto::terminal::TerminalResizeRequest;

use crate::error::{Error, ErrorKind, Result};
use crate::exit::exec_exit_code;
use crate::js;
use crate::retry::Backoff;
use crate::rpc::Router;
use crate::stdio::{self, Chunk, Opener, OutputStream, Refresher, Sleeper, Stdin, Writer};
use crate::wire;

pub(crate) fn sleeper() -> Sleeper {
    Rc::new(|ms| Box::pin(js::sleep(ms)))
}

pub(crate) fn refresher(router: &Rc<Router>) -> Refresher {
    let r = router.clone();
    Rc::new(move || {
        let r = r.clone();
        Box::pin(async move { r.refresh().await })
    })
}

/// One exec of one task: the ids its router calls carry.
#[derive(Clone)]
pub(crate) struct Exec {
    pub(crate) router: Rc<Router>,
    pub(crate) task_id: String,
    pub(crate) exec_id: String,
}

impl Exec {
    /// The resumable output on `fd` from byte `from` (pull-based; reopened at the
    /// delivered offset).
    pub(crate) fn output(&self, fd: tcr::TaskExecStdioFileDescriptor, from: u64) -> OutputStream {
        let r = self.router.clone();
        let (task_id, exec_id) = (self.task_id.clone(), self.exec_id.clone());
        let open: Opener = Rc::new(move |offset| {
            let r = r.clone();
            let req = tcr::TaskExecStdioReadRequest {
                task_id: task_id.clone(),
                exec_id: exec_id.clone(),
                offset,
                file_descriptor: fd as i32,
            };
            Box::pin(async move {
                let s = r
                    .call_stream(wire::TASK_EXEC_STDIO_READ, &req, Backoff::STREAM)
                    .await?;
                Ok(s.map(|m| {
                    m.map(|m| Chunk {
                        data: m.data,
                        starting_offset: None,
                    })
                })
                .boxed_local())
            })
        });
        OutputStream::new(stdio::resumable(
            from,
            open,
            refresher(&self.router),
            sleeper(),
        ))
    }

    /// Offset-carrying unary `TaskExecStdinWrite`s, the first at `offset`.
    pub(crate) fn stdin(&self, offset: u64) -> Stdin {
        let r = self.router.clone();
        let (t, e) = (self.task_id.clone(), self.exec_id.clone());
        let write: Writer = Rc::new(move |offset, data, eof| {
            let r = r.clone();
            let req = tcr::TaskExecStdinWriteRequest {
                task_id: t.clone(),
                exec_id: e.clone(),
                offset,
                data: data.to_vec(),
                eof,
            };
            Box::pin(async move {
                r.call(tcr_rpc::TASK_EXEC_STDIN_WRITE, &req, Backoff::UNARY)
                    .await
                    .map(|_| ())
            })
        });
        Stdin::at(write, offset)
    }

    /// How many bytes of stdin the server has (where the next write goes).
    pub(crate) async fn stdin_written(&self) -> Result<u64> {
        let req = tcr::TaskExecStdinStatusRequest {
            task_id: self.task_id.clone(),
            exec_id: self.exec_id.clone(),
        };
        let resp = self
            .router
            .call(tcr_rpc::TASK_EXEC_STDIN_STATUS, &req, Backoff::UNARY)
            .await?;
        Ok(resp.num_bytes_written)
    }

    /// Waits for the exit: the code, or 128 + signal.
    pub(crate) async fn wait(&self) -> Result<i32> {
        loop {
            let req = tcr::TaskExecWaitRequest {
                task_id: self.task_id.clone(),
                exec_id: self.exec_id.clone(),
            };
            let resp = self
                .router
                .call(tcr_rpc::TASK_EXEC_WAIT, &req, Backoff::STREAM)
                .await?;
            use tcr::task_exec_wait_response::ExitStatus;
            let code = match resp.exit_status {
                Some(ExitStatus::Code(c)) => exec_exit_code(Some(c), None),
                Some(ExitStatus::Signal(s)) => exec_exit_code(None, Some(s)),
                None => None,
            };
            if let Some(code) = code {
                return Ok(code);
            }
        }
    }

    /// The exit code if the command has exited (no waiting).
    pub(crate) async fn poll(&self) -> Result<Option<i32>> {
        let req = tcr::TaskExecPollRequest {
            task_id: self.task_id.clone(),
            exec_id: self.exec_id.clone(),
        };
        let resp = self
            .router
            .call(tcr_rpc::TASK_EXEC_POLL, &req, Backoff::UNARY)
            .await?;
        use tcr::task_exec_poll_response::ExitStatus;
        Ok(match resp.exit_status {
            Some(ExitStatus::Code(c)) => exec_exit_code(Some(c), None),
            Some(ExitStatus::Signal(s)) => exec_exit_code(None, Some(s)),
            None => None,
        })
    }
}

/// A command running in a sandbox, from [`Sandbox::exec`](crate::Sandbox::exec). Cheap to
/// clone.
#[derive(Clone)]
pub struct ContainerProcess {
    inner: Rc<ProcInner>,
}

struct ProcInner {
    exec: Exec,
    pipe_stdout: bool,
    pipe_stderr: bool,
    /// On a pseudo-terminal (exec with `pty`).
    pty: bool,
    /// The server lacks the resize call (found out once, then not asked again).
    no_resize: Cell<bool>,
    stdin: Stdin,
    returncode: Cell<Option<i32>>,
    /// When the exec's `timeout` runs out (ms since the epoch): `wait` and `poll` stop
    /// there, as Modal JS's do.
    deadline: Option<f64>,
}

impl std::fmt::Debug for ContainerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerProcess")
            .field("exec_id", &self.exec_id())
            .field("returncode", &self.returncode())
            .finish_non_exhaustive()
    }
}

impl ContainerProcess {
    /// A handle on `exec`, whose stdin the server has up to `stdin_offset`.
    pub(crate) fn new(
        exec: Exec,
        pipe_stdout: bool,
        pipe_stderr: bool,
        pty: bool,
        stdin_offset: u64,
        deadline: Option<f64>,
    ) -> Self {
        ContainerProcess {
            inner: Rc::new(ProcInner {
                stdin: exec.stdin(stdin_offset),
                exec,
                pipe_stdout,
                pipe_stderr,
                pty,
                no_resize: Cell::new(false),
                returncode: Cell::new(None),
                deadline,
            }),
        }
    }

    /// Whether the command runs on a pseudo-terminal.
    pub fn is_pty(&self) -> bool {
        self.inner.pty
    }

    /// Resizes the command's terminal (TIOCSWINSZ; the program gets SIGWINCH). `Ok(false)`
    /// when the server does not support resizing (Modal's own, whose protocol has no such
    /// call): the size stays, nothing fails. `Invalid` for a process without a terminal or
    /// a side outside 1..=10000.
    pub async fn resize(&self, cols: u32, rows: u32) -> Result<bool> {
        if !self.inner.pty {
            return Err(Error::invalid(
                "resize needs a command started with the pty option",
            ));
        }
        let req = TerminalResizeRequest {
            task_id: self.inner.exec.task_id.clone(),
            exec_id: self.inner.exec.exec_id.clone(),
            cols: crate::options::terminal_side("cols", cols)?,
            rows: crate::options::terminal_side("rows", rows)?,
        };
        if self.inner.no_resize.get() {
            return Ok(false);
        }
        match (self.inner.exec.router)
            .call(terminal_rpc::TERMINAL_RESIZE, &req, Backoff::UNARY)
            .await
        {
            Ok(_) => Ok(true),
            // UNIMPLEMENTED: a server without the project's Terminal service
            Err(e) if e.grpc_status == Some(12) => {
                self.inner.no_resize.set(true);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The exec id (a client-made UUID).
    pub fn exec_id(&self) -> &str {
        &self.inner.exec.exec_id
    }

    /// The command's stdout from its first byte (each call reads it anew; empty if it
    /// was ignored).
    pub fn stdout(&self) -> OutputStream {
        self.stdout_from(0)
    }

    /// The command's stdout from byte `offset` (to pick up where an earlier reader, e.g.
    /// one on a page since reloaded, left off).
    pub fn stdout_from(&self, offset: u64) -> OutputStream {
        if self.inner.pipe_stdout {
            self.inner
                .exec
                .output(tcr::TaskExecStdioFileDescriptor::Stdout, offset)
        } else {
            OutputStream::empty()
        }
    }

    /// The command's stderr from its first byte.
    pub fn stderr(&self) -> OutputStream {
        if self.inner.pipe_stderr {
            self.inner
                .exec
                .output(tcr::TaskExecStdioFileDescriptor::Stderr, 0)
        } else {
            OutputStream::empty()
        }
    }

    /// The command's stdin (clones share it); closing it sends EOF.
    pub fn stdin(&self) -> Stdin {
        self.inner.stdin.clone()
    }

    /// The exit code once known (after [`wait`](Self::wait) or a finished
    /// [`poll`](Self::poll)).
    pub fn returncode(&self) -> Option<i32> {
        self.inner.returncode.get()
    }

    /// Sends EOF to stdin at once, past a write in flight or one that failed. Like Modal
    /// JS's `closeStdin`, a failure to send it is not an error (the command may be gone).
    pub async fn close_stdin(&self) {
        let _ = self.inner.stdin.close_now().await;
    }

    /// `Timeout` once the exec's deadline has passed; else the milliseconds left (`None`:
    /// no deadline).
    pub(crate) fn time_left(&self, doing: &str) -> Result<Option<u32>> {
        let Some(deadline) = self.inner.deadline else {
            return Ok(None);
        };
        let left = deadline - js::now_ms();
        if left > 0.0 {
            return Ok(Some(left.min(u32::MAX.into()) as u32));
        }
        Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "Deadline exceeded while {doing} for exec {}",
                self.exec_id()
            ),
        ))
    }

    /// Waits for the command to exit: its exit code (128 + signal if killed). With an exec
    /// `timeout`, fails with `Timeout` once it has run out (the server stops the command
    /// then; the JS `wait()` also stops waiting at that moment, as Modal JS's does).
    pub async fn wait(&self) -> Result<i32> {
        self.time_left("waiting")?;
        let code = self.inner.exec.wait().await?;
        self.inner.returncode.set(Some(code));
        Ok(code)
    }

    /// The exit code if the command has exited, else `None` (no waiting); `Timeout` once
    /// the exec's `timeout` has run out.
    pub async fn poll(&self) -> Result<Option<i32>> {
        self.time_left("polling")?;
        let code = self.inner.exec.poll().await?;
        if code.is_some() {
            self.inner.returncode.set(code);
        }
        Ok(code)
    }
}
