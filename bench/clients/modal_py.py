"""Modal's official Python client (modal==1.6.4), driven by bench/run.mjs.

One JSON command a line on stdin, one JSON reply a line on stdout. Configuration:
MODAL_SERVER_URL, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET, BENCH_APP, BENCH_IMAGE (and HOME
pointing at an empty directory, so no ~/.modal.toml is read).
"""
import json
import os
import sys
import time
import traceback

import modal

state = {}
# Replies go to the real stdout; anything the library prints goes to stderr.
REPLY = sys.stdout
sys.stdout = sys.stderr


def setup(_cmd):
    if not state:
        state["app"] = modal.App.lookup(os.environ.get("BENCH_APP", "bench"), create_if_missing=True)
        state["image"] = modal.Image.from_registry(os.environ.get("BENCH_IMAGE", "debian:bookworm-slim"))
    return {}


def latency(_cmd):
    setup(None)
    t0 = time.perf_counter()
    sb = modal.Sandbox.create(app=state["app"], image=state["image"])
    t1 = time.perf_counter()
    p = sb.exec("echo", "hi")
    t2 = time.perf_counter()
    out = p.stdout.read()
    t3 = time.perf_counter()
    ms = (t3 - t0) * 1e3
    code = p.wait()
    sb.terminate()
    if out != "hi\n" or code != 0:
        raise RuntimeError(f"echo hi: stdout {out!r}, exit {code}")
    return {"ms": ms, "phases": {"create": (t1 - t0) * 1e3, "exec": (t2 - t1) * 1e3, "read": (t3 - t2) * 1e3}}


def throughput(cmd):
    setup(None)
    want = int(cmd.get("bytes", 100_000_000))
    sb = modal.Sandbox.create(app=state["app"], image=state["image"])
    try:
        t0 = time.perf_counter()
        p = sb.exec("head", "-c", str(want), "/dev/zero", text=False)
        n = 0
        for chunk in p.stdout:
            n += len(chunk)
        ms = (time.perf_counter() - t0) * 1e3
        code = p.wait()
        if n != want or code != 0:
            raise RuntimeError(f"read {n} of {want} bytes, exit {code}")
        return {"bytes": n, "ms": ms}
    finally:
        sb.terminate()


def exec_rtt(cmd):
    """exec `true` + its exit code in one warm sandbox; warmup untimed, then count samples."""
    setup(None)
    count, warmup = int(cmd.get("count", 20)), int(cmd.get("warmup", 2))
    sb = modal.Sandbox.create(app=state["app"], image=state["image"])
    try:
        samples = []
        for i in range(warmup + count):
            t0 = time.perf_counter()
            code = sb.exec("true").wait()
            ms = (time.perf_counter() - t0) * 1e3
            if code != 0:
                raise RuntimeError(f"true: exit {code}")
            if i >= warmup:
                samples.append(ms)
        return {"samples": samples}
    finally:
        sb.terminate()


OPS = {"setup": setup, "latency": latency, "throughput": throughput, "execRtt": exec_rtt}

for line in sys.stdin:
    if not line.strip():
        continue
    cmd = json.loads(line)
    if cmd.get("op") == "quit":
        break
    try:
        fn = OPS.get(cmd.get("op"))
        if fn is None:
            raise ValueError(f"unknown op {cmd.get('op')!r}")
        reply = {"ok": True, **fn(cmd)}
    except Exception:
        reply = {"ok": False, "error": traceback.format_exc()}
    REPLY.write(json.dumps(reply) + "\n")
    REPLY.flush()
