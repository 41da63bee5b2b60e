//! Terminals from the protocol's side: Modal's `PTYInfo` (on `TaskExecStartRequest` and
//! on a sandbox's definition) checked and turned into a `TerminalSpec`, and the project's
//! own `modal_wasm.terminal.v1.Terminal` service (`proto/modal_wasm/terminal.proto`),
//! which resizes a command's terminal. The service sits beside the task command router,
//! with the same authorization: a router JWT for the task.

use crate::backend::terminal::{ResizeError, TerminalSize, TerminalSpec};
use crate::limits;
use crate::state::State;
use modal_proto::client::PtyInfo;
use modal_proto::terminal::terminal_server::Terminal;
use modal_proto::terminal::{TerminalResizeRequest, TerminalResizeResponse};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Rows and columns a terminal may have, each.
pub const MAX_TERMINAL_SIDE: u32 = 10_000;
/// Bytes of `TERM`, `COLORTERM`, `TERM_PROGRAM`.
pub const MAX_TERM_BYTES: usize = 256;

/// One side of a window size; `default` when the client left it 0 (Modal's clients send
/// 0 when they do not know, e.g. without a terminal of their own).
fn side(what: &str, n: u32, default: u16) -> Result<u16, Status> {
    match n {
        0 => Ok(default),
        n if n <= MAX_TERMINAL_SIDE => Ok(n as u16),
        n => Err(Status::invalid_argument(format!(
            "{what} is {n}; a terminal has at most {MAX_TERMINAL_SIDE}"
        ))),
    }
}

/// A size given by a resize, where 0 is not "unknown" but a mistake.
pub fn size(rows: u32, cols: u32) -> Result<TerminalSize, Status> {
    if rows == 0 || cols == 0 {
        return Err(Status::invalid_argument(format!(
            "a terminal of {rows} rows and {cols} columns: both must be at least 1"
        )));
    }
    Ok(TerminalSize {
        rows: side("rows", rows, 0)?,
        cols: side("cols", cols, 0)?,
    })
}

/// `PTYInfo` as the backend runs it. `enabled` (deprecated upstream) is not consulted:
/// Modal's clients send the message exactly when they want a terminal. `pty_type` and
/// `no_terminate_on_idle_stdin` change nothing here: sandboxd never ends a command for
/// idle stdin.
pub fn spec(info: &PtyInfo) -> Result<TerminalSpec, Status> {
    let text = |what: &str, s: &str| -> Result<String, Status> {
        limits::bytes(what, s, MAX_TERM_BYTES)?;
        if s.chars().any(char::is_control) {
            return Err(Status::invalid_argument(format!(
                "{what} must not contain control characters"
            )));
        }
        Ok(s.to_string())
    };
    Ok(TerminalSpec {
        size: TerminalSize {
            rows: side("winsz_rows", info.winsz_rows, TerminalSize::DEFAULT.rows)?,
            cols: side("winsz_cols", info.winsz_cols, TerminalSize::DEFAULT.cols)?,
        },
        term: text("env_term", &info.env_term)?,
        colorterm: text("env_colorterm", &info.env_colorterm)?,
        term_program: text("env_term_program", &info.env_term_program)?,
    })
}

pub struct TerminalService {
    pub state: Arc<State>,
}

#[tonic::async_trait]
impl Terminal for TerminalService {
    async fn terminal_resize(
        &self,
        req: Request<TerminalResizeRequest>,
    ) -> Result<Response<TerminalResizeResponse>, Status> {
        let r = req.get_ref();
        self.state.auth.check_task(req.metadata(), &r.task_id)?;
        limits::client_id("exec_id", &r.exec_id)?;
        let size = size(r.rows, r.cols)?;
        let (_, sb) = self.state.handle_by_task(&r.task_id)?;
        let exec = sb.exec_handle(&r.exec_id).ok_or_else(|| {
            Status::not_found(format!(
                "Exec {} not found in task {}",
                r.exec_id, r.task_id
            ))
        })?;
        exec.resize(size).map_err(|e| match e {
            ResizeError::NoTerminal => Status::failed_precondition(format!(
                "exec {} has no terminal: start it with pty_info to resize it",
                r.exec_id
            )),
            ResizeError::Busy => Status::unavailable(e.to_string()),
        })?;
        Ok(Response::new(TerminalResizeResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn pty_info_zero_means_the_default_size_and_bad_values_are_named() {
        let mut info = PtyInfo {
            enabled: true,
            ..PtyInfo::default()
        };
        let s = spec(&info).unwrap();
        assert_eq!(s.size, TerminalSize::DEFAULT);
        info.winsz_rows = 50;
        info.winsz_cols = 200;
        info.env_term = "xterm".into();
        let s = spec(&info).unwrap();
        assert_eq!(
            (s.size.rows, s.size.cols, s.term.as_str()),
            (50, 200, "xterm")
        );
        info.winsz_cols = 70_000;
        let e = spec(&info).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("winsz_cols"), "{}", e.message());
        info.winsz_cols = 80;
        info.env_term = "xterm\n".into();
        assert!(spec(&info).unwrap_err().message().contains("env_term"));
        info.env_term = "x".repeat(300);
        assert!(spec(&info).unwrap_err().message().contains("env_term"));
    }

    #[test]
    fn a_resize_needs_both_sides() {
        assert_eq!(
            size(40, 100).unwrap(),
            TerminalSize {
                rows: 40,
                cols: 100
            }
        );
        for (r, c) in [(0, 80), (24, 0), (24, 10_001)] {
            assert_eq!(size(r, c).unwrap_err().code(), Code::InvalidArgument);
        }
    }
}
