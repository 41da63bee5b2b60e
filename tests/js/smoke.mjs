// The smoke flow every runtime runs against a live sandboxd: create, exec, read stdout,
// exit code, terminate. Throws on any difference; returns a one-line summary.
export async function smoke(modal, { endpoint, tokenId, tokenSecret }, runtime) {
  const { ModalClient, NotFoundError } = modal;
  const client = new ModalClient({ endpoint, tokenId, tokenSecret });
  const app = await client.apps.fromName(`smoke-${runtime}`, { createIfMissing: true });
  const image = client.images.fromRegistry("debian:bookworm-slim");
  const sb = await client.sandboxes.create(app, image, { timeoutMs: 60_000 });
  try {
    const p = await sb.exec(["sh", "-c", `echo hello from ${runtime}; exit 3`]);
    const out = await p.stdout.readText();
    const code = await p.wait();
    if (out !== `hello from ${runtime}\n`) throw new Error(`stdout was ${JSON.stringify(out)}`);
    if (code !== 3) throw new Error(`exit code was ${code}`);
    // a few MB, byte-exact: the body arrives in many chunks (read in bulk in workerd)
    const big = await sb.exec(["seq", "1", "400000"], { mode: "binary" });
    const got = new TextDecoder().decode(await new Response(big.stdout).arrayBuffer());
    const want = Array.from({ length: 400000 }, (_, i) => i + 1).join("\n") + "\n";
    if (got !== want) throw new Error(`seq 1 400000: ${got.length} of ${want.length} characters, first difference at ${[...want].findIndex((c, i) => c !== got[i])}`);
    try {
      await client.sandboxes.fromName(`smoke-${runtime}`, "no-such-sandbox");
      throw new Error("fromName of a missing sandbox did not fail");
    } catch (e) {
      if (!(e instanceof NotFoundError) || e.code !== "NOT_FOUND") throw e;
    }
  } finally {
    await sb.terminate();
  }
  const rc = await sb.wait();
  if (rc !== 137) throw new Error(`returncode after terminate was ${rc}`);
  return `${runtime}: create, exec, stdout, 2.9 MB byte-exact, exit code, NotFoundError, terminate (137): ok`;
}
