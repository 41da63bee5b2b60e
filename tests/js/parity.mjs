// Parity with Modal's JS client (modal@0.11.1): a table of Modal-JS-style calls run against
// the built package in Node and a live sandboxd. Every option key of Modal's
// SandboxCreateParams and SandboxExecParams, read from its index.d.ts here (so a key it
// adds fails this test until the table has it), is either sent on the wire as Modal's
// client sends it (seen by a recording proxy in front of sandboxd) or refused with an
// InvalidError naming it. Where sandboxd cannot do what is sent (gpu, regions, ...), a
// refusal from the server is accepted: the request carried the option.
import { readFileSync } from "node:fs";
import http from "node:http";
import { execFile } from "node:child_process";
import * as modal from "modal-wasm";

const { ModalClient, Probe, InvalidError, TimeoutError, ClientClosedError, NotFoundError, ConflictError } = modal;
const env = process.env;
const DTS = new URL("../conformance/node_modules/modal/dist/index.d.ts", import.meta.url);

// ---- Modal's declared option keys --------------------------------------------------------
const dts = readFileSync(DTS, "utf8");
function declaredKeys(type) {
  const start = dts.indexOf(`type ${type} = {`);
  if (start < 0) throw new Error(`${type} not found in modal's index.d.ts`);
  const keys = [];
  let depth = 0;
  for (const line of dts.slice(start).split("\n")) {
    if (depth === 1) {
      const m = line.match(/^\s*(\w+)\??:/);
      if (m) keys.push(m[1]);
    }
    depth += (line.match(/{/g) || []).length - (line.match(/}/g) || []).length;
    if (depth === 0 && keys.length) break;
  }
  return keys;
}

// the method and getter names of a class Modal's index.d.ts declares
function declaredMembers(cls) {
  const start = dts.indexOf(`declare class ${cls} {`);
  if (start < 0) throw new Error(`class ${cls} not found in modal's index.d.ts`);
  const names = [];
  for (const line of dts.slice(start).split("\n").slice(1)) {
    if (line.startsWith("}")) break;
    const m = line.match(/^    (?:readonly |get )?(\w+)[(?:<]/);
    if (m && m[1] !== "constructor" && !m[1].startsWith("_")) names.push(m[1]);
  }
  return names;
}

// ---- a recording proxy: every request body by RPC name, then forwarded ------------------
const upstream = new URL(env.SANDBOXD_URL);
const seen = new Map(); // rpc name -> [request message bytes]
const proxy = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const rpc = req.url.split("/").pop();
    // gRPC-web: one frame, 1 flag byte and a 4-byte length before the message
    if (body.length >= 5) (seen.get(rpc) ?? seen.set(rpc, []).get(rpc)).push(body.subarray(5));
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method,
      headers: { ...req.headers, host: upstream.host } }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    up.on("error", (e) => { res.destroy(e); });
    up.end(body);
  });
});
await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
const endpoint = `http://127.0.0.1:${proxy.address().port}`;

// ---- a protobuf reader: field number -> values (varints as numbers, the rest bytes) ----
function fields(buf) {
  const out = {};
  let i = 0;
  const varint = () => { let n = 0, s = 0, b; do { b = buf[i++]; n += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return n; };
  while (i < buf.length) {
    const tag = varint(), no = Math.floor(tag / 8), wt = tag & 7;
    let v;
    if (wt === 0) v = varint();
    else if (wt === 2) { const n = varint(); v = buf.subarray(i, i + n); i += n; }
    else if (wt === 1) { v = buf.subarray(i, i + 8); i += 8; }
    else if (wt === 5) { v = buf.subarray(i, i + 4); i += 4; }
    else throw new Error(`wire type ${wt}`);
    (out[no] ??= []).push(v);
  }
  return out;
}
// the value at a path of field numbers (each through the first occurrence)
function at(msg, ...path) {
  let v = msg;
  for (const [k, no] of path.entries()) {
    const f = fields(v)[no];
    if (!f) return undefined;
    v = k === path.length - 1 ? f : f[0];
  }
  return v;
}
const str = (v) => v && Buffer.from(v[0]).toString();
const num = (v) => v && v[0];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A named secret, made by a gRPC-web call by hand (neither Modal JS nor this package creates
// named secrets): SecretGetOrCreate { deployment_name, CREATE_FAIL_IF_EXISTS, env_dict }.
async function createNamedSecret(name, env) {
  const enc = new TextEncoder();
  const bytesField = (no, b) => [no * 8 + 2, b.length, ...b];
  let msg = [...bytesField(1, enc.encode(name)), 4 * 8, 2];
  for (const [k, v] of Object.entries(env)) msg.push(...bytesField(5, [...bytesField(1, enc.encode(k)), ...bytesField(2, enc.encode(v))]));
  const body = new Uint8Array([0, 0, 0, 0, msg.length, ...msg]);
  const r = await fetch(`${env_.SANDBOXD_URL}/modal.client.ModalClient/SecretGetOrCreate`, { method: "POST", body,
    headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-modal-token-id": env_.SANDBOXD_TOKEN_ID, "x-modal-token-secret": env_.SANDBOXD_TOKEN_SECRET } });
  const text = new Uint8Array(await r.arrayBuffer());
  if (!r.ok || (r.headers.get("grpc-status") ?? "0") !== "0" && r.headers.get("grpc-status") !== null) throw new Error(`SecretGetOrCreate: ${r.status} ${r.headers.get("grpc-message")}`);
  return text;
}
const env_ = env;
const rejection = (p) => p.then(() => null, (e) => e);

// ---- the client ----------------------------------------------------------------------------
const client = new ModalClient({ endpoint, tokenId: env.SANDBOXD_TOKEN_ID, tokenSecret: env.SANDBOXD_TOKEN_SECRET });
const app = await client.apps.fromName("parity", { createIfMissing: true });
const image = client.images.fromRegistry("alpine:3.21");
const secret = await client.secrets.fromObject({ PARITY_SECRET: "s3" });
const volume = await client.volumes.fromName("parity-vol", { createIfMissing: true });

let failures = 0, checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) { failures++; console.error(`FAIL ${what}`); }
}

// A create's request as sent (the definition, and the request) and how it ended.
async function createAndCapture(params) {
  seen.delete("SandboxCreateV2");
  let sb, error;
  try { sb = await client.sandboxes.create(app, image, params); } catch (e) { error = e; }
  const reqs = seen.get("SandboxCreateV2") ?? [];
  if (sb) await sb.terminate().catch(() => {});
  const req = reqs.at(-1);
  return { req, def: req && at(req, 2)?.[0], error, sent: reqs.length > 0 };
}

// ---- SandboxCreateParams: key -> [params, check of the request's definition `d` / request `r`]
const CREATE_SENT = {
  cpu: [{ cpu: 0.5 }, (d) => num(at(d, 5, 3)) === 500],
  cpuLimit: [{ cpu: 0.5, cpuLimit: 1 }, (d) => num(at(d, 5, 7)) === 1000],
  memoryMiB: [{ memoryMiB: 256 }, (d) => num(at(d, 5, 2)) === 256],
  memoryLimitMiB: [{ memoryMiB: 256, memoryLimitMiB: 512 }, (d) => num(at(d, 5, 5)) === 512],
  runtime: [{ runtime: "gvisor" }, (d) => str(at(d, 28)) === "gvisor"],
  gpu: [{ gpu: "t4:2" }, (d) => num(at(d, 5, 4, 2)) === 2 && str(at(d, 5, 4, 4)) === "T4"],
  timeoutMs: [{ timeoutMs: 60_000 }, (d) => num(at(d, 7)) === 60],
  idleTimeoutMs: [{ idleTimeoutMs: 10_000 }, (d) => num(at(d, 33)) === 10],
  workdir: [{ workdir: "/tmp" }, (d) => str(at(d, 8)) === "/tmp"],
  command: [{ command: ["sleep", "30"] }, (d) => at(d, 1)?.map(String).join(" ") === "sleep 30"],
  env: [{ env: { A: "1" } }, (_, r) => Buffer.from(at(r, 6)[0]).includes("A")],
  secrets: [{ secrets: [secret] }, (_, r) => str(at(r, 6, 1)) === secret.secretId],
  volumes: [{ volumes: { "/mnt/v": volume } }, (d) => str(at(d, 13, 2)) === "/mnt/v"],
  pty: [{ pty: true }, (d) => num(at(d, 15, 1)) === 1],
  encryptedPorts: [{ encryptedPorts: [8080] }, (d) => num(at(d, 20, 1, 1)) === 8080],
  h2Ports: [{ h2Ports: [8443] }, (d) => num(at(d, 20, 1, 1)) === 8443 && num(at(d, 20, 1, 3)) === 1],
  unencryptedPorts: [{ unencryptedPorts: [8081] }, (d) => num(at(d, 20, 1, 2)) === 1],
  blockNetwork: [{ blockNetwork: true }, (d) => num(at(d, 22, 1)) === 2],
  outboundCidrAllowlist: [{ outboundCidrAllowlist: ["10.0.0.0/8"] }, (d) => num(at(d, 22, 1)) === 3 && str(at(d, 22, 2)) === "10.0.0.0/8"],
  outboundDomainAllowlist: [{ outboundDomainAllowlist: ["example.com"] }, (d) => num(at(d, 22, 1)) === 3 && str(at(d, 22, 3)) === "example.com"],
  inboundCidrAllowlist: [{ inboundCidrAllowlist: ["10.0.0.0/8"] }, (d) => str(at(d, 39)) === "10.0.0.0/8"],
  i6pn: [{ i6pn: true }, (d) => num(at(d, 21)) === 1],
  cloud: [{ cloud: "aws" }, (d) => str(at(d, 26)) === "aws"],
  regions: [{ regions: ["us-east-1"] }, (d) => str(at(d, 17, 4)) === "us-east-1"],
  verbose: [{ verbose: true }, (d) => num(at(d, 29)) === 1],
  readinessProbe: [{ readinessProbe: Probe.withTcp(8080) }, (d) => num(at(d, 38, 1)) === 8080],
  name: [{ name: `parity-${process.pid}` }, (d) => str(at(d, 30)) === `parity-${process.pid}`],
  tags: [{ tags: { team: "a" } }, (_, r) => str(at(r, 4, 1)) === "team" && str(at(r, 4, 2)) === "a"],
  experimentalOptions: [{ experimentalOptions: { x: true } }, (d) => str(at(d, 41, 1)) === "x" && str(at(d, 41, 2)) === "true"],
  customDomain: [{ customDomain: "sb.example.com" }, (d) => str(at(d, 36)) === "sb.example.com"],
  includeOidcIdentityToken: [{ includeOidcIdentityToken: true }, (d) => num(at(d, 37)) === 1],
  experimentalEnableSnapshot: [{ experimentalEnableSnapshot: true }, (d) => num(at(d, 24)) === 1],
};
// Refused by this package (documented): the objects they take do not exist here.
const CREATE_REFUSED = {
  cloudBucketMounts: { "/mnt/b": {} },
  proxy: { proxyId: "pr-1" },
  experimentalOutboundPolicy: {},
};
// Modal's JS client's renamed keys, refused with its words.
const RENAMED = { memory: "memoryMiB", memoryLimit: "memoryLimitMiB", timeout: "timeoutMs", idleTimeout: "idleTimeoutMs", cidrAllowlist: "outboundCidrAllowlist" };

const createKeys = declaredKeys("SandboxCreateParams");
check(createKeys.length >= 30, `SandboxCreateParams keys read from modal's index.d.ts: ${createKeys.length}`);
for (const key of createKeys) {
  check(key in CREATE_SENT || key in CREATE_REFUSED, `create option '${key}' of Modal's JS client is neither sent nor refused in this table`);
}
// the default open network, a baseline for the outbound checks
const base = await createAndCapture({});
check(base.sent && num(at(base.def, 22, 1)) === 1, "create without options: network OPEN");
for (const [key, [params, ok]] of Object.entries(CREATE_SENT)) {
  const { req, def, error, sent } = await createAndCapture(params);
  check(sent, `create ${key}: a request was sent (${error?.message})`);
  if (!sent) continue;
  check(ok(def, req), `create ${key}: sent as Modal's JS client sends it`);
  // sandboxd may refuse what it cannot do: the server's answer, never a client-side drop
  check(!error || error.grpcStatus !== undefined, `create ${key}: ${error?.name}: ${error?.message}`);
  if (error) console.log(`  create ${key}: sandboxd answered ${error.name}: ${error.message}`);
}
for (const [key, value] of Object.entries(CREATE_REFUSED)) {
  const { error, sent } = await createAndCapture({ [key]: value });
  check(!sent && error instanceof InvalidError && error.message.includes(key), `create ${key}: refused, got ${error?.message}`);
}
for (const [old, now] of Object.entries(RENAMED)) {
  const { error, sent } = await createAndCapture({ [old]: 1 });
  check(!sent && error instanceof InvalidError && error.message === `Parameter '${old}' has been renamed to '${now}'.`, `create ${old}: renamed, got ${error?.message}`);
}
{
  const { error, sent } = await createAndCapture({ timoutMs: 60_000 });
  check(!sent && error instanceof InvalidError && error.message.includes("did you mean 'timeoutMs'"), `create timoutMs: suggestion, got ${error?.message}`);
}

// ---- SandboxExecParams: each key's effect on a real command --------------------------------
const sb = await client.sandboxes.create(app, image, { command: ["sleep", "120"] });
async function run(argv, params) {
  const p = await sb.exec(argv, params);
  const [out, err, code] = await Promise.all([p.stdout.readText?.() ?? read(p.stdout), read(p.stderr), p.wait()]);
  return { out, err, code };
}
async function read(stream) {
  const parts = [];
  for await (const c of stream) parts.push(c);
  return parts;
}
const EXEC = {
  mode: async () => { const p = await sb.exec(["echo", "hi"], { mode: "binary" }); const c = await read(p.stdout); await p.wait(); return c.length > 0 && c.every((x) => x instanceof Uint8Array); },
  stdout: async () => (await run(["echo", "hi"], { stdout: "ignore" })).out === "",
  stderr: async () => (await run(["sh", "-c", "echo e >&2"], { stderr: "ignore" })).err.length === 0,
  workdir: async () => (await run(["pwd"], { workdir: "/tmp" })).out.trim() === "/tmp",
  // the server stops the command; the client's wait() stops at the deadline too (either
  // may come first), as Modal JS's
  timeoutMs: async () => {
    const p = await sb.exec(["sleep", "30"], { timeoutMs: 1000 });
    const r = await p.wait().catch((e) => e);
    return r instanceof TimeoutError || (typeof r === "number" && r !== 0);
  },
  env: async () => (await run(["sh", "-c", "echo $A"], { env: { A: "x1" } })).out.trim() === "x1",
  secrets: async () => (await run(["sh", "-c", "echo $PARITY_SECRET"], { secrets: [secret] })).out.trim() === "s3",
  pty: async () => (await run(["sh", "-c", "tty"], { pty: true, mode: "text" })).out.includes("/dev/pts"),
};
const execKeys = declaredKeys("SandboxExecParams");
check(execKeys.length >= 8, `SandboxExecParams keys read from modal's index.d.ts: ${execKeys.length}`);
for (const key of execKeys) {
  if (!(key in EXEC)) { check(false, `exec option '${key}' of Modal's JS client is not in this table`); continue; }
  let ok = false, why = "";
  try { ok = await EXEC[key](); } catch (e) { why = `${e.name}: ${e.message}`; }
  check(ok, `exec ${key} ${why}`);
}
for (const [params, expected] of [
  [{ timeout: 1000 }, "Parameter 'timeout' has been renamed to 'timeoutMs'."],
  [{ workDir: "/tmp" }, "unknown option 'workDir' in params (did you mean 'workdir'?)"],
]) {
  const e = await sb.exec(["true"], params).then(() => null, (e) => e);
  check(e instanceof InvalidError && e.message === expected, `exec ${Object.keys(params)[0]}: got ${e?.message}`);
}

// ---- fromName, list ---------------------------------------------------------------------------
const named = await client.sandboxes.create(app, image, { name: `parity-named-${process.pid}`, tags: { parity: "1" } });
const back = await client.sandboxes.fromName("parity", `parity-named-${process.pid}`, { environment: undefined, includeTerminated: false });
check(back.sandboxId === named.sandboxId, "sandboxes.fromName");
for (const key of declaredKeys("SandboxFromNameParams")) check(["environment", "includeTerminated"].includes(key), `fromName option '${key}' not handled`);
const listed = [];
for await (const s of client.sandboxes.list({ appId: app.appId, tags: { parity: "1" } })) listed.push(s.sandboxId);
check(listed.length === 1 && listed[0] === named.sandboxId, `sandboxes.list({ appId, tags }): ${listed}`);
for (const key of declaredKeys("SandboxListParams")) check(["appId", "tags", "environment"].includes(key), `list option '${key}' not handled`);
await named.terminate();

// ---- Modal JS's V2 service calls: aliases of create, fromName and list (the same RPCs) ----------
{
  seen.delete("SandboxCreateV2"); seen.delete("SandboxGetFromNameV2"); seen.delete("SandboxListV2");
  const name = `parity-v2-${process.pid}`;
  const v2 = await client.sandboxes.experimentalCreate(app, image, { name, tags: { parityV2: "1" }, command: ["sleep", "60"] });
  check((seen.get("SandboxCreateV2") ?? []).length === 1, "sandboxes.experimentalCreate: one SandboxCreateV2");
  const p = await v2.exec(["echo", "v2"]);
  check((await p.stdout.readText()) === "v2\n", "sandboxes.experimentalCreate: a working sandbox");
  const back = await client.sandboxes.experimentalFromName("parity", name, { includeTerminated: false });
  check(back.sandboxId === v2.sandboxId && (seen.get("SandboxGetFromNameV2") ?? []).length === 1, "sandboxes.experimentalFromName: SandboxGetFromNameV2 finds it");
  const missing = await rejection(client.sandboxes.experimentalFromName("parity", `${name}-none`));
  check(missing instanceof NotFoundError, `sandboxes.experimentalFromName of no sandbox: ${missing?.name}`);
  const listed = [];
  for await (const s of client.sandboxes.experimentalList({ appId: app.appId, tags: { parityV2: "1" } })) listed.push(s.sandboxId);
  check(listed.length === 1 && listed[0] === v2.sandboxId && (seen.get("SandboxListV2") ?? []).length >= 1, `sandboxes.experimentalList: SandboxListV2 lists it: ${listed}`);
  for (const key of declaredKeys("SandboxExperimentalListParams")) check(["appId", "tags", "environment"].includes(key), `experimentalList option '${key}' not handled`);
  for (const key of declaredKeys("SandboxExperimentalFromNameParams")) check(["environment", "includeTerminated"].includes(key), `experimentalFromName option '${key}' not handled`);
  await v2.terminate();
  // memory snapshots: refused by name, before any request
  const before = seen.size;
  const snapshotWords = "is not supported by modal-wasm: it has no memory snapshots";
  const e1 = await rejection(client.sandboxSnapshots.fromId("sn-1"));
  check(e1 instanceof InvalidError && e1.message.startsWith(`sandboxSnapshots.fromId ${snapshotWords}`), `sandboxSnapshots.fromId: ${e1?.name}: ${e1?.message}`);
  const e2 = await rejection(client.sandboxes.experimentalFromSnapshot({ snapshotId: "sn-1" }, { name: null }));
  check(e2 instanceof InvalidError && e2.message.startsWith(`sandboxes.experimentalFromSnapshot ${snapshotWords}`), `sandboxes.experimentalFromSnapshot: ${e2?.name}: ${e2?.message}`);
  let e3 = null;
  try { new modal.SandboxSnapshot(); } catch (e) { e3 = e; }
  check(e3 instanceof InvalidError && e3.message.startsWith(`SandboxSnapshot ${snapshotWords}`), `new SandboxSnapshot(): ${e3?.message}`);
  check(client.sandboxSnapshots instanceof modal.SandboxSnapshotService && seen.size === before, "client.sandboxSnapshots: a SandboxSnapshotService; the refusals sent nothing");
  // named images: Image.publish, images.fromName (ImagePublish, ImageGetByTag as Modal JS sends them)
  const built = await client.images.fromRegistry("alpine:3.21").build(app);
  seen.delete("ImagePublish"); seen.delete("ImageGetByTag");
  const ref = `parity-img-${process.pid}`;
  await built.publish(`${ref}:v1`);
  const pub = seen.get("ImagePublish")?.[0];
  check(pub && Buffer.from(at(pub, 1)[0]).toString() === built.imageId && Buffer.from(at(pub, 2)[0]).toString() === `${ref}:v1` && at(pub, 4) === undefined,
    "image.publish: ImagePublish { imageId, tag: name:tag, allowPublic: false }");
  const named = await client.images.fromName(`${ref}:v1`);
  check(named.imageId === built.imageId, `images.fromName: the published image: ${named.imageId}`);
  const byTag = seen.get("ImageGetByTag")?.[0];
  check(byTag && Buffer.from(at(byTag, 1)[0]).toString() === `${ref}:v1`, "images.fromName: ImageGetByTag { tag: name:tag }");
  const sbNamed = await client.sandboxes.create(app, named, { command: ["sleep", "60"] });
  const release = await (await sbNamed.exec(["sh", "-c", "echo from-named"])).stdout.readText();
  check(release === "from-named\n", `images.fromName: its image starts a sandbox: ${release}`);
  await sbNamed.terminate();
  await built.publish(ref, { environment: "main" });
  check((await client.images.fromName(`main/${ref}`)).imageId === built.imageId, "image.publish(name): ':latest', found with an environment prefix");
  const notFound = await rejection(client.images.fromName(`${ref}:v2`));
  check(notFound instanceof NotFoundError, `images.fromName of an unpublished tag: ${notFound?.name}: ${notFound?.message}`);
  const sent = (seen.get("ImageGetByTag") ?? []).length + (seen.get("ImagePublish") ?? []).length;
  for (const [call, expected] of [
    [() => client.images.fromName("bad name"), "Invalid Image name: 'bad name'."],
    [() => client.images.fromName("im-123"), "Image name cannot start with 'im-' (reserved for image IDs)."],
    [() => client.images.fromName("x:bad/tag"), "Invalid Image tag name: 'bad/tag'."],
    [() => client.images.fromName("/x"), "Invalid Image name: '/' prefix must be non-empty."],
    [() => client.images.fromName("main/x", { environment: "main" }), "Cannot specify 'environment' when the image name contains a '/'."],
    [() => client.images.fromName("x", { enviroment: "main" }), "did you mean 'environment'?"],
    [() => client.images.fromName(42), "name must be a string"],
    [() => client.images.fromRegistry("alpine:3.21").publish("x"), "Cannot publish an image that has not been built yet. Call build() first."],
  ]) {
    const e = await rejection(call());
    check(e instanceof InvalidError && e.message.includes(expected), `refused: ${expected}: got ${e?.name}: ${e?.message}`);
  }
  check((seen.get("ImageGetByTag") ?? []).length + (seen.get("ImagePublish") ?? []).length === sent, "bad names and params: refused before any request");
  for (const key of [...declaredKeys("ImageFromNameParams"), ...declaredKeys("ImagePublishParams")]) check(key === "environment", `named image option '${key}' not handled`);
  // every call of Modal JS's services exists here (works, or is refused by name)
  for (const [cls, obj] of [["SandboxService", client.sandboxes], ["ImageService", client.images], ["SandboxSnapshotService", client.sandboxSnapshots], ["Image", image]]) {
    for (const m of declaredMembers(cls)) check(typeof obj[m] === "function" || m === "imageId", `${cls}.${m}: missing`);
  }
}

// ---- Modal JS's calls: each as Modal's client does it -------------------------------------------
{
  // closeStdin: EOF sent directly, past the WritableStream, at the offset written so far
  // (the command router's calls go to sandboxd directly: cat's exit shows the EOF came)
  const p = await sb.exec(["cat"]);
  const w = p.stdin.getWriter();
  await w.write("abc");
  await p.closeStdin();
  const code = await Promise.race([p.wait(), sleep(20_000).then(() => "no EOF within 20 s")]);
  check((await p.stdout.readText()) === "abc" && code === 0, `closeStdin: cat saw EOF after what was written: ${code}`);
  check((await rejection(w.write("more"))) instanceof ClientClosedError, "a write after closeStdin: ClientClosedError");
  check((await rejection(p.closeStdin())) === null, "closeStdin again: resolves, as Modal JS's (errors swallowed)");
}
{
  // exec timeoutMs: a client-side deadline on wait() and poll()
  const p = await sb.exec(["sleep", "30"], { timeoutMs: 2000 });
  check((await p.poll()) === null, "exec timeoutMs: poll before the deadline");
  await sleep(2100);
  const e1 = await rejection(p.poll()), e2 = await rejection(p.wait());
  check(e1 instanceof TimeoutError && e1.message === `Deadline exceeded while polling for exec ${p.execId}`, `exec timeoutMs: poll after the deadline: ${e1?.message}`);
  check(e2 instanceof TimeoutError && e2.message === `Deadline exceeded while waiting for exec ${p.execId}`, `exec timeoutMs: wait after the deadline: ${e2?.message}`);
}
{
  // wait() works after detach(); other calls are refused
  const s = await client.sandboxes.create(app, image, { command: ["sh", "-c", "exit 7"] });
  s.detach();
  check((await s.wait()) === 7, "wait() after detach()");
  check((await rejection(s.poll())) instanceof ClientClosedError, "poll() after detach(): ClientClosedError");
  // waitUntilReady(0): refused before any request, as Modal JS does
  const e = await rejection(sb.waitUntilReady(0));
  check(e instanceof InvalidError && e.message === "timeoutMs must be positive, got 0", `waitUntilReady(0): ${e?.message}`);
  // a snapshot's encryption key: refused by name, never dropped
  const k = await rejection(sb.snapshotFilesystem({ experimentalEncryptionKey: new Uint8Array(32) }));
  check(k instanceof InvalidError && k.message.includes("experimentalEncryptionKey"), `snapshotFilesystem({ experimentalEncryptionKey }): ${k?.name}: ${k?.message}`);
}
{
  // Tunnel: Modal JS's class; a sandbox's tunnels fetched once per handle
  const t = await client.sandboxes.create(app, image, { command: ["sleep", "60"], encryptedPorts: [8080] });
  seen.delete("SandboxGetTunnelsV2");
  const tunnels = await t.tunnels();
  const again = await t.tunnels();
  check((seen.get("SandboxGetTunnelsV2") ?? []).length === 1 && again === tunnels, "tunnels(): fetched once per sandbox, the same object again");
  const tn = tunnels[8080];
  check(tn instanceof modal.Tunnel && tn.url === `http://${tn.host}:${tn.port}` && tn.tlsSocket.join(":") === `${tn.host}:${tn.port}`, `tunnels()[8080]: a Tunnel, url ${tn?.url}`);
  check(tn.tcpSocket.join(":") === `${tn.unencryptedHost}:${tn.unencryptedPort}`, "tunnel.tcpSocket: [unencryptedHost, unencryptedPort]");
  await t.terminate();
  // a tunnel without plain TCP (as Modal's encrypted ports are): tcpSocket throws
  const tls = new modal.Tunnel("abc.modal.host", 443);
  const e = (() => { try { return tls.tcpSocket; } catch (e) { return e; } })();
  check(e instanceof InvalidError && e.message === "This tunnel is not configured for unencrypted TCP.", `tcpSocket without unencrypted TCP: ${e?.message}`);
  check(tls.url === "https://abc.modal.host" && new modal.Tunnel("abc.modal.host", 8443).url === "https://abc.modal.host:8443", `Tunnel.url as Modal JS's: ${tls.url}`);
}
{
  // App.environmentName: the environment the app was looked up in, as sent
  seen.delete("AppGetOrCreate");
  const a = await client.apps.fromName("parity");
  const sent = str(at(seen.get("AppGetOrCreate")[0], 2)) ?? "";
  check(typeof a.environmentName === "string" && a.environmentName === sent, `App.environmentName: '${a.environmentName}', sent '${sent}'`);
}
{
  // secrets.delete: SecretGetOrCreate by name, then SecretDelete { secret_id }, as Modal JS
  const name = `parity-secret-${process.pid}`;
  await createNamedSecret(name, { K: "v" });
  const s = await client.secrets.fromName(name);
  for (const rpc of ["SecretGetOrCreate", "SecretDelete"]) seen.delete(rpc);
  const e = await rejection(client.secrets.delete(name));
  const lookup = seen.get("SecretGetOrCreate")?.[0], del = seen.get("SecretDelete")?.[0];
  check(lookup && str(at(lookup, 1)) === name && !at(lookup, 4), "secrets.delete: looked up by name as Modal JS does");
  check(del && str(at(del, 1)) === s.secretId, "secrets.delete: SecretDelete { secret_id } sent");
  check(!e, `secrets.delete: done (${e?.message})`);
  check((await rejection(client.secrets.fromName(name))) instanceof NotFoundError, "secrets.delete: gone");
  const missing = await rejection(client.secrets.delete(`no-such-secret-${process.pid}`));
  check(missing instanceof NotFoundError, `secrets.delete of a missing secret: NotFoundError, got ${missing?.name}`);
  check((await rejection(client.secrets.delete(`no-such-secret-${process.pid}`, { allowMissing: true }))) === null, "secrets.delete({ allowMissing: true }) of a missing secret resolves");
  const bad = await rejection(client.secrets.delete(name, { allowMising: true }));
  check(bad instanceof InvalidError && bad.message.includes("did you mean 'allowMissing'"), `secrets.delete unknown key: ${bad?.message}`);
}
{
  // volumes.delete: VolumeGetOrCreate by name, then VolumeDelete { volume_id }, as Modal JS
  const name = `parity-delvol-${process.pid}`;
  const v = await client.volumes.fromName(name, { createIfMissing: true });
  // not under a running sandbox that mounts it: its files would vanish under it
  const user = await client.sandboxes.create(app, image, { volumes: { "/data": v } });
  const busy = await rejection(client.volumes.delete(name));
  check(busy instanceof ConflictError && busy.message.includes("mounted by a running sandbox"), `volumes.delete of a mounted volume: ConflictError, got ${busy?.name}: ${busy?.message}`);
  await user.terminate();
  for (const rpc of ["VolumeGetOrCreate", "VolumeDelete"]) seen.delete(rpc);
  const e = await rejection(client.volumes.delete(name));
  const lookup = seen.get("VolumeGetOrCreate")?.[0], del = seen.get("VolumeDelete")?.[0];
  check(lookup && str(at(lookup, 1)) === name && !at(lookup, 4), "volumes.delete: looked up by name (no create) as Modal JS does");
  check(del && str(at(del, 1)) === v.volumeId, "volumes.delete: VolumeDelete { volume_id } sent");
  check(!e, `volumes.delete: done (${e?.message})`);
  check((await rejection(client.volumes.fromName(name))) instanceof NotFoundError, "volumes.delete: gone");
  check((await rejection(client.volumes.delete(`no-such-vol-${process.pid}`))) instanceof NotFoundError, "volumes.delete of a missing volume: NotFoundError");
  check((await rejection(client.volumes.delete(`no-such-vol-${process.pid}`, { allowMissing: true }))) === null, "volumes.delete({ allowMissing: true }) of a missing volume resolves");
}
{
  // images.delete: ImageDelete { image_id }, as Modal JS; then the image is gone
  const img = await sb.snapshotFilesystem();
  seen.delete("ImageDelete");
  const e = await rejection(client.images.delete(img.imageId));
  check(str(at(seen.get("ImageDelete")?.[0] ?? new Uint8Array(), 1)) === img.imageId, "images.delete: ImageDelete { image_id } sent");
  check(!e || e.grpcStatus === 12, `images.delete: done, or refused by sandboxd: ${e?.message}`);
  if (e) console.log(`  images.delete: sandboxd answered ${e.name}: ${e.message}`);
  else {
    check((await rejection(client.images.fromId(img.imageId))) instanceof NotFoundError, "images.delete: gone (fromId: NotFoundError)");
    check((await rejection(client.images.delete(img.imageId))) instanceof NotFoundError, "images.delete again: NotFoundError");
  }
}
{
  // Image.build(app): ImageGetOrCreate { app_id, FROM tag } and its build awaited now; the
  // image itself then has the id (Modal JS's build() returns the image)
  const tag = `debian:parity-build-${process.pid}`;
  const img = client.images.fromRegistry(tag);
  check(img.imageId === "", "fromRegistry: lazy, no imageId before a build");
  seen.delete("ImageGetOrCreate");
  const built = await img.build(app);
  const req = seen.get("ImageGetOrCreate")?.[0];
  check(req && str(at(req, 4)) === app.appId && str(at(req, 2, 6)) === `FROM ${tag}`, "Image.build: ImageGetOrCreate { app_id, image.dockerfile_commands: FROM tag } sent");
  check(/^im-/.test(built.imageId) && img.imageId === built.imageId, `Image.build: resolves with the id, and the image has it: ${built.imageId} / ${img.imageId}`);
  check((await built.build(app)).imageId === built.imageId, "Image.build of a built image: the same id");
  const e = await rejection(client.images.fromRegistry(tag).build({}));
  check(e instanceof InvalidError && e.message === "app must be an App", `Image.build({}): ${e?.message}`);
}
{
  // imageId written back after the lazy build inside sandboxes.create; mountImage takes it
  const lazy = client.images.fromRegistry("alpine:3.21").dockerfileCommands([`RUN echo layered-${process.pid} > /marker`]);
  const e = await rejection(sb.mountImage("/mnt/early", lazy));
  check(e instanceof InvalidError && e.message === "Image must be built before mounting. Call `image.build(app)` first.", `mountImage of an unbuilt image: ${e?.message}`);
  const s = await client.sandboxes.create(app, lazy, { command: ["sleep", "60"] });
  check(/^im-/.test(lazy.imageId), `imageId set by the lazy build in sandboxes.create: '${lazy.imageId}'`);
  await sb.mountImage("/mnt/lazy", lazy);
  check((await run(["cat", "/mnt/lazy/marker"])).out === `layered-${process.pid}\n`, "mountImage with the lazily built image: its files");
  await s.terminate();
}
{
  // dockerfileCommands(commands, { secrets, env }): the layer's RUN steps see them (the
  // image does not keep them); sent as Modal JS sends them
  const buildSecret = await client.secrets.fromObject({ BUILD_SECRET: `b-${process.pid}` });
  seen.delete("ImageGetOrCreate");
  const img = client.images.fromRegistry("alpine:3.21")
    .dockerfileCommands(["RUN echo \"$BUILD_SECRET $BUILD_ENV\" > /seen"], { secrets: [buildSecret], env: { BUILD_ENV: "e1" } });
  const s = await client.sandboxes.create(app, img, { command: ["sleep", "60"] });
  const reqs = seen.get("ImageGetOrCreate") ?? [];
  const last = reqs.at(-1) && at(reqs.at(-1), 2);
  const ids = last && (fields(last[0])[12] ?? []).map((b) => Buffer.from(b).toString());
  check(ids && ids.length === 2 && ids[0] === buildSecret.secretId && ids[1].startsWith("st-"), `dockerfileCommands secrets/env: image.secret_ids [secret, env's ephemeral secret]: ${ids}`);
  check(str(at(reqs.at(-1), 2, 6)) === "FROM base" && str(at(reqs.at(-1), 2, 5, 2)) === "base", "dockerfileCommands: FROM base, base_images { docker_tag: base }");
  const p = await s.exec(["sh", "-c", "cat /seen; echo \"[$BUILD_SECRET]\""]);
  const out = await p.stdout.readText();
  check(out === `b-${process.pid} e1\n[]\n`, `dockerfileCommands: RUN saw the secret and env, the sandbox does not: ${JSON.stringify(out)}`);
  await s.terminate();
  // what is not sent is refused by name: gpu sent as Modal JS (GPUConfig), sandboxd refuses it
  seen.delete("ImageGetOrCreate");
  const g = await rejection(client.images.fromRegistry("alpine:3.21").dockerfileCommands(["RUN true"], { gpu: "t4:2" }).build(app));
  const gr = (seen.get("ImageGetOrCreate") ?? []).at(-1);
  check(gr && num(at(gr, 2, 16, 2)) === 2 && str(at(gr, 2, 16, 4)) === "T4", "dockerfileCommands gpu: GPUConfig { count, gpu_type } sent");
  check(g instanceof ConflictError && g.grpcStatus === 9 && g.message.includes("gpu"), `dockerfileCommands gpu: sandboxd refuses (no GPU): ${g?.name}: ${g?.message}`);
  const bad = (() => { try { img.dockerfileCommands(["RUN true"], { forcebuild: true }); } catch (e) { return e; } })();
  check(bad instanceof InvalidError && bad.message.includes("did you mean 'forceBuild'"), `dockerfileCommands unknown key: ${bad?.message}`);
  const copy = (() => { try { img.dockerfileCommands(["COPY . /app"]); } catch (e) { return e; } })();
  check(copy instanceof InvalidError && copy.message === "COPY commands that copy from local context are not yet supported.", `dockerfileCommands COPY: ${copy?.message}`);
  check(img.dockerfileCommands([]) !== undefined, "dockerfileCommands([]): the image");
  const notArray = (() => { try { img.dockerfileCommands("RUN true"); } catch (e) { return e; } })();
  check(notArray instanceof InvalidError && notArray.message.includes("commands"), `dockerfileCommands("RUN true"): ${notArray?.message}`);
  const notImage = await rejection(client.sandboxes.create(app, { imageId: img.imageId }));
  check(notImage instanceof InvalidError && notImage.message === "image must be an Image", `sandboxes.create with a plain object for an image: ${notImage?.message}`);
  for (const key of declaredKeys("ImageDockerfileCommandsParams")) check(["env", "secrets", "gpu", "forceBuild"].includes(key), `dockerfileCommands option '${key}' not handled`);
}
{
  // layered images: dockerfileCommands on dockerfileCommands (one ImageGetOrCreate per
  // layer, each FROM the one before), and on a built image (FROM its id)
  seen.delete("ImageGetOrCreate");
  const two = client.images.fromRegistry(`alpine:parity-layers-${process.pid}`)
    .dockerfileCommands(["RUN echo one > /one"])
    .dockerfileCommands(["RUN cat /one > /two && echo two >> /two"]);
  await two.build(app);
  const reqs = seen.get("ImageGetOrCreate") ?? [];
  check(reqs.length === 3, `a registry image with two layers: three ImageGetOrCreate, got ${reqs.length}`);
  const baseOf = (r) => str(at(r, 2, 5, 1));
  check(reqs.length === 3 && !baseOf(reqs[0]) && baseOf(reqs[1]) && baseOf(reqs[2]) && baseOf(reqs[1]) !== baseOf(reqs[2]), "each layer FROM the one before");
  seen.delete("ImageGetOrCreate");
  const three = two.dockerfileCommands(["RUN cat /two > /three && echo three >> /three"]);
  const s = await client.sandboxes.create(app, three, { command: ["sleep", "60"] });
  const on = seen.get("ImageGetOrCreate") ?? [];
  check(on.length === 1 && baseOf(on[0]) === two.imageId, "dockerfileCommands on a built image: one layer, FROM its id");
  check((await (await s.exec(["cat", "/three"])).stdout.readText()) === "one\ntwo\nthree\n", "a layered image: every layer's files");
  await s.terminate();
}
{
  // forceBuild: the layer built again (its RUN runs again), sent as force_build
  const stamp = (img) => client.sandboxes.create(app, img, { command: ["sleep", "60"] })
    .then(async (s) => { const t = await (await s.exec(["cat", "/stamp"])).stdout.readText(); await s.terminate(); return t; });
  const cmds = [`RUN od -An -N8 -tx8 /dev/urandom > /stamp # ${process.pid}`];
  const first = await stamp(client.images.fromRegistry("alpine:3.21").dockerfileCommands(cmds));
  const cached = await stamp(client.images.fromRegistry("alpine:3.21").dockerfileCommands(cmds));
  seen.delete("ImageGetOrCreate");
  const forced = await stamp(client.images.fromRegistry("alpine:3.21").dockerfileCommands(cmds, { forceBuild: true }));
  const fr = (seen.get("ImageGetOrCreate") ?? []).at(-1);
  check(fr && num(at(fr, 7)) === 1, "forceBuild: ImageGetOrCreate { force_build: true } sent");
  check(first.trim().length >= 16 && cached === first && forced !== first, `forceBuild: cached build reused, forced one ran again: ${first.trim()} ${cached.trim()} ${forced.trim()}`);
}
{
  // private registries: sent as Modal JS sends them (ImageRegistryConfig { auth type,
  // secret id }); sandboxd cannot reach them and says which (FAILED_PRECONDITION:
  // ConflictError)
  const creds = await client.secrets.fromObject({ REGISTRY_USERNAME: "u", REGISTRY_PASSWORD: "p" });
  for (const [what, make, type, kind] of [
    ["fromAwsEcr", () => client.images.fromAwsEcr("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1", creds), 1, "AWS ECR"],
    ["fromGcpArtifactRegistry", () => client.images.fromGcpArtifactRegistry("us-docker.pkg.dev/p/r/app:1", creds), 2, "GCP Artifact Registry"],
    ["fromRegistry(tag, secret)", () => client.images.fromRegistry("registry.example.com/app:1", creds), 4, "static credentials"],
  ]) {
    seen.delete("ImageGetOrCreate");
    const e = await rejection(make().build(app));
    const r = (seen.get("ImageGetOrCreate") ?? []).at(-1);
    check(r && num(at(r, 2, 17, 1)) === type && str(at(r, 2, 17, 2)) === creds.secretId, `${what}: ImageRegistryConfig { registry_auth_type: ${type}, secret_id } sent`);
    check(e instanceof ConflictError && e.grpcStatus === 9 && e.message.includes(kind) && e.message.includes("cannot reach private registries"), `${what}: refused by sandboxd naming ${kind}: ${e?.name}: ${e?.message}`);
    const c = await rejection(client.sandboxes.create(app, make()));
    check(c instanceof ConflictError && c.message.includes(kind), `${what}: sandboxes.create refused the same way: ${c?.message}`);
  }
  for (const call of [() => client.images.fromAwsEcr("x:1"), () => client.images.fromGcpArtifactRegistry("x:1", {}), () => client.images.fromRegistry("x:1", "creds")]) {
    const e = (() => { try { call(); } catch (e) { return e; } })();
    check(e instanceof InvalidError && e.message.startsWith("secret must be a reference to an existing Secret"), `a registry secret that is not a Secret: ${e?.message}`);
  }
}
{
  // volume.withMountOptions({ readOnly, subPath }): stacked, sent in the VolumeMount
  const sub = volume.withMountOptions({ subPath: "sub" }).withMountOptions({ readOnly: true });
  check(sub.subPath === "sub" && sub.readOnly && volume.subPath === undefined && !volume.readOnly, "withMountOptions: options stack on a new Volume");
  check(sub.withMountOptions({ subPath: "/" }).subPath === undefined, "withMountOptions({ subPath: '/' }): the whole volume");
  const { def, error } = await createAndCapture({ volumes: { "/mnt/v": sub } });
  check(num(at(def, 13, 4)) === 1 && str(at(def, 13, 5)) === "sub", "withMountOptions: VolumeMount { read_only, sub_path } sent");
  check(!error || error.grpcStatus !== undefined, `withMountOptions: create: ${error?.message}`);
  if (error) console.log(`  withMountOptions: sandboxd answered ${error.name}: ${error.message}`);
  const bad = (() => { try { volume.withMountOptions({ subpath: "x" }); } catch (e) { return e; } })();
  check(bad instanceof InvalidError && bad.message.includes("did you mean 'subPath'"), `withMountOptions unknown key: ${bad?.message}`);
}
{
  // volumes.ephemeral(): VolumeGetOrCreate EPHEMERAL, a VolumeHeartbeat from the start
  for (const rpc of ["VolumeGetOrCreate", "VolumeHeartbeat"]) seen.delete(rpc);
  const ev = await client.volumes.ephemeral();
  const req = seen.get("VolumeGetOrCreate")?.[0];
  check(req && num(at(req, 4)) === 5 && !at(req, 1), "volumes.ephemeral: VolumeGetOrCreate { OBJECT_CREATION_TYPE_EPHEMERAL } sent");
  for (let i = 0; i < 50 && !seen.get("VolumeHeartbeat"); i++) await sleep(100);
  check(str(at(seen.get("VolumeHeartbeat")?.[0] ?? new Uint8Array(), 1)) === ev.volumeId, "volumes.ephemeral: VolumeHeartbeat { volume_id } sent at once");
  const { error } = await createAndCapture({ volumes: { "/mnt/e": ev } });
  check(!error, `an ephemeral volume mounts: ${error?.message}`);
  ev.closeEphemeral();
  const notEph = (() => { try { volume.closeEphemeral(); } catch (e) { return e; } })();
  check(notEph instanceof InvalidError && notEph.message === "Volume is not ephemeral.", `closeEphemeral of a named volume: ${notEph?.message}`);
  // its heartbeat timer does not keep Node alive (Modal JS's is unref'd too)
  const script = `import { ModalClient } from "modal-wasm"; const c = new ModalClient({ endpoint: ${JSON.stringify(endpoint)}, tokenId: ${JSON.stringify(env.SANDBOXD_TOKEN_ID)}, tokenSecret: ${JSON.stringify(env.SANDBOXD_TOKEN_SECRET)} }); await c.volumes.ephemeral(); console.log("made");`;
  const t0 = Date.now();
  // (asynchronously: the child calls through this process's recording proxy)
  const r = await new Promise((resolve) => execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 60_000 },
    (error, stdout, stderr) => resolve({ status: error ? error.code ?? error.signal : 0, stdout, stderr })));
  check(r.status === 0 && r.stdout.includes("made") && Date.now() - t0 < 30_000, `a Node process with an ephemeral volume exits on its own: ${r.status} ${r.stderr} ${Date.now() - t0} ms`);
}
{
  // every error class Modal JS exports is exported here, an Error subclass (for ported
  // `instanceof` checks), with its base class
  const classes = [...dts.matchAll(/^declare class (\w+) extends (\w+)/gm)].filter(([, , base]) => base === "Error" || base.endsWith("Error"));
  check(classes.length >= 20, `error classes read from modal's index.d.ts: ${classes.length}`);
  for (const [, name, base] of classes) {
    const C = modal[name];
    check(typeof C === "function" && C.prototype instanceof Error && (base === "Error" || C.prototype instanceof modal[base]), `error class ${name} (extends ${base}) exported`);
    if (typeof C === "function") check(new C("m").name === name && new C("m").message === "m", `new ${name}("m"): name and message`);
  }
}

{
  // sandbox.logs: the entrypoint's stdout and stderr, persisted; fetch counts (AppCountLogs)
  // then fetches (AppFetchLogs), tail fetches, each with app_id, task_id and sandbox_id
  // (a line written in two reads, 0.3 s apart, is one entry)
  const script = "for i in 1 2 3; do echo out $i; done; sleep 0.3; for i in 1 2; do echo err $i >&2; done; sleep 0.3; printf 'la'; sleep 0.3; echo st";
  const l = await client.sandboxes.create(app, image, { command: ["sh", "-c", script] });
  check((await l.wait()) === 0, "logs: the entrypoint ran");
  l.detach(); // logs work after detach(), as Modal JS's (its getter does not check)
  for (const rpc of ["AppFetchLogs", "AppCountLogs", "SandboxGetTaskId"]) seen.delete(rpc);
  const tail = [];
  for await (const e of l.logs.tail()) tail.push(e);
  const lines = tail.map((e) => `${e.source}:${e.message}`).join("");
  check(lines === "stdout:out 1\nstdout:out 2\nstdout:out 3\nstderr:err 1\nstderr:err 2\nstdout:last\n", `logs.tail(): the entrypoint's lines in order with their source: ${JSON.stringify(lines)}`);
  const e0 = tail[0];
  check(e0 && e0.timestamp instanceof Date && Math.abs(e0.timestamp - Date.now()) < 60_000 && e0.objectId === l.sandboxId && e0.contextIds.length === 1 && e0.contextIds[0].startsWith("ta-"),
    `LogEntry { timestamp, objectId, contextIds } as Modal JS's: ${JSON.stringify(e0)}`);
  const f = seen.get("AppFetchLogs")?.[0];
  check(f && str(at(f, 1)) === app.appId && str(at(f, 8)) === e0?.contextIds[0] && str(at(f, 9)) === l.sandboxId && num(at(f, 4)) === 100 && at(f, 2) && at(f, 3),
    "logs.tail(): AppFetchLogs { app_id, since, until, limit 100, task_id, sandbox_id } sent");
  check(seen.get("SandboxGetTaskId")?.length === 1, "logs: the task id asked once (SandboxGetTaskId)");
  const two = [];
  for await (const e of l.logs.tail({ entries: 2, source: "stdout" })) two.push(e.message);
  check(two.join("") === "out 3\nlast\n", `logs.tail({ entries: 2, source: 'stdout' }): the newest two: ${JSON.stringify(two)}`);
  const errs = [];
  for await (const e of l.logs.fetch({ since: new Date(Date.now() - 590_000), source: "stderr" })) errs.push(e.message);
  check(errs.join("") === "err 1\nerr 2\n", `logs.fetch({ since, source: 'stderr' }): ${JSON.stringify(errs)}`);
  const c = seen.get("AppCountLogs")?.[0];
  check(c && str(at(c, 1)) === app.appId && str(at(c, 5)) === l.sandboxId && num(at(c, 9)) === 6 && num(at(c, 10)) === 2, "logs.fetch(): AppCountLogs { app_id, sandbox_id, bucket_secs 6 for 590 s (at most 100 buckets), source STDERR } sent first");
  const found = [];
  for await (const e of l.logs.fetch({ since: new Date(Date.now() - 600_000), searchText: "out 2" })) found.push(e.message);
  check(found.join("") === "out 2\n", `logs.fetch({ searchText }): ${JSON.stringify(found)}`);
  const none = [];
  for await (const e of l.logs.fetch({ since: new Date(Date.now() - 600_000), until: new Date(Date.now() - 300_000) })) none.push(e);
  check(none.length === 0, "logs.fetch({ since, until }) of a range before the sandbox: nothing");
  for (const [call, message] of [
    [() => l.logs.fetch(), "logs.fetch: params with 'since' are required"],
    [() => l.logs.fetch({ since: new Date(), sourc: "stdout" }), "logs.fetch: unknown option 'sourc' (expected since, until, source, searchText)"],
    [() => l.logs.fetch({ since: "yesterday" }), "logs.fetch: since must be a valid Date"],
    [() => l.logs.fetch({ since: new Date(Date.now() - 40 * 864e5) }), "logs.fetch: Time range cannot exceed 35 days."],
    [() => l.logs.tail({ entries: 20_001 }), "logs.tail: entries must be an integer from 0 to 20000, got 20001"],
    [() => l.logs.tail({ source: "stdin" }), 'logs.tail: source must be "stdout", "stderr" or "system", got "stdin"'],
  ]) {
    const e = await (async () => { try { for await (const _ of call()); } catch (e) { return e; } })();
    check(e instanceof InvalidError && e.message === message, `${message}: got ${e?.name}: ${e?.message}`);
  }
}
{
  // sb.filesystem: one object, as Modal JS caches it; every method of Modal JS's
  // SandboxFilesystem present (read from its index.d.ts)
  check(sb.filesystem === sb.filesystem, "sb.filesystem: the same object each time");
  const start = dts.indexOf("declare class SandboxFilesystem {");
  const body = dts.slice(start, dts.indexOf("\n}\n", start));
  const methods = [...body.matchAll(/^    (\w+)\(/gm)].map((m) => m[1]).filter((m) => m !== "constructor");
  check(methods.length >= 11, `SandboxFilesystem methods read from modal's index.d.ts: ${methods}`);
  for (const m of methods) check(typeof sb.filesystem[m] === "function", `filesystem.${m} present`);
  // copyFromLocal / copyToLocal: a local path (Node), a few MB of binary, byte-exact
  const { mkdtempSync, writeFileSync, readFileSync: readLocal, rmSync } = await import("node:fs");
  const dir = mkdtempSync("/tmp/parity-copy-");
  const data = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)));
  writeFileSync(`${dir}/in.bin`, data);
  await sb.filesystem.copyFromLocal(`${dir}/in.bin`, "/tmp/parity-copy/in.bin");
  const stat = await sb.filesystem.stat("/tmp/parity-copy/in.bin");
  check(stat.size === data.length, `copyFromLocal(path): ${stat.size} bytes in the sandbox`);
  await sb.filesystem.copyToLocal("/tmp/parity-copy/in.bin", `${dir}/out.bin`);
  check(Buffer.compare(readLocal(`${dir}/out.bin`), data) === 0, "copyFromLocal then copyToLocal (paths): byte-exact");
  // a Blob in, a Blob out (what a page does), and into a WritableStream
  await sb.filesystem.copyFromLocal(new Blob([data.subarray(0, 1_000_000)]), "/tmp/parity-copy/blob.bin");
  const blob = await sb.filesystem.copyToLocal("/tmp/parity-copy/blob.bin");
  check(blob instanceof Blob && Buffer.compare(new Uint8Array(await blob.arrayBuffer()), data.subarray(0, 1_000_000)) === 0, "copyFromLocal(Blob), copyToLocal(remote): a Blob, byte-exact");
  const parts = [];
  await sb.filesystem.copyToLocal("/tmp/parity-copy/blob.bin", new WritableStream({ write: (c) => { parts.push(c); } }));
  check(Buffer.compare(Buffer.concat(parts), data.subarray(0, 1_000_000)) === 0, "copyToLocal(remote, WritableStream): byte-exact");
  // a missing remote file: NotFound, and the local file is left as it was
  writeFileSync(`${dir}/keep.txt`, "keep");
  const gone = await rejection(sb.filesystem.copyToLocal("/tmp/parity-copy/missing", `${dir}/keep.txt`));
  check(gone instanceof modal.SandboxFilesystemNotFoundError && readLocal(`${dir}/keep.txt`, "utf8") === "keep", `copyToLocal of a missing file: ${gone?.name}, the local file untouched`);
  const noLocal = await rejection(sb.filesystem.copyFromLocal(`${dir}/no-such-file`, "/tmp/x"));
  check(noLocal instanceof InvalidError && noLocal.message.includes("no-such-file"), `copyFromLocal of a missing local file: ${noLocal?.name}: ${noLocal?.message}`);
  const badDest = await rejection(sb.filesystem.copyToLocal("/tmp/parity-copy/blob.bin", 42));
  check(badDest instanceof InvalidError, `copyToLocal(remote, 42): ${badDest?.message}`);
  rmSync(dir, { recursive: true });
}
{
  // Modal JS's Sandbox methods, read from its index.d.ts: each present here, or refused by
  // name with an InvalidError (never "is not a function")
  const start = dts.indexOf("declare class Sandbox {");
  const body = dts.slice(start, dts.indexOf("\n}\n", start));
  const members = [...new Set([...body.matchAll(/^    (?:get )?(\w+)\(/gm)].map((m) => m[1]))].filter((m) => m !== "constructor" && !m.startsWith("_")); // _x: Modal JS internals
  check(members.length >= 25, `Sandbox members read from modal's index.d.ts: ${members.length}`);
  const REFUSED = ["experimentalSetName", "experimentalGetExitSnapshot", "experimentalSnapshot", "updateNetworkPolicy", "experimentalUpdateOutboundPolicy", "experimentalSidecars"];
  for (const m of members) {
    if (!REFUSED.includes(m)) {
      check(m in sb, `Sandbox.${m} present`);
      continue;
    }
    const e = m === "experimentalSidecars"
      ? (() => { try { return sb[m]; } catch (e) { return e; } })()
      : await rejection(sb[m]({}));
    check(e instanceof InvalidError && e.message === `sandbox.${m} is not supported by modal-wasm`, `Sandbox.${m}: refused by name, got ${e?.message}`);
  }
}
await sb.terminate();

// ---- the client's configuration -----------------------------------------------------------------
{
  const saved = { ...process.env };
  Object.assign(process.env, { MODAL_SERVER_URL: endpoint, MODAL_TOKEN_ID: env.SANDBOXD_TOKEN_ID, MODAL_TOKEN_SECRET: env.SANDBOXD_TOKEN_SECRET });
  delete process.env.MODAL_ENVIRONMENT;
  const fromEnv = new ModalClient();
  const a = await fromEnv.apps.fromName("parity");
  check(a.appId === app.appId, "new ModalClient() reads MODAL_SERVER_URL, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET");
  process.env.MODAL_ENVIRONMENT = "no-such-env-" + process.pid;
  const e = await new ModalClient({ maxRetries: 0, timeoutMs: 30_000 }).apps.fromName("parity").then(() => null, (e) => e);
  check(e !== null, "MODAL_ENVIRONMENT is the default environment (an unknown one is refused)");
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
  const bad = (() => { try { new ModalClient({ endpoint, timeout: 5 }); } catch (e) { return e; } })();
  check(bad instanceof InvalidError && bad.message === "Parameter 'timeout' has been renamed to 'timeoutMs'.", `ModalClient timeout: ${bad?.message}`);
  const none = (() => { try { new ModalClient(); } catch (e) { return e; } })();
  check(none instanceof InvalidError && none.message.includes("MODAL_SERVER_URL"), `ModalClient() without MODAL_SERVER_URL: ${none?.message}`);
}

client.close();
proxy.close();
console.log(`parity with modal@0.11.1: ${checks - failures}/${checks} checks passed (${createKeys.length} create and ${execKeys.length} exec option keys)`);
process.exit(failures ? 1 : 0);
