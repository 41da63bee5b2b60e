//! The launcher's terminal mode: a pseudo-terminal allocated inside the sandbox (its own
//! devpts), the program started on its slave side as a session leader with it as the
//! controlling terminal, and the launcher relaying between the master side and its own
//! stdio, which are pipes to sandboxd:
//!
//! - stdin bytes go to the master raw, so the line discipline does what a terminal does
//!   (echo, line editing, `\x03` is SIGINT to the foreground process group); stdin's EOF
//!   becomes the terminal's EOF character (Ctrl-D);
//! - everything the program writes (stdout and stderr alike) comes out of the master and
//!   goes to stdout unchanged;
//! - lines `ROWS COLS` on the control descriptor resize the terminal (TIOCSWINSZ; the
//!   kernel sends SIGWINCH to the foreground process group).
//!
//! When the program ends, the output it left in the terminal is drained before the
//! launcher exits with the program's status (a signal is re-raised): read until the
//! terminal reports that every slave descriptor is closed (EIO, which Linux returns only
//! after the buffered output), or, when a background process still holds the slave, until
//! it has been quiet for `QUIET_AFTER_EXIT`. Then the master closes and the terminal hangs
//! up, as when a terminal emulator closes.

use std::ffi::CString;
use std::os::unix::io::RawFd;

/// How long the terminal must stay quiet, after the program ended, before the launcher
/// stops waiting for output from processes it left behind.
const QUIET_AFTER_EXIT_MS: i32 = 200;
const BUF: usize = 64 * 1024;

pub struct Options {
    pub rows: u16,
    pub cols: u16,
    /// Where resize requests come from (`ROWS COLS\n` lines), if anywhere.
    pub control_fd: Option<RawFd>,
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Run `argv` on a new terminal; returns only on failure to set it up.
pub fn run(argv: &[CString], opts: &Options) -> Result<std::convert::Infallible, String> {
    let master = open_master()?;
    set_size(master, opts.rows, opts.cols)?;
    let slave = open_slave(master)?;
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_err("fork"));
    }
    if pid == 0 {
        start_on_terminal(slave, argv);
    }
    unsafe { libc::close(slave) };
    let status = Relay::new(master, opts.control_fd).run(pid);
    exit_like(status)
}

fn open_master() -> Result<RawFd, String> {
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(os_err("opening /dev/ptmx"));
        }
        if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
            return Err(os_err("unlocking the pseudo-terminal"));
        }
        Ok(fd)
    }
}

/// The slave side, opened through the master (no path lookup, so it works whatever the
/// image has at /dev/pts), with a fallback to its name for kernels before 4.13.
fn open_slave(master: RawFd) -> Result<RawFd, String> {
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let fd = unsafe { libc::ioctl(master, TIOCGPTPEER as _, flags) };
    if fd >= 0 {
        return Ok(fd);
    }
    let mut name = [0 as libc::c_char; 128];
    if unsafe { libc::ptsname_r(master, name.as_mut_ptr(), name.len()) } != 0 {
        return Err(os_err("naming the pseudo-terminal"));
    }
    let fd = unsafe { libc::open(name.as_ptr(), flags) };
    if fd < 0 {
        return Err(os_err("opening the pseudo-terminal's slave"));
    }
    Ok(fd)
}

fn set_size(master: RawFd, rows: u16, cols: u16) -> Result<(), String> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    if unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(os_err("setting the terminal's size"));
    }
    Ok(())
}

/// In the forked child: a new session whose controlling terminal is `slave`, the slave on
/// stdin, stdout and stderr, then exec. Failures go to the terminal, where the user looks.
fn start_on_terminal(slave: RawFd, argv: &[CString]) -> ! {
    unsafe {
        if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
            child_fail(slave, 126, "making the terminal the controlling terminal");
        }
        for fd in 0..3 {
            if libc::dup2(slave, fd) < 0 {
                child_fail(slave, 126, "attaching the terminal");
            }
        }
        libc::close(slave);
        crate::privileges::default_signals();
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        libc::execvp(ptrs[0], ptrs.as_ptr());
    }
    let err = std::io::Error::last_os_error();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    let msg = format!(
        "modal-sandbox-init: {}: {err}\r\n",
        argv[0].to_string_lossy()
    );
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(code)
    }
}

fn child_fail(fd: RawFd, code: i32, what: &str) -> ! {
    let msg = format!("modal-sandbox-init: {}\r\n", os_err(what));
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), msg.len());
        libc::_exit(code)
    }
}

/// Exit as the program did: with its code, or killed by its signal.
fn exit_like(status: libc::c_int) -> ! {
    unsafe {
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig)
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

fn set_nonblocking(fd: RawFd) {
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

enum Io {
    Data(usize),
    WouldBlock,
    /// End of file, a hung-up terminal (EIO) or a closed pipe (EPIPE).
    Closed,
}

fn read_some(fd: RawFd, buf: &mut [u8]) -> Io {
    loop {
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Io::Data(n as usize);
        }
        if n == 0 {
            return Io::Closed;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::WouldBlock,
            _ => return Io::Closed,
        }
    }
}

fn write_some(fd: RawFd, buf: &[u8]) -> Io {
    loop {
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Io::Data(n as usize);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::WouldBlock,
            _ => return Io::Closed,
        }
    }
}

/// Bytes waiting to be written somewhere, written from the front.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    at: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn fill(&mut self, fd: RawFd) -> Io {
        self.buf.resize(BUF, 0);
        self.at = 0;
        let r = read_some(fd, &mut self.buf);
        self.buf.truncate(match r {
            Io::Data(n) => n,
            _ => 0,
        });
        r
    }

    fn flush(&mut self, fd: RawFd) -> Io {
        let r = write_some(fd, &self.buf[self.at..]);
        if let Io::Data(n) = r {
            self.at += n;
        }
        r
    }
}

struct Relay {
    master: RawFd,
    /// sandboxd's stdin pipe, until its EOF.
    input: Option<RawFd>,
    /// sandboxd's stdout pipe, until it closes (then output is read and dropped).
    output: Option<RawFd>,
    control: Option<RawFd>,
    control_line: Vec<u8>,
    to_master: Pending,
    to_output: Pending,
    /// stdin ended: send the terminal's EOF character once `to_master` is written.
    eof_pending: bool,
    /// Every slave descriptor is closed and the output is drained.
    master_done: bool,
}

impl Relay {
    fn new(master: RawFd, control: Option<RawFd>) -> Self {
        for fd in [Some(master), Some(0), Some(1), control]
            .into_iter()
            .flatten()
        {
            set_nonblocking(fd);
        }
        Self {
            master,
            input: Some(0),
            output: Some(1),
            control,
            control_line: Vec::new(),
            to_master: Pending::default(),
            to_output: Pending::default(),
            eof_pending: false,
            master_done: false,
        }
    }

    /// Relay until the program (`pid`) has ended and its output is out; its wait status.
    fn run(mut self, pid: libc::pid_t) -> libc::c_int {
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        let mut status: Option<libc::c_int> = None;
        loop {
            if status.is_none() {
                status = reap(pid);
            }
            let flushed = self.to_output.is_empty();
            if self.master_done && flushed {
                break;
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
            let mut watch = |fd: RawFd, events: libc::c_short| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                fds.len() - 1
            };
            let mut master_events = 0;
            if flushed && !self.master_done {
                master_events |= libc::POLLIN;
            }
            if !self.to_master.is_empty() {
                master_events |= libc::POLLOUT;
            }
            // a hung-up master reports POLLHUP whatever was asked: leave it out of the poll
            // while there is nothing to do with it, or the loop would spin
            let m = match master_events {
                0 => watch(-1, 0),
                e => watch(self.master, e),
            };
            let o = match self.output {
                Some(fd) if !flushed => Some(watch(fd, libc::POLLOUT)),
                _ => None,
            };
            let i = match self.input {
                Some(fd) if self.to_master.is_empty() => Some(watch(fd, libc::POLLIN)),
                _ => None,
            };
            let c = self.control.map(|fd| watch(fd, libc::POLLIN));
            let p = (status.is_none() && pidfd >= 0).then(|| watch(pidfd, libc::POLLIN));
            let timeout = match status {
                Some(_) => QUIET_AFTER_EXIT_MS,
                None if pidfd < 0 => 50, // no pidfd: look for the exit now and then
                None => -1,
            };
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, timeout) };
            if n < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            if n == 0 && status.is_some() && flushed {
                break; // ended, and quiet: whoever still holds the slave gets a hangup
            }
            let ready = |k: usize| fds[k].revents != 0;
            if ready(m) {
                self.on_master(fds[m].revents);
            }
            if o.is_some_and(ready) {
                self.on_output();
            }
            // a resize before input ready at the same time: a resize acknowledged to the
            // client comes before what it typed next (`tput cols` right after a resize)
            if c.is_some_and(ready) {
                self.on_control();
            }
            if i.is_some_and(ready) {
                self.on_input();
            }
            if p.is_some_and(ready) {
                status = reap(pid);
            }
        }
        if pidfd >= 0 {
            unsafe { libc::close(pidfd) };
        }
        // the program may have closed the terminal (EIO here) without having exited yet:
        // closing the master now would hang it up, and kill it with SIGHUP
        let status = status.unwrap_or_else(|| wait_blocking(pid));
        unsafe { libc::close(self.master) };
        status
    }

    fn on_master(&mut self, revents: libc::c_short) {
        if revents & libc::POLLOUT != 0 {
            self.write_to_master();
        }
        if self.to_output.is_empty() && !self.master_done && revents & !libc::POLLOUT != 0 {
            match self.to_output.fill(self.master) {
                Io::Data(_) => {
                    if self.output.is_none() {
                        self.to_output = Pending::default(); // nobody reads: drop
                    }
                }
                Io::WouldBlock => {}
                Io::Closed => self.master_done = true,
            }
        }
    }

    fn write_to_master(&mut self) {
        if !self.to_master.is_empty() && matches!(self.to_master.flush(self.master), Io::Closed) {
            self.to_master = Pending::default();
        }
        if self.to_master.is_empty() && self.eof_pending {
            self.eof_pending = false;
            self.to_master = Pending {
                buf: vec![self.eof_char()],
                at: 0,
            };
            self.write_to_master();
        }
    }

    fn eof_char(&self) -> u8 {
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(self.master, &mut t) } == 0 && t.c_cc[libc::VEOF] != 0 {
            t.c_cc[libc::VEOF]
        } else {
            4
        }
    }

    fn on_output(&mut self) {
        let Some(fd) = self.output else { return };
        if let Io::Closed = self.to_output.flush(fd) {
            self.output = None;
            self.to_output = Pending::default();
        }
    }

    fn on_input(&mut self) {
        let Some(fd) = self.input else { return };
        match self.to_master.fill(fd) {
            Io::Data(_) => self.write_to_master(),
            Io::WouldBlock => {}
            Io::Closed => {
                self.input = None;
                self.eof_pending = true;
                self.write_to_master();
            }
        }
    }

    fn on_control(&mut self) {
        let Some(fd) = self.control else { return };
        let mut buf = [0u8; 256];
        match read_some(fd, &mut buf) {
            Io::Data(n) => self.control_line.extend_from_slice(&buf[..n]),
            Io::WouldBlock => return,
            Io::Closed => {
                unsafe { libc::close(fd) };
                self.control = None;
                return;
            }
        }
        while let Some(end) = self.control_line.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.control_line.drain(..=end).collect();
            if let Some((rows, cols)) = parse_size(&line) {
                // a failed resize leaves the old size; nothing to report it to
                let _ = set_size(self.master, rows, cols);
            }
        }
        if self.control_line.len() > 1024 {
            self.control_line.clear(); // not ours to buffer forever
        }
    }
}

/// `ROWS COLS\n`, both 1..=u16::MAX.
fn parse_size(line: &[u8]) -> Option<(u16, u16)> {
    let s = std::str::from_utf8(line).ok()?;
    let mut it = s.split_ascii_whitespace();
    let rows: u16 = it.next()?.parse().ok()?;
    let cols: u16 = it.next()?.parse().ok()?;
    (rows > 0 && cols > 0 && it.next().is_none()).then_some((rows, cols))
}

fn reap(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then_some(status)
}

fn wait_blocking(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 1 << 8; // exit code 1: the status is lost
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_strictly() {
        assert_eq!(parse_size(b"24 80\n"), Some((24, 80)));
        assert_eq!(parse_size(b" 50   200 \n"), Some((50, 200)));
        for bad in [
            &b"0 80\n"[..],
            b"24\n",
            b"24 80 1\n",
            b"-1 80\n",
            b"70000 80\n",
            b"\xff\n",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
