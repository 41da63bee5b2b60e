// The flow a browser page or an edge function runs through `sandboxd gateway` with a
// scoped token (and nothing else): create, exec with stdin and streamed stdout/stderr
// (10 MB each way, hash-checked), files, tags, tunnels, entrypoint logs, the same sandbox
// through the other replica, another tenant's refusals (its logs queries too), terminate. Runtime-agnostic (Chromium, Deno); throws
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

    // the entrypoint's logs (AppFetchLogs through the gateway)
    const logged = await a.sandboxes.create(app, image, { tags: { runtime }, command: ["sh", "-c", "echo gw out; echo gw err >&2"] });
    check((await logged.wait()) === 0, "the logging sandbox ran");
    const entries = [];
    for await (const e of logged.logs.tail()) entries.push(`${e.source}:${e.message}`);
    check(entries.sort().join("") === "stderr:gw err\nstdout:gw out\n", `logs.tail() through the gateway: ${JSON.stringify(entries)}`);
    const aTask = (await (async () => { for await (const e of logged.logs.tail({ entries: 1 })) return e.contextIds[0]; })()) ?? "";

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
    // a's Image carries the id a's build was issued (as in Modal JS): not b's to use
    await rejectsWith(b.sandboxes.create(bApp, image, { command: ["true"] }), PermissionDeniedError, "b creates from a's image");
    const bImage = b.images.fromRegistry("debian:bookworm-slim");
    await rejectsWith(b.sandboxes.create(bApp, bImage, { tags: { user: "a" } }), PermissionDeniedError, "b creates with a's tag");
    await rejectsWith(new ModalClient({ endpoint: gateways[0], token: "x.y.z" }).apps.fromName(APP), AuthError, "a garbage token");
    // b's own logs query naming a's sandboxes or a's task: refused, or narrowed to b's own
    const logsAs = async (token, sandboxId, taskId) => {
      const enc = new TextEncoder();
      const field = (no, v) => { const b = enc.encode(v); return [no * 8 + 2, b.length, ...b]; };
      const msg = [...field(8, taskId), ...field(9, sandboxId)];
      const r = await fetch(`${gateways[1]}/modal.client.ModalClient/AppFetchLogs`, {
        method: "POST", body: new Uint8Array([0, 0, 0, 0, msg.length, ...msg]),
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", authorization: `Bearer ${token}` },
      });
      const body = new Uint8Array(await r.arrayBuffer());
      return { status: r.headers.get("grpc-status") ?? /grpc-status:\s*(\d+)/.exec(new TextDecoder().decode(body))?.[1], body: new TextDecoder().decode(body) };
    };
    check(aTask.startsWith("ta-"), `a's task id from its logs: ${aTask}`);
    const asA = await logsAs(tokenA, logged.sandboxId, aTask);
    check(asA.status === "0" && asA.body.includes("gw out"), `a's own AppFetchLogs by hand: ${asA.status}`);
    const other = await logsAs(tokenB, logged.sandboxId, aTask);
    check(other.status === "7", `b's AppFetchLogs of a's sandbox: PERMISSION_DENIED, got ${other.status}`);
    const bSb = await b.sandboxes.create(bApp, bImage, { command: ["true"] });
    const mixed = await logsAs(tokenB, bSb.sandboxId, aTask);
    check(mixed.status === "0" && !mixed.body.includes("gw out") && !mixed.body.includes(aTask), `b's AppFetchLogs of its own sandbox naming a's task: narrowed to b's (${mixed.status})`);
    await bSb.terminate();
  } finally {
    await sb.terminate();
  }
  return `${runtime}: create, 10 MB stdout+stderr and 10 MB stdin byte-exact, files, tags, tunnels, logs, two replicas, tenant refusals, terminate through the gateway: ok`;
}
