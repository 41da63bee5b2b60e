//! `modal-sandbox-init`, bind-mounted read-only into every sandbox at
//! `/__modal/.bin/modal-sandbox-init` and built static so it runs in any image.
//!
//!     modal-sandbox-init exec [--cwd DIR] -- PROGRAM [ARGS...]
//!     modal-sandbox-init idle
//!
//! `exec` is how sandboxd starts a command in a running sandbox after entering its
//! namespaces: it drops every capability (root in the sandbox keeps its uid but gets no
//! privileges over mounts, so read-only mounts stay read-only), sets no_new_privs,
//! changes to DIR inside the sandbox's own root and execs PROGRAM (searched in PATH).
//! `idle` is the entrypoint of a sandbox created without a command: it waits until the
//! sandbox is terminated or times out, and exits 0 on SIGTERM.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::process::exit;

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("modal-sandbox-init: {msg}");
    exit(code)
}

fn drop_privileges() -> Result<(), String> {
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let mut cap = 0;
        // drop the bounding set until the kernel says the capability does not exist
        while libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) >= 0 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return Err(format!(
                    "dropping capability {cap}: {}",
                    std::io::Error::last_os_error()
                ));
            }
            cap += 1;
        }
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let mut header = Header {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let data = [Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        if libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) != 0 {
            return Err(format!("capset: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn exec(args: Vec<OsString>) -> ! {
    let mut cwd: Option<OsString> = None;
    let mut rest = args.into_iter();
    let mut argv: Vec<OsString> = Vec::new();
    while let Some(a) = rest.next() {
        match a.to_str() {
            Some("--cwd") => cwd = rest.next(),
            Some("--") => {
                argv = rest.collect();
                break;
            }
            _ => fail(
                2,
                "usage: modal-sandbox-init exec [--cwd DIR] -- PROGRAM [ARGS...]",
            ),
        }
    }
    if argv.is_empty() {
        fail(2, "exec: no program given");
    }
    if let Err(e) = drop_privileges() {
        fail(126, &e);
    }
    if let Some(dir) = cwd {
        if let Err(e) = std::env::set_current_dir(&dir) {
            fail(
                126,
                &format!("cannot enter workdir {}: {e}", dir.to_string_lossy()),
            );
        }
    }
    let cargs: Vec<CString> = match argv
        .iter()
        .map(|a| CString::new(a.clone().into_vec()))
        .collect()
    {
        Ok(v) => v,
        Err(_) => fail(2, "exec: an argument contains a NUL byte"),
    };
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let err = std::io::Error::last_os_error();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    fail(code, &format!("{}: {err}", argv[0].to_string_lossy()))
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
        Some("idle") => idle(),
        _ => fail(
            2,
            "usage: modal-sandbox-init exec [--cwd DIR] -- PROGRAM [ARGS...] | idle",
        ),
    }
}
