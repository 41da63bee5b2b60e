//! Commands and entrypoints on a pseudo-terminal. The terminal itself lives inside the
//! sandbox: the in-sandbox launcher allocates it, owns its master side and relays it to
//! the stdio pipes sandboxd already reads and writes (so offsets, replay and
//! back-pressure are the pipes' own). What sandboxd keeps is the size it asked for, the
//! environment that describes the terminal, and the write end of a pipe on which the
//! launcher takes resize requests.

use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::io::OwnedFd;
use std::sync::Mutex;

/// A window size: rows and columns, each at least 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TerminalSize {
    pub rows: u16,
    pub cols: u16,
}

impl TerminalSize {
    /// What a terminal is when nobody said: 24 by 80.
    pub const DEFAULT: TerminalSize = TerminalSize { rows: 24, cols: 80 };
}

/// A terminal as a command asks for it (Modal's `PTYInfo`).
#[derive(Clone, Debug, PartialEq)]
pub struct TerminalSpec {
    pub size: TerminalSize,
    /// `TERM`, `COLORTERM`, `TERM_PROGRAM` (empty: unset; `TERM` then `xterm-256color`).
    pub term: String,
    pub colorterm: String,
    pub term_program: String,
}

impl TerminalSpec {
    /// The variables that describe the terminal, to go after the command's own.
    pub fn env(&self) -> Vec<(String, String)> {
        let term = if self.term.is_empty() {
            "xterm-256color"
        } else {
            &self.term
        };
        let mut env = vec![("TERM".to_string(), term.to_string())];
        for (k, v) in [
            ("COLORTERM", &self.colorterm),
            ("TERM_PROGRAM", &self.term_program),
        ] {
            if !v.is_empty() {
                env.push((k.to_string(), v.clone()));
            }
        }
        env
    }
}

/// Why a resize did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    #[error("this command does not run on a terminal (start it with a pty)")]
    NoTerminal,
    #[error("the terminal is busy; try again")]
    Busy,
}

/// The sandboxd side of a command's resize pipe.
pub struct TerminalControl {
    pipe: Mutex<Option<std::fs::File>>,
}

impl TerminalControl {
    /// A resize pipe: the read end goes to the launcher, the write end stays here.
    pub fn pipe() -> Result<(OwnedFd, TerminalControl)> {
        let (r, w) = std::io::pipe().context("resize pipe")?;
        let w = OwnedFd::from(w);
        set_nonblocking(&w)?;
        Ok((
            OwnedFd::from(r),
            TerminalControl {
                pipe: Mutex::new(Some(std::fs::File::from(w))),
            },
        ))
    }

    /// Ask the launcher for a new size. A command that has ended has no terminal left to
    /// resize: that is not an error (a resize races with the end all the time).
    pub fn resize(&self, size: TerminalSize) -> Result<(), ResizeError> {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = pipe.as_mut() else {
            return Ok(());
        };
        let line = format!("{} {}\n", size.rows, size.cols);
        match w.write(line.as_bytes()) {
            Ok(n) if n == line.len() => Ok(()),
            // a pipe takes writes up to PIPE_BUF whole or not at all
            Ok(_) => Err(ResizeError::Busy),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(ResizeError::Busy),
            Err(_) => {
                *pipe = None; // the launcher is gone
                Ok(())
            }
        }
    }

    /// Let go of the pipe (the command has ended).
    pub fn release(&self) {
        *self.pipe.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = fd.as_raw_fd();
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            anyhow::bail!("resize pipe: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn resizes_reach_the_pipe_as_lines_and_an_ended_command_is_no_error() {
        let (r, control) = TerminalControl::pipe().unwrap();
        control
            .resize(TerminalSize {
                rows: 50,
                cols: 132,
            })
            .unwrap();
        let mut got = [0u8; 7];
        std::fs::File::from(r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"50 132\n");
        // the read end is gone (the launcher ended): still fine
        control.resize(TerminalSize::DEFAULT).unwrap();
        control.release();
        control.resize(TerminalSize::DEFAULT).unwrap();
    }

    #[test]
    fn term_defaults_and_passes_what_the_client_said() {
        let spec = TerminalSpec {
            size: TerminalSize::DEFAULT,
            term: String::new(),
            colorterm: "truecolor".into(),
            term_program: String::new(),
        };
        assert_eq!(
            spec.env(),
            vec![
                ("TERM".to_string(), "xterm-256color".to_string()),
                ("COLORTERM".to_string(), "truecolor".to_string())
            ]
        );
    }
}
