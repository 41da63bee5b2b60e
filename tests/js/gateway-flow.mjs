// The flow a browser page or an edge function runs through `sandboxd gateway` with a
// scoped token (and nothing else): create, exec with stdin and streamed stdout/stderr
// (10 MB each way, hash-checked), files, tags, tunnels, the same sandbox through the other
// replica, another tenant's refusals, terminate. Runtime-agnostic (Chromium, Deno); throws
// on any difference and returns a one-line summary.
export const APP = "gateway-e2e";
const MB10 = 10_000_000;

function check(ok, what) {
  if (!ok) throw new Error(`gateway flow: ${what}`);
}

async function sha256hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readAllBytes(stream) {
  const parts = [];
  let n = 0;
  for await (const c of stream) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function rejectsWith(promise, Cls, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof Cls, `${what}: expected ${Cls.name}, got ${e && e.name}: ${e && e.message}`);
    return e;
  }
  throw new Error(`gateway flow: ${what} did not fail`);
}

export async function gatewayFlow(modal, { gateways, tokenA, tokenB, runtime }) {
  const { ModalClient, PermissionDeniedError, AuthError } = modal;
  let tokenCalls = 0;
  // the first token handed out is bad: the SDK must ask getToken again after UNAUTHENTICATED
  const a = new ModalClient({
    endpoint: gateways[0],
    getToken: async () => (tokenCalls++ === 0 ? "not.a.token" : tokenA),
  });
  const app = await a.apps.fromName(APP, { createIfMissing: true });
  check(tokenCalls === 2, `getToken called ${tokenCalls} times (want 2: a bad token, then a good one)`);
  const image = a.images.fromRegistry("debian:bookworm-slim");
  const sb = await a.sandboxes.create(app, image, { tags: { runtime }, timeoutMs: 300_000, encryptedPorts: [8000] });
  try {
    // stdout and stderr streamed, 10 MB byte-exact: the hash comes back on stderr
    const p = await sb.exec(["sh", "-c", `head -c ${MB10} /dev/urandom | tee /tmp/r; sha256sum /tmp/r >&2`], { mode: "binary" });
    const [out, err] = await Promise.all([readAllBytes(p.stdout), readAllBytes(p.stderr)]);
    check((await p.wait()) === 0, "exit code of the stdout exec");
    check(out.length === MB10, `stdout has ${out.length} bytes`);
    const want = new TextDecoder().decode(err).split(" ")[0];
    check((await sha256hex(out)) === want, "stdout hash matches the sandbox's");

    // stdin, 10 MB byte-exact
    const data = new Uint8Array(MB10);
    for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)));
    const q = await sb.exec(["sha256sum"], { mode: "binary" });
    for (let i = 0; i < data.length; i += 1 << 20) await q.stdin.writeBytes(data.subarray(i, i + (1 << 20)));
    await q.stdin.close();
    const sum = new TextDecoder().decode(await readAllBytes(q.stdout)).split(" ")[0];
    check(sum === (await sha256hex(data)), "stdin arrived byte-exact");

    // files, tags, tunnels
    await sb.filesystem.writeText(`written from ${runtime}\n`, "/tmp/gw.txt");
    check((await sb.filesystem.readText("/tmp/gw.txt")) === `written from ${runtime}\n`, "file round trip");
    const tags = await sb.getTags();
    check(tags.runtime === runtime && tags.user === "a" && tags["modal-wasm-app"] === APP, `tags ${JSON.stringify(tags)}`);
    await sb.setTags({ runtime, extra: "1" });
    check((await sb.getTags()).user === "a", "the token's tag survives setTags");
    const tunnels = await sb.tunnels();
    check(tunnels[8000] && tunnels[8000].port > 0, `tunnels ${JSON.stringify(tunnels)}`);

    // the same sandbox through the other replica
    const a1 = new ModalClient({ endpoint: gateways[1], token: tokenA });
    const same = await a1.sandboxes.fromId(sb.sandboxId);
    const r = await same.exec(["cat", "/tmp/gw.txt"]);
    check((await r.stdout.readText()) === `written from ${runtime}\n`, "read through the other replica");

    // another tenant sees nothing and can do nothing
    const b = new ModalClient({ endpoint: gateways[1], token: tokenB });
    for await (const s of b.sandboxes.list()) check(s.sandboxId !== sb.sandboxId, "b lists a's sandbox");
    const theirs = await b.sandboxes.fromId(sb.sandboxId);
    await rejectsWith(theirs.exec(["true"]), PermissionDeniedError, "b execs in a's sandbox");
    await rejectsWith(theirs.getTags(), PermissionDeniedError, "b reads a's tags");
    await rejectsWith(theirs.terminate(), PermissionDeniedError, "b terminates a's sandbox");
    const bApp = await b.apps.fromName(APP);
    await rejectsWith(b.sandboxes.create(bApp, image, { tags: { user: "a" } }), PermissionDeniedError, "b creates with a's tag");
    await rejectsWith(new ModalClient({ endpoint: gateways[0], token: "x.y.z" }).apps.fromName(APP), AuthError, "a garbage token");
  } finally {
    await sb.terminate();
  }
  return `${runtime}: create, 10 MB stdout+stderr and 10 MB stdin byte-exact, files, tags, tunnels, two replicas, tenant refusals, terminate through the gateway: ok`;
}
