// The gateway end to end, against real processes: an upstream sandboxd serving TLS (a CA
// and certificate made here with openssl), two `sandboxd gateway` replicas in front of it,
// and a recording proxy before each replica that keeps every byte a gateway sends back.
// Tokens are minted the way an app's backend does, with the package's mintToken (HS256,
// and EdDSA against a third gateway). Then:
//   - Deno and a page in headless Chromium run gateway-flow.mjs through the replicas;
//   - CORS: the page's origin is allowed, another origin is not;
//   - Modal's official Python client works against the TLS sandboxd (SSL_CERT_FILE);
//   - every recorded byte is scanned: the upstream token id and secret, the signing key,
//     and JWTs signed by the upstream (its auth token, its router JWTs) never appear.
//
// Env: SANDBOXD_BIN (default target/debug/sandboxd), SANDBOXD_HELPERS, MODAL_WASM_PY (a
// python with modal 1.6.4), CHROMIUM.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { createServer as createHttp } from "node:http";
import { createServer as createTcp, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname, extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes, webcrypto } from "node:crypto";
import { chromium } from "playwright-core";
import * as modal from "modal-wasm";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const bin = process.env.SANDBOXD_BIN ?? join(root, "target/debug/sandboxd");
const dir = mkdtempSync(join(tmpdir(), "gateway-e2e-"));
const TOKEN_ID = `ak-gw-${randomBytes(6).toString("hex")}`;
const TOKEN_SECRET = `as-gw-${randomBytes(12).toString("hex")}`;
const SIGNING_KEY = randomBytes(48).toString("base64");
const children = [];
const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);

function cleanup() {
  for (const c of children) c.kill("SIGKILL");
}
process.on("exit", cleanup);

function openssl(...args) {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function makeCerts() {
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
    "-days", "2", "-subj", "/CN=modal-wasm test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out", "csr.pem", "-subj", "/CN=localhost");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  openssl("x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf");
  openssl("genpkey", "-algorithm", "ed25519", "-out", "ed.key");
  openssl("pkey", "-in", "ed.key", "-pubout", "-out", "ed.pub.pem");
}

// Starts a sandboxd command and resolves with the URL it prints.
function start(args, env, pattern, name) {
  return new Promise((ok, fail) => {
    const c = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(c);
    let err = "";
    c.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
    c.stdout.on("data", (d) => {
      const m = String(d).match(pattern);
      if (m) ok(m[1]);
    });
    c.on("exit", (code) => fail(new Error(`${name} exited (${code}): ${err}`)));
    setTimeout(() => fail(new Error(`${name} did not start: ${err}`)), 30_000);
  });
}

// A TCP proxy that keeps every byte the target sends back.
function recordingProxy(targetUrl) {
  const target = new URL(targetUrl);
  const seen = [];
  const server = createTcp((client) => {
    const up = connect(Number(target.port), target.hostname);
    client.pipe(up);
    up.on("data", (d) => {
      seen.push(Buffer.from(d));
      client.write(d);
    });
    up.on("end", () => client.end());
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
    client.on("close", () => up.destroy());
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () => ok({ url: `http://127.0.0.1:${server.address().port}`, seen, server })),
  );
}

// The test page, the package and the flow module, on their own origin.
function staticServer() {
  const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
  const page = `<!doctype html><meta charset="utf-8"><title>gateway e2e</title>
<script type="module">
import * as modal from "/pkg/index.js";
import { gatewayFlow } from "/gateway-flow.mjs";
window.runFlow = (o) => gatewayFlow(modal, o);
window.ready = true;
</script>`;
  const server = createHttp((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    let file;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(page);
    }
    if (path === "/gateway-flow.mjs") file = join(here, "gateway-flow.mjs");
    else if (path.startsWith("/pkg/")) file = join(root, "pkg", path.slice(5));
    if (!file || file.includes("..") || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(`http://127.0.0.1:${server.address().port}`)));
}

function run(cmd, args, env) {
  return new Promise((ok, fail) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], cwd: here });
    children.push(c);
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("exit", (code) => (code === 0 ? ok(out.trim()) : fail(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out}`))));
  });
}

// Upstream credentials and upstream-signed JWTs (sub "client" or "task:...") in `bytes`.
function secretsIn(bytes, literals) {
  const text = bytes.toString("latin1");
  const found = literals.filter((l) => text.includes(l)).map((l) => `literal ${l.slice(0, 12)}...`);
  for (const m of text.matchAll(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g)) {
    let claims;
    try {
      claims = JSON.parse(Buffer.from(m[0].split(".")[1], "base64url").toString());
    } catch {
      continue;
    }
    if (claims.sub === "client" || String(claims.sub).startsWith("task:")) found.push(`upstream JWT (sub ${claims.sub})`);
  }
  return found;
}

makeCerts();
const ca = join(dir, "ca.pem");
writeFileSync(join(dir, "signing.key"), SIGNING_KEY);
const upstream = await start(
  ["serve", "--listen", "127.0.0.1:0", "--state-dir", join(dir, "state"), "--token-id", TOKEN_ID, "--token-secret", TOKEN_SECRET,
    "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem"),
    ...(process.env.SANDBOXD_HELPERS ? ["--helpers", process.env.SANDBOXD_HELPERS] : [])],
  {}, /listening on (https:\/\/\S+)/, "upstream sandboxd");
log(`upstream sandboxd (TLS) at ${upstream}`);
const pageOrigin = await staticServer();
const gwEnv = { MODAL_TOKEN_ID: TOKEN_ID, MODAL_TOKEN_SECRET: TOKEN_SECRET };
const gatewayArgs = (key) => ["gateway", "--listen", "127.0.0.1:0", "--upstream", upstream, "--upstream-ca", ca, "--signing-key", key, "--allow-origin", pageOrigin];
const pattern = /listening on (http:\/\/\S+)/;
const gws = [
  await start(gatewayArgs(join(dir, "signing.key")), gwEnv, pattern, "gateway 0"),
  await start(gatewayArgs(join(dir, "signing.key")), gwEnv, pattern, "gateway 1"),
];
const edGateway = await start(gatewayArgs(join(dir, "ed.pub.pem")), gwEnv, pattern, "gateway (EdDSA)");
const proxies = [await recordingProxy(gws[0]), await recordingProxy(gws[1]), await recordingProxy(edGateway)];
const gateways = [proxies[0].url, proxies[1].url];
log(`gateways ${gws.join(", ")} (EdDSA ${edGateway}) behind recording proxies ${proxies.map((p) => p.url).join(", ")}`);

// the backend's side: tokens minted with the package's mintToken
const { mintToken, ModalClient } = modal;
const scopes = ["create", "exec", "fs", "read", "terminate", "snapshot", "connect-token"];
const mint = (sub, user) => mintToken({ signingKey: SIGNING_KEY, sub, app: "gateway-e2e", tags: { user }, scopes, ttlSeconds: 600 });
const tokenA = await mint("alice", "a");
const tokenB = await mint("bob", "b");

let failed = 0;
async function step(name, fn) {
  try {
    log(`ok   ${name}: ${await fn()}`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

await step("EdDSA tokens", async () => {
  const pkcs8 = Buffer.from(readFileSync(join(dir, "ed.key"), "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
  const key = await webcrypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  const token = await mintToken({ signingKey: key, sub: "ed", app: "gateway-e2e", tags: { user: "ed" }, scopes: ["read"] });
  if (!token.startsWith(Buffer.from('{"alg":"EdDSA"').toString("base64url").slice(0, 16))) throw new Error(`not an EdDSA token: ${token.slice(0, 30)}`);
  const c = new ModalClient({ endpoint: proxies[2].url, token });
  let n = 0;
  for await (const _ of c.sandboxes.list()) n++;
  // an HS256 token is refused by the EdDSA gateway (the algorithm is pinned by the key)
  try {
    await new ModalClient({ endpoint: proxies[2].url, token: tokenA }).apps.fromName("gateway-e2e");
    throw new Error("an HS256 token was accepted by the EdDSA gateway");
  } catch (e) {
    if (!(e instanceof modal.AuthError)) throw e;
  }
  return `minted with an Ed25519 CryptoKey, listed ${n} sandboxes; HS256 refused with AuthError`;
});

await step("CORS", async () => {
  const pre = (origin) =>
    fetch(`${gws[0]}/modal.client.ModalClient/SandboxListV2`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
  const ok = await pre(pageOrigin);
  const bad = await pre("http://evil.example");
  if (ok.headers.get("access-control-allow-origin") !== pageOrigin) throw new Error("the page's origin is not allowed");
  if (bad.headers.get("access-control-allow-origin")) throw new Error("a foreign origin is allowed");
  if (ok.headers.get("access-control-allow-credentials")) throw new Error("credentials are allowed");
  return `${pageOrigin} allowed, http://evil.example not, no credentials`;
});

await step("deno", () =>
  run(join(here, "node_modules/.bin/deno"), ["run", "--allow-net", "--allow-read", "--allow-env", "gateway-deno.mjs"], {
    GATEWAY_0: gateways[0], GATEWAY_1: gateways[1], TOKEN_A: tokenA, TOKEN_B: tokenB,
  }));

await step("chromium", async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless=new"],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(pageOrigin);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 30_000 });
    // the page gets tokens only: the signing key and the workspace credential stay here
    return await page.evaluate((o) => window.runFlow(o), { gateways, tokenA, tokenB, runtime: "chromium" });
  } finally {
    await browser.close();
  }
});

await step("Modal's Python client over TLS", async () => {
  const py = process.env.MODAL_WASM_PY;
  if (!py) throw new Error("MODAL_WASM_PY is not set (a python with modal==1.6.4)");
  const out = await run(py, [join(root, "tests/py/tls_flow.py")], {
    MODAL_SERVER_URL: upstream, MODAL_TOKEN_ID: TOKEN_ID, MODAL_TOKEN_SECRET: TOKEN_SECRET, SSL_CERT_FILE: ca, HOME: dir,
    // grpclib trusts certifi only: the shim points certifi at SSL_CERT_FILE
    PYTHONPATH: join(root, "tests/py/certifi_shim"),
  });
  return out.split("\n").pop();
});

await step("secrets never left the gateways", async () => {
  const bytes = Buffer.concat(proxies.flatMap((p) => p.seen));
  if (bytes.length < 20_000_000) throw new Error(`the proxies saw only ${bytes.length} bytes`);
  const leaks = secretsIn(bytes, [TOKEN_SECRET, TOKEN_ID, SIGNING_KEY]);
  if (leaks.length) throw new Error(`found in what the gateways sent: ${leaks.join(", ")}`);
  return `${(bytes.length / 1e6).toFixed(1)} MB scanned: no upstream token id/secret, signing key or upstream JWT`;
});

log(failed ? `gateway e2e: ${failed} failed` : "gateway e2e: all passed");
cleanup();
process.exit(failed ? 1 : 0);
