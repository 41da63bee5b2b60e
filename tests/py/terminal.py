"""Modal's official Python client against sandboxd with `pty=True`: commands on a
terminal (`sandbox.exec(..., pty=True)`), Ctrl-C, and a sandbox created on one
(`Sandbox.create(..., pty=True)`, which Modal's client sends as a V1 create). Run by
scripts/test.sh with MODAL_SERVER_URL / MODAL_TOKEN_ID / MODAL_TOKEN_SECRET set to a live
sandboxd.
"""
import os
import sys
import time

import modal

# what the client puts in PTYInfo comes from its own environment
os.environ["TERM"] = "xterm-256color"
os.environ["COLORTERM"] = "truecolor"

passed = failed = 0


def check(name, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: got {got!r}, want {want!r}")


app = modal.App.lookup("py-terminal", create_if_missing=True)
image = modal.Image.from_registry("debian:bookworm-slim")
sb = modal.Sandbox.create(app=app, image=image, timeout=120)

# --- a command on a terminal: tty, its size, TERM, stdin a terminal too
p = sb.exec("sh", "-c", "tty; stty size; test -t 0 && echo stdin-is-a-tty; echo TERM=$TERM COLORTERM=$COLORTERM", pty=True)
out = p.stdout.read()
check("exec(pty=True) exits 0", p.wait(), 0)
lines = out.replace("\r\n", "\n").splitlines()
check("tty names a pseudo-terminal", lines[0].startswith("/dev/pts/"), True)
check("no size from a client without a terminal: 24 x 80", lines[1], "24 80")
check("stdin is the terminal", lines[2], "stdin-is-a-tty")
check("TERM and COLORTERM from the client", lines[3], "TERM=xterm-256color COLORTERM=truecolor")
check("lines end the terminal's way", out.endswith("\r\n"), True)

# --- without pty, the same command has pipes
p = sb.exec("sh", "-c", "test -t 1 && echo tty || echo pipe")
check("without pty: a pipe", p.stdout.read(), "pipe\n")
p.wait()

# --- Ctrl-C is SIGINT to the program in the foreground
p = sb.exec("sh", "-c", "echo ready; exec sleep 100", pty=True)
for line in p.stdout:
    if "ready" in line:
        break
t0 = time.time()
p.stdin.write(b"\x03")
p.stdin.drain()
check("Ctrl-C ends sleep with SIGINT (128 + 2)", p.wait(), 130)
check("... at once", time.time() - t0 < 10, True)

# --- input is echoed by the terminal, and stdin's EOF is Ctrl-D
p = sb.exec("cat", pty=True)
p.stdin.write(b"hello\r")
p.stdin.write_eof()
p.stdin.drain()
check("cat on a terminal: the echo, then cat's copy", p.stdout.read(), "hello\r\nhello\r\n")
check("cat ends on EOF", p.wait(), 0)
sb.terminate()

# --- sandboxes on a terminal. Modal's 1.6.4 client sends `pty=True` as
# SandboxCreateV2 with definition.pty_info, and the deprecated `pty_info=` as a V1
# SandboxCreate (stdio through SandboxGetLogs / SandboxStdinWrite); both run here.
import warnings
from modal_proto import api_pb2

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pty_info= is deprecated; it is still what picks V1
    for how, kwargs in [
        ("pty=True", {"pty": True}),
        ("pty_info= (V1)", {"pty_info": api_pb2.PTYInfo(enabled=True, winsz_rows=30, winsz_cols=90, env_term="xterm")}),
    ]:
        sb = modal.Sandbox.create(
            "sh", "-c", "tty; stty size; echo TERM=$TERM; read line; echo got:$line",
            app=app, image=image, timeout=60, **kwargs,
        )
        v1 = sb.object_id.startswith("sb-") and len(sb.object_id) == 25
        check(f"{how}: {'V1' if v1 else 'V2'} sandbox", v1, "pty_info" in kwargs)
        sb.stdin.write(b"from python\r")
        sb.stdin.drain()
        sb.wait()
        out = sb.stdout.read()
        size = "30 90" if "pty_info" in kwargs else "24 80"
        check(f"{how}: the entrypoint runs on a terminal of its size", "/dev/pts/" in out and size in out, True)
        check(f"{how}: and reads from it", out.rstrip().endswith("got:from python"), True)
        check(f"{how}: exits 0", sb.returncode, 0)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
