//! `modal-sandbox-fs-tools`, bind-mounted read-only into every sandbox at
//! `/__modal/.bin/modal-sandbox-fs-tools` and built static so it runs in any image.
//!
//!     modal-sandbox-fs-tools '<one JSON command>'
//!
//! The filesystem helper of docs/PROTOCOL.md: clients exec it through the ordinary
//! exec path and build `open()`, `ls`, `mkdir`, `rm`, `watch` on it. Results go to
//! stdout (JSON, raw file bytes, or JSON lines for Watch); a failure exits non-zero
//! with one JSON object `{"error_kind", "message", "detail"}` on stderr. See README.md.

mod command;
mod entry;
mod error;
mod ops;
mod watch;

use command::Command;
use error::FsError;

fn run() -> Result<(), FsError> {
    let mut args = std::env::args_os().skip(1);
    let (Some(arg), None) = (args.next(), args.next()) else {
        return Err(FsError::invalid(
            "expected exactly one argument, a JSON command",
            "usage: modal-sandbox-fs-tools '{\"Stat\":{\"path\":\"/tmp\"}}'",
        ));
    };
    let Some(text) = arg.to_str() else {
        return Err(FsError::invalid(
            "the command is not valid UTF-8",
            String::new(),
        ));
    };
    match command::parse(text)? {
        Command::ListFiles { path } => ops::list_files(&path),
        Command::Stat { path } => ops::stat(&path),
        Command::ReadFile { path } => ops::read_file(&path),
        Command::WriteFile { path } => ops::write_file(&path),
        Command::MakeDirectory { path, parents } => ops::make_directory(&path, parents),
        Command::Remove { path, recursive } => ops::remove(&path, recursive),
        Command::Watch {
            path,
            recursive,
            filter,
            timeout_secs,
        } => watch::watch(&path, recursive, filter, timeout_secs),
    }
}

fn main() {
    // Exceeding RLIMIT_FSIZE should fail the write with EFBIG (FileTooLarge), not kill
    // us. (SIGPIPE is already ignored by the Rust runtime: EPIPE comes back as an error.)
    // SAFETY: setting a signal disposition.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            e.emit();
            e.exit_code
        }
    };
    std::process::exit(code);
}
