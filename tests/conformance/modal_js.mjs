// Modal's official JS client (npm modal@0.11.1) in Node through the basic sandbox flows
// against a live sandboxd, as a user of Modal would write them; any difference from what
// Modal itself does is a failure.
//
// Run once per sandbox generation: MODAL_SANDBOX_V2 unset or 1 (the client's default:
// SandboxCreateV2, the command router's V2 stdio) and MODAL_SANDBOX_V2=0 (SandboxCreate,
// SandboxGetTaskId, SandboxGetLogs, SandboxStdinWrite: the client reads the flag in
// `getProfile`). MODAL_SERVER_URL, MODAL_TOKEN_ID and MODAL_TOKEN_SECRET name the server.
import { ModalClient } from "modal";

const v2 = !["0", "false"].includes((process.env.MODAL_SANDBOX_V2 ?? "1").toLowerCase());
const gen = v2 ? "v2" : "v1";
let passed = 0;
let failed = 0;
// JSON with object keys sorted: a map's order is not part of the protocol.
const canon = (v) => JSON.stringify(v, (_, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x));
function check(name, got, want) {
  const g = canon(got);
  const w = canon(want);
  if (g === w) {
    passed++;
    console.log(`ok   js ${gen}: ${name}`);
  } else {
    failed++;
    console.log(`FAIL js ${gen}: ${name}: got ${g.slice(0, 200)}, want ${w.slice(0, 200)}`);
  }
}
// Clients tell the generation of a sandbox from its id alone (docs/PROTOCOL.md).
const v1Shaped = (id) => /^sb-[0-9A-Za-z]{22}$/.test(id);

const modal = new ModalClient({
  endpoint: process.env.MODAL_SERVER_URL,
  tokenId: process.env.MODAL_TOKEN_ID,
  tokenSecret: process.env.MODAL_TOKEN_SECRET,
  logLevel: "error",
});
try {
  const app = await modal.apps.fromName(`conformance-js-${gen}`, { createIfMissing: true });
  const image = modal.images.fromRegistry("debian:bookworm-slim");

  // --- a sandbox that sleeps, and commands run in it
  let sb = await modal.sandboxes.create(app, image, { timeoutMs: 120_000 });
  check("id has the generation's shape", v1Shaped(sb.sandboxId), !v2);
  let p = await sb.exec(["echo", "hi"]);
  check("exec stdout", await p.stdout.readText(), "hi\n");
  check("exec exit code", await p.wait(), 0);
  p = await sb.exec(["sh", "-c", "echo err >&2; exit 3"]);
  check("exec stderr", await p.stderr.readText(), "err\n");
  check("exec nonzero exit", await p.wait(), 3);
  p = await sb.exec(["cat"]);
  await p.stdin.writeText("round trip\n");
  await p.stdin.close();
  check("exec stdin echoed", await p.stdout.readText(), "round trip\n");
  check("cat exit", await p.wait(), 0);
  p = await sb.exec(["seq", "1", "60000"]);
  let want = "";
  for (let i = 1; i <= 60000; i++) want += `${i}\n`;
  check("large stdout is byte-exact", (await p.stdout.readText()) === want, true);
  check("seq exit", await p.wait(), 0);
  p = await sb.exec(["head", "-c", "100000", "/dev/zero"], { mode: "binary" });
  const bytes = await p.stdout.readBytes();
  check("binary stdout", [bytes.length, bytes.every((b) => b === 0)], [100000, true]);
  await p.wait();
  check("poll while running", await sb.poll(), null);

  // --- tags, listing, and a second handle by id
  await sb.setTags({ suite: "conformance", gen });
  check("tags round trip", await sb.getTags(), { suite: "conformance", gen });
  const listed = [];
  for await (const s of modal.sandboxes.list({ appId: app.appId, tags: { gen } })) listed.push(s.sandboxId);
  check("listed by tag", listed.includes(sb.sandboxId), true);
  const again = await modal.sandboxes.fromId(sb.sandboxId);
  p = await again.exec(["sh", "-c", "echo from-id"]);
  check("exec through fromId", await p.stdout.readText(), "from-id\n");
  await p.wait();

  await sb.terminate();
  check("exit code after terminate", await sb.wait(), 137);

  // --- the main process's own stdio (V2: the router's SandboxStdio*; V1: SandboxGetLogs
  // and SandboxStdinWrite on the control plane)
  sb = await modal.sandboxes.create(app, image, {
    // `cat` exits at EOF: the process is still running when the EOF write arrives
    command: ["sh", "-c", "echo out; echo err >&2; cat; exit 5"],
    timeoutMs: 60_000,
  });
  await sb.stdin.writeText("ping\n");
  await sb.stdin.close();
  check("main process exit code", await sb.wait(), 5);
  check("main process stdout", await sb.stdout.readText(), "out\nping\n");
  check("main process stderr", await sb.stderr.readText(), "err\n");
  // its entrypoint logs, kept by sandboxd, read by Modal JS's own sandbox.logs (AppFetchLogs;
  // fetch counts first with AppCountLogs)
  const tailed = [];
  for await (const e of sb.logs.tail()) tailed.push(`${e.source}:${e.message}`);
  check("logs.tail()", tailed.sort(), ["stderr:err\n", "stdout:out\n", "stdout:ping\n"]);
  const fetched = [];
  for await (const e of sb.logs.fetch({ since: new Date(Date.now() - 600_000), source: "stdout" })) fetched.push(e.message);
  check("logs.fetch({ since, source: 'stdout' })", fetched, ["out\n", "ping\n"]);

  // --- an ephemeral volume (the client heartbeats it from the start: VolumeHeartbeat; a
  // failed heartbeat is an unhandled rejection that ends Node), mounted whole and at a
  // sub path, which is made when missing
  const vol = await modal.volumes.ephemeral();
  sb = await modal.sandboxes.create(app, image, {
    command: ["sh", "-c", "echo kept > /part/f && cat /whole/users/ann/f"],
    volumes: { "/part": vol.withMountOptions({ subPath: "/users/ann" }), "/whole": vol },
    timeoutMs: 60_000,
  });
  check("volume sub path", [await sb.wait(), await sb.stdout.readText()], [0, "kept\n"]);
  vol.closeEphemeral();

  // --- volumes as Modal has them: one sandbox's write reaches another only once committed
  // (the writer's reloadVolumes commits it) and after the reader's own reloadVolumes
  const shared = await modal.volumes.ephemeral();
  const [writer, reader] = await Promise.all(
    [0, 1].map(() => modal.sandboxes.create(app, image, { volumes: { "/v": shared }, timeoutMs: 60_000 })),
  );
  const run = async (sb, cmd) => {
    const p = await sb.exec(["sh", "-c", cmd]);
    const out = await p.stdout.readText();
    await p.wait();
    return out;
  };
  await run(writer, "echo hi > /v/f");
  const seen = [await run(reader, "ls -A /v")];
  await writer.reloadVolumes();
  seen.push(await run(reader, "ls -A /v"));
  await reader.reloadVolumes();
  seen.push(await run(reader, "cat /v/f"));
  check("volume writes seen after commit and reload", seen, ["", "", "hi\n"]);
  await Promise.all([writer.terminate(), reader.terminate()]);
  shared.closeEphemeral();

  // --- an OIDC identity token, when asked for: a JWT naming the sandbox
  sb = await modal.sandboxes.create(app, image, { includeOidcIdentityToken: true, timeoutMs: 60_000 });
  const jwt = (await run(sb, "printenv MODAL_IDENTITY_TOKEN")).trim();
  const claims = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString() || "{}");
  check("MODAL_IDENTITY_TOKEN names the sandbox", claims.sandbox_id, sb.sandboxId);
  await sb.terminate();

  // --- what sandboxd cannot do here is refused by name, never dropped
  let refusal = "created";
  try {
    await modal.sandboxes.create(app, image, { gpu: "T4", regions: ["us-east"] });
  } catch (e) {
    refusal = String(e?.message ?? e);
  }
  check("gpu and regions refused by name", [/gpu: T4 asked for/.test(refusal), /regions: /.test(refusal)], [true, true]);

  // --- an image built, deleted, then gone
  const built = await modal.images
    .fromRegistry("debian:bookworm-slim")
    .dockerfileCommands([`RUN echo ${gen} > /gen`])
    .build(app);
  await modal.images.delete(built.imageId);
  let gone = "still there";
  try {
    await modal.images.fromId(built.imageId);
  } catch (e) {
    gone = e.constructor.name;
  }
  check("deleted image is gone", gone, "NotFoundError");
} catch (e) {
  failed++;
  console.log(`FAIL js ${gen}: ${e?.stack ?? e}`);
} finally {
  modal.close();
}
console.log(`js ${gen}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
