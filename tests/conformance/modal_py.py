"""Modal's official Python client (modal==1.6.4) through the basic sandbox flows against a
live sandboxd, as a user of Modal would write them; any difference from what Modal itself
does is a failure.

Run once per sandbox generation: MODAL_SANDBOX_V2=1 (the client's default: SandboxCreateV2,
the command router's V2 stdio) and MODAL_SANDBOX_V2=0 (SandboxCreate, SandboxGetTaskId,
SandboxGetLogs, SandboxStdinWrite). MODAL_SERVER_URL, MODAL_TOKEN_ID and MODAL_TOKEN_SECRET
name the server (tests/conformance/run.sh sets them).
"""
import os
import re
import sys

import modal

V2 = os.environ.get("MODAL_SANDBOX_V2", "1") not in ("0", "false")
GEN = "v2" if V2 else "v1"
passed = failed = 0


def check(name, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print(f"ok   py {GEN}: {name}")
    else:
        failed += 1
        print(f"FAIL py {GEN}: {name}: got {got!r}, want {want!r}")


def v1_shaped(sandbox_id):
    """Clients tell the generation of a sandbox from its id alone (docs/PROTOCOL.md)."""
    return re.fullmatch(r"sb-[0-9A-Za-z]{22}", sandbox_id) is not None


app = modal.App.lookup(f"conformance-py-{GEN}", create_if_missing=True)
image = modal.Image.from_registry("debian:bookworm-slim")

# --- a sandbox that sleeps, and commands run in it
sb = modal.Sandbox.create(app=app, image=image, timeout=120)
check("id has the generation's shape", v1_shaped(sb.object_id), not V2)
p = sb.exec("echo", "hi")
check("exec stdout", p.stdout.read(), "hi\n")
check("exec exit code", p.wait(), 0)
p = sb.exec("sh", "-c", "echo err >&2; exit 3")
check("exec stderr", p.stderr.read(), "err\n")
check("exec nonzero exit", p.wait(), 3)
p = sb.exec("cat")
p.stdin.write(b"round trip\n")
p.stdin.write_eof()
p.stdin.drain()
check("exec stdin echoed", p.stdout.read(), "round trip\n")
check("cat exit", p.wait(), 0)
p = sb.exec("seq", "1", "60000")
want = "".join(f"{i}\n" for i in range(1, 60001))
check("large stdout is byte-exact", p.stdout.read() == want, True)
check("seq exit", p.wait(), 0)
check("poll while running", sb.poll(), None)

# --- tags, listing, and a second handle by id
sb.set_tags({"suite": "conformance", "gen": GEN})
check("tags round trip", sb.get_tags(), {"suite": "conformance", "gen": GEN})
listed = [s.object_id for s in modal.Sandbox.list(app_id=app.app_id, tags={"gen": GEN})]
check("listed by tag", sb.object_id in listed, True)
again = modal.Sandbox.from_id(sb.object_id)
p = again.exec("sh", "-c", "echo from-id")
check("exec through from_id", p.stdout.read(), "from-id\n")
p.wait()

sb.terminate()
sb.wait(raise_on_termination=False)
check("returncode after terminate", sb.returncode, 137)

# --- the main process's own stdio (V2: the router's SandboxStdio*; V1: SandboxGetLogs and
# SandboxStdinWrite on the control plane)
sb = modal.Sandbox.create(
    # `cat` exits at EOF: the process is still running when the EOF write arrives
    "sh", "-c", "echo out; echo err >&2; cat; exit 5",
    app=app, image=image, timeout=60,
)
sb.stdin.write(b"ping\n")
sb.stdin.write_eof()
sb.stdin.drain()
sb.wait(raise_on_termination=False)
check("main process exit code", sb.returncode, 5)
check("main process stdout", sb.stdout.read(), "out\nping\n")
check("main process stderr", sb.stderr.read(), "err\n")

# --- environment variables: `env` (V1: a secret owned by the app, SecretGetOrCreate with
# ANONYMOUS_OWNED_BY_APP; V2: the request's ephemeral secrets) and a secret from a dict
sb = modal.Sandbox.create(
    "sh", "-c", 'printf "%s %s" "$GREETING" "$FROM_SECRET"',
    app=app, image=image, timeout=60,
    env={"GREETING": "hello"}, secrets=[modal.Secret.from_dict({"FROM_SECRET": "s3cret"})],
)
sb.wait(raise_on_termination=False)
check("env and secrets reach the sandbox", sb.stdout.read(), "hello s3cret")

# --- secrets given to an image's commands: in its RUN steps' environment, not the image's
built = image.run_commands(
    "echo $BUILD_TOKEN > /token", secrets=[modal.Secret.from_dict({"BUILD_TOKEN": f"tok-{GEN}"})]
)
sb = modal.Sandbox.create(
    "sh", "-c", 'cat /token; echo "[${BUILD_TOKEN:-unset}]"', app=app, image=built, timeout=60
)
sb.wait(raise_on_termination=False)
check("build secrets reach RUN, not the image", sb.stdout.read(), f"tok-{GEN}\n[unset]\n")

# --- `python` on the PATH of a `python:*` image, as in Docker Hub's
sb = modal.Sandbox.create(
    "python", "-c", "print(6 * 7)", app=app, image=modal.Image.from_registry("python:3.12-slim"), timeout=60
)
sb.wait(raise_on_termination=False)
check("python in a python image", (sb.returncode, sb.stdout.read()), (0, "42\n"))

# --- a named secret: required keys and a second create, answered in Modal's words
name = f"conformance-py-{GEN}-{os.getpid()}"
modal.Secret.objects.create(name, {"A": "1"})
try:
    modal.Secret.from_name(name, required_keys=["A", "B", "C"]).hydrate()
    check("required keys refused", "no error", "NotFoundError")
except modal.exception.NotFoundError as e:
    check("required keys refused", str(e), "Secret is missing key(s): B, C")
try:
    modal.Secret.objects.create(name, {"A": "2"})
    check("second create refused", "no error", "AlreadyExistsError")
except modal.exception.AlreadyExistsError as e:
    check("second create refused", str(e), f"Secret '{name}' already exists")

# --- a call sandboxd does not serve is named in the error (here, Modal's queues)
try:
    with modal.Queue.ephemeral():
        pass
    check("a call sandboxd lacks is named", "no error", "UNIMPLEMENTED")
except Exception as e:
    check(
        "a call sandboxd lacks is named",
        "sandboxd does not implement modal.client.ModalClient/QueueGetOrCreate" in str(e),
        True,
    )

print(f"py {GEN}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
