//! `modal-sandbox-init`, bind-mounted read-only into every sandbox at
//! `/__modal/.bin/modal-sandbox-init` and built static so it runs in any image.
//!
//!     modal-sandbox-init exec [--cwd DIR] [--pty ROWS COLS] [--control-fd N] -- PROGRAM [ARGS...]
//!     modal-sandbox-init terminal ROWS COLS -- PROGRAM [ARGS...]
//!     modal-sandbox-init idle
//!
//! `exec` is how sandboxd starts a command in a running sandbox after entering its
//! namespaces: it drops every capability (root in the sandbox keeps its uid but gets no
//! privileges over mounts, so read-only mounts stay read-only), sets no_new_privs,
//! changes to DIR inside the sandbox's own root and execs PROGRAM (searched in PATH).
//! With `--pty` PROGRAM runs on a pseudo-terminal of that size instead (`terminal.rs`),
//! resized by `ROWS COLS` lines on descriptor N.
//! `terminal` runs a sandbox's entrypoint on a pseudo-terminal (bubblewrap has already
//! dropped the privileges and entered the workdir).
//! `idle` is the entrypoint of a sandbox created without a command: it waits until the
//! sandbox is terminated or times out, and exits 0 on SIGTERM.

mod privileges;
mod terminal;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::process::exit;

const USAGE: &str = "usage: modal-sandbox-init exec [--cwd DIR] [--pty ROWS COLS] [--control-fd N] -- PROGRAM [ARGS...] | terminal ROWS COLS -- PROGRAM [ARGS...] | idle";

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("modal-sandbox-init: {msg}");
    exit(code)
}

/// What `exec` and `terminal` were asked to do.
#[derive(Default)]
struct Command {
    cwd: Option<OsString>,
    pty: Option<(u16, u16)>,
    control_fd: Option<i32>,
    argv: Vec<CString>,
}

fn number<T: std::str::FromStr>(a: Option<OsString>, what: &str) -> T {
    a.as_ref()
        .and_then(|a| a.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fail(2, &format!("{what} must be a number")))
}

fn program(rest: impl Iterator<Item = OsString>) -> Vec<CString> {
    let argv: Vec<CString> = rest
        .map(|a| CString::new(a.into_vec()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|_| fail(2, "an argument contains a NUL byte"));
    if argv.is_empty() {
        fail(2, "no program given");
    }
    argv
}

fn parse_exec(args: Vec<OsString>) -> Command {
    let mut cmd = Command::default();
    let mut rest = args.into_iter();
    while let Some(a) = rest.next() {
        match a.to_str() {
            Some("--cwd") => cmd.cwd = rest.next(),
            Some("--pty") => {
                let rows = number(rest.next(), "--pty ROWS");
                cmd.pty = Some((rows, number(rest.next(), "--pty COLS")));
            }
            Some("--control-fd") => cmd.control_fd = Some(number(rest.next(), "--control-fd")),
            Some("--") => {
                cmd.argv = program(rest);
                return cmd;
            }
            _ => fail(2, USAGE),
        }
    }
    fail(2, "exec: no program given")
}

fn parse_terminal(args: Vec<OsString>) -> Command {
    let mut rest = args.into_iter();
    let rows = number(rest.next(), "terminal ROWS");
    let cols = number(rest.next(), "terminal COLS");
    if rest.next().as_ref().and_then(|a| a.to_str()) != Some("--") {
        fail(2, USAGE);
    }
    Command {
        pty: Some((rows, cols)),
        argv: program(rest),
        ..Command::default()
    }
}

fn run(cmd: Command) -> ! {
    if let Some((rows, cols)) = cmd.pty {
        let opts = terminal::Options {
            rows,
            cols,
            control_fd: cmd.control_fd,
        };
        match terminal::run(&cmd.argv, &opts) {
            Err(e) => fail(126, &e),
            Ok(never) => match never {},
        }
    }
    privileges::default_signals();
    let mut ptrs: Vec<*const libc::c_char> = cmd.argv.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let err = std::io::Error::last_os_error();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    fail(code, &format!("{}: {err}", cmd.argv[0].to_string_lossy()))
}

fn exec(args: Vec<OsString>) -> ! {
    let cmd = parse_exec(args);
    if let Err(e) = privileges::drop_all() {
        fail(126, &e);
    }
    if let Some(dir) = &cmd.cwd {
        if let Err(e) = std::env::set_current_dir(dir) {
            fail(
                126,
                &format!("cannot enter workdir {}: {e}", dir.to_string_lossy()),
            );
        }
    }
    run(cmd)
}

extern "C" fn on_term(_: libc::c_int) {
    unsafe { libc::_exit(0) };
}

fn idle() -> ! {
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        loop {
            libc::pause();
        }
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("exec") => exec(args.collect()),
        Some("terminal") => run(parse_terminal(args.collect())),
        Some("idle") => idle(),
        _ => fail(2, USAGE),
    }
}
