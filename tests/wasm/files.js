// Bodies of the files/images suite (tests/wasm/files.rs): plain JS against the public API,
// with real content, against a live sandboxd.
const IMAGE = "debian:bookworm-slim";

function assert(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}
function eq(a, b, msg) {
  if (a !== b) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}
async function rejects(p, code, msg) {
  try {
    await p;
  } catch (e) {
    assert(e instanceof Error, `${msg}: not an Error: ${e}`);
    if (code) eq(e.code, code, `${msg}: code (${e.name}: ${e.message})`);
    return e;
  }
  throw new Error(`${msg}: did not reject`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sandbox(c, params) {
  const app = await c.apps.fromName("wasm-tests", { createIfMissing: true });
  const image = c.images.fromRegistry(IMAGE);
  return { app, image, sb: await c.sandboxes.create(app, image, params) };
}

async function sh(sb, script) {
  const p = await sb.exec(["sh", "-c", script]);
  const [out, err] = await Promise.all([p.stdout.readText(), p.stderr.readText()]);
  const code = await p.wait();
  return { out, err, code };
}

function pattern(n, seed) {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    a[i] = x & 0xff;
  }
  return a;
}
function sameBytes(a, b, msg) {
  eq(a.length, b.length, `${msg}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${msg}: first difference at byte ${i}`);
  }
}

// A 5 MB Blob up and back byte-exact, with progress; the other sources; readStream.
export async function bigBlobRoundTrip(c) {
  const { sb } = await sandbox(c);
  try {
    const N = 5 * 1024 * 1024;
    const data = pattern(N, 12345);
    const blob = new Blob([data.subarray(0, 1000), data.subarray(1000)]);
    const ups = [];
    const t0 = Date.now();
    await sb.filesystem.writeBytes(blob, "/tmp/big/data.bin", { onProgress: (p) => ups.push(p) });
    const tUp = Date.now() - t0;
    assert(ups.length >= 5, `upload progress calls: ${ups.length}`);
    eq(ups[ups.length - 1].loaded, N, "upload progress ends at the size");
    eq(ups[0].total, N, "upload progress knows the Blob's size");
    for (let i = 1; i < ups.length; i++) assert(ups[i].loaded > ups[i - 1].loaded, "progress grows");

    // The sandbox sees the same bytes (size and checksum computed inside).
    const st = await sb.filesystem.stat("/tmp/big/data.bin");
    eq(st.size, N, "stat size");
    eq(st.type, "file", "stat type");

    const downs = [];
    const t1 = Date.now();
    const back = await sb.filesystem.readBytes("/tmp/big/data.bin", { onProgress: (p) => downs.push(p) });
    const tDown = Date.now() - t1;
    sameBytes(back, data, "5 MB read back");
    eq(downs[downs.length - 1].loaded, N, "download progress ends at the size");
    eq(downs[downs.length - 1].total, N, "download progress total from stat");
    console.log(`5 MB: upload ${tUp} ms (${ups.length} progress calls), download ${tDown} ms (${downs.length})`);

    // Streamed download.
    const s = sb.filesystem.readStream("/tmp/big/data.bin");
    sameBytes(await s.readBytes(), data, "readStream");

    // Other sources: ReadableStream (mixed chunk types), ArrayBuffer, typed-array view, string.
    const rs = new ReadableStream({
      start(ctl) {
        ctl.enqueue(new TextEncoder().encode("one "));
        ctl.enqueue(new TextEncoder().encode("two ").buffer);
        ctl.enqueue("three");
        ctl.close();
      },
    });
    await sb.filesystem.writeBytes(rs, "/tmp/src/stream.txt");
    eq(await sb.filesystem.readText("/tmp/src/stream.txt"), "one two three", "ReadableStream source");
    await sb.filesystem.writeBytes(new Uint8Array([104, 105]).buffer, "/tmp/src/ab.txt");
    eq(await sb.filesystem.readText("/tmp/src/ab.txt"), "hi", "ArrayBuffer source");
    const view = new DataView(new Uint8Array([0, 111, 107, 0]).buffer, 1, 2);
    await sb.filesystem.writeBytes(view, "/tmp/src/view.txt");
    eq(await sb.filesystem.readText("/tmp/src/view.txt"), "ok", "DataView source");
    await sb.filesystem.writeText("héllo ✓\n", "/tmp/src/t.txt");
    eq((await sh(sb, "cat /tmp/src/t.txt")).out, "héllo ✓\n", "writeText seen by cat");
    await sb.filesystem.writeBytes(new Uint8Array(0), "/tmp/src/empty");
    eq((await sb.filesystem.readBytes("/tmp/src/empty")).length, 0, "empty file");

    // A failing read errors the stream with the typed error.
    const bad = sb.filesystem.readStream("/tmp/nope");
    const e = await rejects(bad.readBytes(), "FILESYSTEM_NOT_FOUND", "readStream of a missing file");
    assert(e.constructor.name === "SandboxFilesystemNotFoundError", e.constructor.name);
    await rejects(sb.filesystem.writeBytes(42, "/tmp/x"), "INVALID", "bad source");
    await rejects(sb.filesystem.writeBytes(new Uint8Array(1), "tmp/rel"), "INVALID", "relative path");
    // A source stream that errors fails the upload with its message, typed.
    const failing = new ReadableStream({ pull: (ctl) => ctl.error(new TypeError("boom")) });
    const up = await rejects(sb.filesystem.writeBytes(failing, "/tmp/src/failing"), "INVALID", "failing source");
    eq(up.message, "the source stream failed: boom", "failing source: message");
  } finally {
    await sb.terminate();
  }
}

// listFiles, stat, ls, mkdir, typed errors, rm -r.
export async function listStatRemove(c) {
  const { sb } = await sandbox(c);
  try {
    const fsys = sb.filesystem;
    await fsys.makeDirectory("/tmp/t/sub/deeper");
    await fsys.writeText("12345", "/tmp/t/b.txt");
    await fsys.writeText("x", "/tmp/t/a.txt");
    await sh(sb, "ln -s /tmp/t/a.txt /tmp/t/link && chmod 600 /tmp/t/b.txt");

    const entries = await fsys.listFiles("/tmp/t");
    eq(entries.map((e) => e.name).join(","), "a.txt,b.txt,link,sub", "listFiles names, sorted");
    const b = entries.find((e) => e.name === "b.txt");
    eq(b.type, "file", "type");
    eq(b.size, 5, "size");
    eq(b.path, "/tmp/t/b.txt", "path");
    eq(b.permissions, "0600", "permissions");
    eq(b.owner, "root", "owner");
    assert(typeof b.modifiedTime === "number" && Math.abs(b.modifiedTime - Date.now() / 1000) < 600, "modifiedTime");
    eq(b.symlinkTarget, null, "symlinkTarget of a file");
    const link = entries.find((e) => e.name === "link");
    eq(link.type, "symlink", "symlink type");
    eq(link.symlinkTarget, "/tmp/t/a.txt", "symlink target");
    eq(entries.find((e) => e.name === "sub").type, "directory", "directory type");
    const st = await fsys.stat("/tmp/t/sub");
    eq(st.type, "directory", "stat dir");
    eq(st.name, "sub", "stat name");

    eq((await sb.ls("/tmp/t")).join(","), "a.txt,b.txt,link,sub", "ls");
    await sb.mkdir("/tmp/t/m");
    await rejects(sb.mkdir("/tmp/t/m"), "FILESYSTEM_PATH_ALREADY_EXISTS", "mkdir existing");
    await rejects(sb.mkdir("/tmp/t/x/y"), "FILESYSTEM_NOT_FOUND", "mkdir without parents");
    await sb.mkdir("/tmp/t/x/y", { parents: true });
    await fsys.makeDirectory("/tmp/t/x/y"); // idempotent with parents (the default)

    // Typed errors are real Error subclasses with codes, SandboxFilesystemError at the base.
    let e = await rejects(fsys.stat("/tmp/t/missing"), "FILESYSTEM_NOT_FOUND", "stat missing");
    eq(e.name, "SandboxFilesystemNotFoundError", "error name");
    assert(e.message.includes("/tmp/t/missing"), e.message);
    const base = Object.getPrototypeOf(Object.getPrototypeOf(e)).constructor;
    eq(base.name, "SandboxFilesystemError", "base class");
    eq(base.code, "FILESYSTEM", "base class code");
    await rejects(fsys.readText("/tmp/t/sub"), "FILESYSTEM_IS_A_DIRECTORY", "read a directory");
    await rejects(fsys.listFiles("/tmp/t/a.txt"), "FILESYSTEM_NOT_A_DIRECTORY", "list a file");
    await rejects(fsys.writeText("x", "/tmp/t/a.txt/inner"), "FILESYSTEM_NOT_A_DIRECTORY", "write under a file");
    await rejects(fsys.writeText("x", "/tmp/t/sub"), "FILESYSTEM_IS_A_DIRECTORY", "write over a directory");
    await rejects(fsys.makeDirectory("/tmp/t/sub", { createParents: false }), "FILESYSTEM_PATH_ALREADY_EXISTS", "makeDirectory existing");
    await rejects(fsys.remove("/tmp/t/sub"), "FILESYSTEM_DIRECTORY_NOT_EMPTY", "remove non-empty");
    await rejects(fsys.remove("/tmp/t/gone"), "FILESYSTEM_NOT_FOUND", "remove missing");
    await rejects(fsys.listFiles("relative"), "INVALID", "relative path");
    await rejects(fsys.stat(7), "INVALID", "non-string path");
    await rejects(fsys.makeDirectory("/tmp/q", { createParents: "yes" }), "INVALID", "bad option type");
    await rejects(fsys.stat("/tmp", 5), "INVALID", "bad options");

    // rm -r
    await fsys.writeText("deep", "/tmp/t/sub/deeper/f.txt");
    await fsys.remove("/tmp/t/sub", { recursive: true });
    await rejects(fsys.stat("/tmp/t/sub"), "FILESYSTEM_NOT_FOUND", "removed tree");
    eq((await sh(sb, "test -e /tmp/t/sub; echo $?")).out, "1\n", "tree gone in the sandbox");
    await sb.rm("/tmp/t/a.txt");
    await sb.rm("/tmp/t/x", { recursive: true });
    eq((await sb.ls("/tmp/t")).join(","), "b.txt,link,m", "ls after rm");
    // Bad input on the sandbox shorthands.
    await rejects(sb.open("/tmp/t/b.txt", "rw"), "INVALID", "bad mode");
  } finally {
    await sb.terminate();
  }
}

// A watch sees a create and a modify, and ends on abort; another ends on its timeout.
export async function watchCreateModify(c) {
  const { sb } = await sandbox(c);
  try {
    await sb.filesystem.makeDirectory("/tmp/w");
    const ctl = new AbortController();
    const events = [];
    const it = sb.filesystem.watch("/tmp/w", { timeoutMs: 60000, signal: ctl.signal });
    const loop = (async () => {
      for await (const ev of it) {
        events.push(ev);
        const created = events.some((e) => e.eventType === "Create" && e.paths.includes("/tmp/w/f.txt"));
        const modified = events.some((e) => e.eventType === "Modify" && e.paths.includes("/tmp/w/f.txt"));
        if (created && modified) ctl.abort(new Error("seen both"));
      }
    })();
    await sleep(1500); // let the watcher start in the sandbox
    await sh(sb, "echo one > /tmp/w/f.txt");
    await sleep(300);
    await sh(sb, "echo two >> /tmp/w/f.txt");
    const t0 = Date.now();
    await Promise.race([loop, sleep(20000).then(() => { throw new Error("watch did not end after abort: " + JSON.stringify(events)); })]);
    assert(Date.now() - t0 < 20000, "ended promptly");
    assert(events.some((e) => e.eventType === "Create"), "create seen: " + JSON.stringify(events));
    assert(events.some((e) => e.eventType === "Modify"), "modify seen: " + JSON.stringify(events));
    for (const e of events) assert(Array.isArray(e.paths) && e.paths.length > 0, "paths");
    const r = await it.next();
    eq(r.done, true, "iterator stays done");

    // A filtered watch through the shorthand, ending on its own timeout.
    const t1 = Date.now();
    const seen = [];
    const w2 = sb.watch("/tmp/w", { filter: ["Remove"], timeoutMs: 3000 });
    await sleep(1500);
    await sh(sb, "echo x > /tmp/w/g.txt; rm /tmp/w/g.txt");
    for await (const ev of w2) seen.push(ev);
    const took = Date.now() - t1;
    assert(took >= 2500 && took < 15000, `timeout ended the watch after ${took} ms`);
    assert(seen.length >= 1 && seen.every((e) => e.eventType === "Remove"), "filter: " + JSON.stringify(seen));

    // Errors: a missing path rejects next() with the typed error; bad filters are caught early.
    const w3 = sb.filesystem.watch("/tmp/nowhere", { timeoutMs: 5000 });
    await rejects(w3.next(), "FILESYSTEM_NOT_FOUND", "watch of a missing path");
    let err;
    try {
      sb.filesystem.watch("/tmp/w", { filter: ["Bogus"] });
    } catch (e) {
      err = e;
    }
    eq(err && err.code, "INVALID", "bad filter");
  } finally {
    await sb.terminate();
  }
}

// sandbox.open(): Python-style modes, read/write/seek/flush/close.
export async function fileIO(c) {
  const { sb } = await sandbox(c);
  try {
    let f = await sb.open("/tmp/io/notes.txt", "w");
    eq((await sh(sb, "test -f /tmp/io/notes.txt && wc -c < /tmp/io/notes.txt")).out.trim(), "0", "w creates at open");
    eq(await f.write("héllo\n"), 6, "write returns characters");
    await f.write("world\n");
    await f.flush();
    eq((await sh(sb, "cat /tmp/io/notes.txt")).out, "héllo\nworld\n", "flushed");
    await f.close();
    eq(f.closed, true, "closed");
    await rejects(f.write("x"), "CLIENT_CLOSED", "write after close");
    await f.close(); // idempotent

    f = await sb.open("/tmp/io/notes.txt");
    eq(await f.readline(), "héllo\n", "readline");
    eq(await f.read(3), "wor", "read(3)");
    eq(f.tell(), 10, "tell counts bytes");
    eq(f.seek(0), 0, "seek");
    eq(await f.read(), "héllo\nworld\n", "read all");
    await rejects(f.write("x"), "INVALID", "write in r mode");
    await f.close();

    f = await sb.open("/tmp/io/notes.txt", "a+");
    await f.write("more\n");
    f.seek(0);
    eq(await f.read(), "héllo\nworld\nmore\n", "a+ reads what it appended");
    await f.close();
    eq((await sh(sb, "cat /tmp/io/notes.txt")).out, "héllo\nworld\nmore\n", "appended on close");

    f = await sb.open("/tmp/io/notes.txt", "r+");
    f.seek(-5, 2);
    await f.write("MORE!");
    await f.close();
    eq(await sb.filesystem.readText("/tmp/io/notes.txt"), "héllo\nworld\nMORE!", "r+ overwrite at end");

    const bin = await sb.open("/tmp/io/data.bin", "xb");
    await bin.write(new Uint8Array([1, 2, 3, 4]));
    bin.seek(1);
    await rejects(bin.write("str"), "INVALID", "string in binary mode");
    await bin.write(new Uint8Array([9]));
    await bin.close();
    sameBytes(await sb.filesystem.readBytes("/tmp/io/data.bin"), new Uint8Array([1, 9, 3, 4]), "binary file");
    await rejects(sb.open("/tmp/io/data.bin", "x"), "FILESYSTEM_PATH_ALREADY_EXISTS", "x on an existing file");
    await rejects(sb.open("/tmp/io/missing.txt", "r"), "FILESYSTEM_NOT_FOUND", "r on a missing file");
    await rejects(sb.open("/tmp/io", "r"), "FILESYSTEM_IS_A_DIRECTORY", "r on a directory");
    const rb = await sb.open("/tmp/io/data.bin", "rb");
    sameBytes(await rb.read(2), new Uint8Array([1, 9]), "rb read(2)");
    let err;
    try {
      rb.seek(-1);
    } catch (e) {
      err = e;
    }
    eq(err && err.code, "INVALID", "negative seek");
    await rb.close();

    // `await using` support: [Symbol.asyncDispose] flushes and closes.
    const d = await sb.open("/tmp/io/disposed.txt", "w");
    await d.write("bye");
    await d[Symbol.asyncDispose]();
    eq(d.closed, true, "asyncDispose closes");
    eq((await sh(sb, "cat /tmp/io/disposed.txt")).out, "bye", "asyncDispose flushed");
  } finally {
    await sb.terminate();
  }
}

// Snapshot a sandbox's filesystem, start a new sandbox from the image, find the file.
export async function snapshotFilesystem(c) {
  const { app, sb } = await sandbox(c);
  let sb2;
  try {
    const nonce = `snap-${Math.random().toString(36).slice(2)}`;
    await sb.filesystem.writeText(nonce, "/opt/snaptest/marker.txt");
    const image = await sb.snapshotFilesystem({ ttlMs: 3600000 });
    assert(image.imageId.startsWith("im-"), `image id ${image.imageId}`);
    sb2 = await c.sandboxes.create(app, image);
    eq(await sb2.filesystem.readText("/opt/snaptest/marker.txt"), nonce, "file in the new sandbox");
    eq((await sh(sb2, "cat /opt/snaptest/marker.txt")).out, nonce, "seen by cat too");
    // The image is usable by id as well.
    const again = await c.images.fromId(image.imageId);
    eq(again.imageId, image.imageId, "images.fromId");
    await rejects(sb.snapshotFilesystem({ ttlMs: 1500 }), "INVALID", "ttlMs not a multiple of 1000");
  } finally {
    await sb.terminate();
    if (sb2) await sb2.terminate();
  }
}

// Snapshot a directory, mount it elsewhere (writable), unmount; plus volumes reload.
export async function snapshotDirectoryAndMount(c) {
  const { sb } = await sandbox(c);
  const { sb: sb2 } = await sandbox(c);
  try {
    await sb.filesystem.writeText("alpha", "/data/dir/a.txt");
    await sb.filesystem.writeText("beta", "/data/dir/nested/b.txt");
    const img = await sb.snapshotDirectory("/data/dir", { ttlMs: null });
    assert(img.imageId.startsWith("im-"), `image id ${img.imageId}`);

    await sb2.mountImage("/mnt/snap", img);
    eq(await sb2.filesystem.readText("/mnt/snap/a.txt"), "alpha", "mounted file");
    eq(await sb2.filesystem.readText("/mnt/snap/nested/b.txt"), "beta", "mounted nested file");
    eq((await sb2.ls("/mnt/snap")).join(","), "a.txt,nested", "ls of the mount");
    // Writable, as Modal mounts images: through the helper and through a shell; the
    // image itself never changes.
    await sb2.filesystem.writeText("gamma", "/mnt/snap/c.txt");
    await sb2.filesystem.remove("/mnt/snap/a.txt");
    eq((await sh(sb2, "echo x > /mnt/snap/d.txt")).code, 0, "shell write to the mount");
    eq((await sb2.ls("/mnt/snap")).join(","), "c.txt,d.txt,nested", "ls after writes");

    await sb2.unmountImage("/mnt/snap");
    await rejects(sb2.filesystem.stat("/mnt/snap/a.txt"), "FILESYSTEM_NOT_FOUND", "unmounted");
    await sb2.mountImage("/mnt/snap", img);
    eq((await sb2.ls("/mnt/snap")).join(","), "a.txt,nested", "the image is as it was");
    await sb2.unmountImage("/mnt/snap");
    // (An empty mount without an image is Modal's API too, but sandboxd answers
    // "image_id is required" for now: not tested here.)
    await rejects(sb2.mountImage("relative", img), "INVALID", "relative mount path");
    await rejects(sb2.mountImage("/mnt/x", c.images.fromRegistry("alpine:3.21")), "INVALID", "unbuilt image");
  } finally {
    await sb.terminate();
    await sb2.terminate();
  }
}

export async function volumesReload(c) {
  const app = await c.apps.fromName("wasm-tests", { createIfMissing: true });
  const image = c.images.fromRegistry(IMAGE);
  const vol = await c.volumes.fromName(`wasm-fs-vol-${Date.now()}`, { createIfMissing: true });
  const a = await c.sandboxes.create(app, image, { volumes: { "/vol": vol } });
  const b = await c.sandboxes.create(app, image, { volumes: { "/vol": vol } });
  try {
    // as on Modal: a write reaches another sandbox once committed (the writer's
    // reloadVolumes, or its end) and after the reader's own reloadVolumes
    await a.filesystem.writeText("shared", "/vol/s.txt");
    await b.reloadVolumes();
    await rejects(b.filesystem.readText("/vol/s.txt"), "FILESYSTEM_NOT_FOUND", "not committed yet");
    await a.reloadVolumes({ timeoutMs: 30000 });
    await rejects(b.filesystem.readText("/vol/s.txt"), "FILESYSTEM_NOT_FOUND", "committed, not reloaded");
    await b.reloadVolumes();
    eq(await b.filesystem.readText("/vol/s.txt"), "shared", "file seen after the writer's commit and the reader's reload");
  } finally {
    await a.terminate();
    await b.terminate();
  }
}

const SERVER = `
import http.server, os, sys
class H(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()
    def log_message(self, *a):
        pass
os.chdir("/srv")
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
`;

async function startServer(sb, port, nonce) {
  await sb.filesystem.writeText(nonce, "/srv/hello.txt");
  await sb.filesystem.writeText(SERVER, "/srv/server.py");
  await sb.exec(["sh", "-c", `python3 /srv/server.py ${port} >/dev/null 2>&1 &`]);
}

async function fetchRetry(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.status !== 502 || Date.now() > deadline) return r;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await sleep(200);
  }
}

// A tunnel that serves an HTTP server started in the sandbox; connect tokens.
export async function tunnelsAndConnectTokens(c) {
  const { sb } = await sandbox(c, { encryptedPorts: [8000], timeoutMs: 120000 });
  try {
    const py = await sh(sb, "python3 --version");
    eq(py.code, 0, "python3 in the image: " + py.err);
    const nonce = `tunnel-${Math.random().toString(36).slice(2)}`;
    await startServer(sb, 8000, nonce);
    const tunnels = await sb.tunnels(30000);
    const t = tunnels[8000];
    assert(t, "tunnel for 8000: " + JSON.stringify(tunnels));
    assert(t.url.startsWith("http://127.0.0.1:"), "loopback tunnel url is http: " + t.url);
    eq(t.tlsSocket[0], t.host, "tlsSocket host");
    eq(t.tcpSocket[1], t.unencryptedPort, "tcpSocket port");
    const r = await fetchRetry(`${t.url}/hello.txt`, 15000);
    eq(r.status, 200, "tunnel status");
    eq(await r.text(), nonce, "tunnel body from the sandbox's server");

    // Connect token: the query parameter keeps it a simple GET (no preflight).
    const creds = await sb.createConnectToken({ port: 8000, userMetadata: "who=wasm" });
    assert(creds.url.startsWith("http://") && creds.token.length > 10, JSON.stringify(creds));
    const base = creds.url.replace(/\/$/, "");
    const ok = await fetchRetry(`${base}/hello.txt?_modal_connect_token=${encodeURIComponent(creds.token)}`, 15000);
    eq(ok.status, 200, "token accepted");
    eq(await ok.text(), nonce, "body through the connect proxy");
    // A wrong token and no token are refused. sandboxd's proxy adds CORS headers to its
    // refusals, so the page reads the status (without them the fetch would fail with a
    // TypeError and the status would be hidden).
    for (const [q, want] of [[`?_modal_connect_token=wrong-${nonce}`, 403], ["", 401]]) {
      const r = await fetch(`${base}/hello.txt${q}`);
      eq(r.status, want, `refusal status for ${q || "no token"}`);
      assert(!(await r.text()).includes(nonce), "refusal does not leak the body");
    }
  } finally {
    await sb.terminate();
  }
}

// A readiness probe that becomes ready only after the port opens.
export async function readinessProbe(c, tcpProbe, execProbe) {
  const t0 = Date.now();
  const { sb } = await sandbox(c, {
    command: ["sh", "-c", "sleep 4; mkdir -p /srv; echo ready > /srv/hello.txt; cd /srv && exec python3 -m http.server 8000"],
    encryptedPorts: [8000],
    readinessProbe: tcpProbe, // Probe.withTcp(8000, { intervalMs: 100 })
    timeoutMs: 120000,
  });
  try {
    // Not ready yet: a short wait times out.
    await rejects(sb.waitUntilReady(1000), "TIMEOUT", "not ready before the port opens");
    const pre = await sh(sb, "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8000), 1)\" 2>/dev/null; echo $?");
    eq(pre.out.trim(), "1", "the port is really closed while not ready");
    await sb.waitUntilReady(60000);
    const took = Date.now() - t0;
    assert(took >= 3500, `ready only after the port opened (${took} ms)`);
    const post = await sh(sb, "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8000), 1)\"; echo $?");
    eq(post.out.trim(), "0", "the port is open once ready");
    await sb.waitUntilReady(1000); // stays ready
    // An exec probe as well.
    const { sb: sb2 } = await sandbox(c, {
      command: ["sh", "-c", "sleep 2; touch /tmp/ok; sleep 300"],
      readinessProbe: execProbe, // Probe.withExec(["test", "-f", "/tmp/ok"], { intervalMs: 100 })
    });
    try {
      const t1 = Date.now();
      await sb2.waitUntilReady(30000);
      assert(Date.now() - t1 >= 1000, "exec probe waited for the file");
    } finally {
      await sb2.terminate();
    }
  } finally {
    await sb.terminate();
  }
}

// Abort signals on the new calls.
export async function abortSignals(c) {
  const { sb } = await sandbox(c);
  try {
    const ctl = new AbortController();
    const reason = new Error("stop");
    eq((await sh(sb, "head -c 40000000 /dev/zero > /tmp/big.bin; echo done")).out, "done\n", "big file");
    const p = sb.filesystem.readBytes("/tmp/big.bin", { signal: ctl.signal });
    setTimeout(() => ctl.abort(reason), 100);
    try {
      await p;
      throw new Error("did not reject");
    } catch (e) {
      eq(e, reason, "rejects with the signal's reason");
    }
    const pre = new AbortController();
    pre.abort(reason);
    try {
      await sb.snapshotFilesystem({ signal: pre.signal });
      throw new Error("did not reject");
    } catch (e) {
      eq(e, reason, "pre-aborted snapshot");
    }
    // The sandbox is still usable.
    eq(await sb.filesystem.readText("/etc/hostname").then(() => "ok"), "ok", "usable after aborts");
  } finally {
    await sb.terminate();
  }
}
