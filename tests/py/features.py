"""Modal's official Python client against sandboxd: the Sandbox features beyond the basic
flow (files, snapshots, image mounts, tunnels, connect tokens, readiness, names, tags,
volumes). Run by scripts/test.sh with MODAL_SERVER_URL / MODAL_TOKEN_ID / MODAL_TOKEN_SECRET
set to a live sandboxd.
"""
import sys
import time
import urllib.error
import urllib.request

import modal

passed = failed = 0


def check(name, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: got {got!r}, want {want!r}")


def run(sb, *cmd):
    p = sb.exec(*cmd)
    out = p.stdout.read()
    return p.wait(), out


app = modal.App.lookup("py-features", create_if_missing=True)
image = modal.Image.from_registry("debian:bookworm-slim")

# --- files through the in-sandbox helper
sb = modal.Sandbox.create(app=app, image=image, timeout=120, workdir="/work")
fs = sb.filesystem
fs.write_text("hello from python\n", "/work/hello.txt")
check("file read back", fs.read_text("/work/hello.txt"), "hello from python\n")
fs.make_directory("/work/sub/deeper", create_parents=True)
check("list_files shows the file and dir", sorted(e.name for e in fs.list_files("/work")), ["hello.txt", "sub"])
check("stat size", fs.stat("/work/hello.txt").size, 18)
fs.remove("/work/sub", recursive=True)
check("remove recursive", sorted(e.name for e in fs.list_files("/work")), ["hello.txt"])

# --- snapshot the filesystem, start a new sandbox from it
img = sb.snapshot_filesystem()
sb2 = modal.Sandbox.create(app=app, image=img, timeout=60)
check("file survives a filesystem snapshot", run(sb2, "cat", "/work/hello.txt"), (0, "hello from python\n"))
sb2.terminate()

# --- snapshot a directory, mount it elsewhere (writable, as Modal mounts images; the
# image itself never changes)
run(sb, "sh", "-c", "mkdir -p /data && echo dirsnap > /data/x")
dimg = sb.snapshot_directory("/data")
sb.mount_image("/mnt/data", dimg)
check("mounted directory image", run(sb, "cat", "/mnt/data/x"), (0, "dirsnap\n"))
check("image mount is writable", run(sb, "sh", "-c", "echo more >> /mnt/data/x && echo new > /mnt/data/y && cat /mnt/data/x /mnt/data/y"), (0, "dirsnap\nmore\nnew\n"))
sb.unmount_image("/mnt/data")
check("unmounted", run(sb, "ls", "/mnt/data"), (0, ""))
sb.mount_image("/mnt/data", dimg)
check("the image is as it was", run(sb, "ls", "/mnt/data"), (0, "x\n"))
sb.unmount_image("/mnt/data")

# --- paths resolve inside the sandbox: a symlink pointing "out" stays in, `..` is refused
import os
marker = f"escape-{os.getpid()}"
run(sb, "sh", "-c", "ln -s /../../../../tmp /tmp/out && ln -s /etc /tmp/etc-link")
sb.mount_image(f"/tmp/out/{marker}", dimg)
check("mount through a symlink lands in the sandbox", run(sb, "cat", f"/tmp/{marker}/x"), (0, "dirsnap\n"))
check("the host's /tmp is untouched", os.path.exists(f"/tmp/{marker}"), False)
etc_img = sb.snapshot_directory("/tmp/etc-link")
sb.mount_image("/mnt/etc", etc_img)
check("a directory snapshot through a symlink copies the sandbox's files", run(sb, "cat", "/mnt/etc/hostname"), (0, "modal\n"))
try:
    sb.mount_image("/mnt/../../etc/evil", dimg)
    check("`..` in a mount path is refused", "accepted", "refused")
except modal.exception.Error as e:
    check("`..` in a mount path is refused", type(e).__name__, "InvalidError")
sb.terminate()

# --- Dockerfile-style builds: RUN, ENV, WORKDIR; cached; failures reported
built = image.run_commands("echo built > /built.txt").env({"FOO": "bar"}).workdir("/app")
sb = modal.Sandbox.create(app=app, image=built, timeout=60)
check("RUN/ENV/WORKDIR applied", run(sb, "sh", "-c", "cat /built.txt; echo $FOO; pwd"), (0, "built\nbar\n/app\n"))
sb.terminate()
t0 = time.time()
modal.Sandbox.create(app=app, image=image.run_commands("echo built > /built.txt").env({"FOO": "bar"}).workdir("/app"), timeout=60).terminate()
check("a second identical build is cached", time.time() - t0 < 5, True)
try:
    modal.Sandbox.create(app=app, image=image.run_commands("echo failing >&2; exit 3"), timeout=60)
    check("failing RUN fails the build", "no error", "ImageBuildError")
except modal.exception.ImageBuildError as e:
    check("failing RUN fails the build", "exit" in str(e) or "Code(3)" in str(e), True)

# --- tunnels, readiness probe
sb = modal.Sandbox.create(
    "python3", "-c",
    "import time, http.server\n"
    "time.sleep(1.5)\n"
    "http.server.HTTPServer(('0.0.0.0', 8000), http.server.SimpleHTTPRequestHandler).serve_forever()",
    app=app, image=image, timeout=60, workdir="/srv", encrypted_ports=[8000],
    readiness_probe=modal.Probe.with_tcp(8000),
)
t0 = time.time()
sb.wait_until_ready(timeout=30)
check("readiness waited for the port to open", time.time() - t0 > 0.5, True)
tunnel = sb.tunnels()[8000]
with urllib.request.urlopen(f"http://{tunnel.host}:{tunnel.port}/", timeout=10) as r:
    check("tunnel serves the sandbox's HTTP server", r.status, 200)

# --- connect tokens
creds = sb.create_connect_token(user_metadata={"who": "test"})
port_url = creds.url
req = urllib.request.Request(port_url.rstrip("/") + "/", headers={"Authorization": f"Bearer {creds.token}"})
try:
    status = urllib.request.urlopen(req, timeout=10).status
except urllib.error.HTTPError as e:
    status = e.code
check("connect token accepted (default port 8080 has no server: 502)", status, 502)
for headers, want in [({"Authorization": "Bearer wrong"}, 403), ({}, 401)]:
    try:
        status = urllib.request.urlopen(urllib.request.Request(port_url, headers=headers), timeout=10).status
    except urllib.error.HTTPError as e:
        status = e.code
    check(f"connect proxy refuses {headers or 'no token'}", status, want)
sb.terminate()

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
