// Resilience of the SDK's streams against a real sandboxd: resume after the server cuts a
// stream mid-output, and a reader's cancel reaching the server.

function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)?.slice(0, 200)}, want ${JSON.stringify(want)?.slice(0, 200)}`);
}

async function sandbox(c, name) {
  const app = await c.apps.fromName(name, { createIfMissing: true });
  return c.sandboxes.create(app, c.images.fromRegistry("debian:bookworm-slim"), { timeoutMs: 180_000 });
}

/** `c` talks to a sandboxd that ends every stdio stream after 1 MB (--fault-cut-stdio-after). */
export async function resumeAfterServerCuts(c) {
  const sb = await sandbox(c, "wasm-resume");
  try {
    // 5.9 MB of numbered lines: the server cuts the stream five times on the way
    const p = await sb.exec(["seq", "1", "800000"]);
    const got = await p.stdout.readText();
    eq(await p.wait(), 0, "exit code");
    const parts = [];
    for (let i = 1; i <= 800000; i++) parts.push(`${i}\n`);
    const want = parts.join("");
    eq(got.length, want.length, "length");
    eq(got === want, true, "byte-exact");
    // binary mode too: the same bytes, resumed at byte offsets
    const q = await sb.exec(["head", "-c", "3000000", "/dev/zero"], { mode: "binary" });
    const bytes = await q.stdout.readBytes();
    eq(bytes.length, 3_000_000, "binary length");
    eq(bytes.every((b) => b === 0), true, "binary content");
  } finally {
    await sb.terminate();
  }
}

async function openStreams(statsUrl) {
  const r = await fetch(statsUrl);
  return (await r.json()).stdioStreamsOpen;
}

/** Cancelling a reader aborts the request: the server sees its stream closed. */
export async function cancelReachesServer(c, statsUrl) {
  const sb = await sandbox(c, "wasm-cancel");
  try {
    const baseline = await openStreams(statsUrl);
    const p = await sb.exec(["yes"]);
    const reader = p.stdout.getReader();
    const first = await reader.read();
    eq(first.done, false, "first chunk");
    const during = await openStreams(statsUrl);
    if (during <= baseline) throw new Error(`no stdio stream open on the server while reading (${during} <= ${baseline})`);
    await reader.cancel("enough");
    const deadline = Date.now() + 5000;
    let now = during;
    while (Date.now() < deadline && (now = await openStreams(statsUrl)) > baseline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    eq(now, baseline, "server-side streams after cancel");
    // and while a read is pending (a silent process: the pull waits on the server when the
    // cancel comes, and must be aborted, not left open)
    const quiet = await sb.exec(["sleep", "60"]);
    const quietReader = quiet.stdout.getReader();
    const pending = quietReader.read();
    let open = now;
    for (const until = Date.now() + 5000; Date.now() < until && (open = await openStreams(statsUrl)) <= baseline; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (open <= baseline) throw new Error(`no stdio stream open on the server for the pending read (${open})`);
    await quietReader.cancel("enough");
    eq((await pending).done, true, "the pending read ends with the cancel");
    for (const until = Date.now() + 5000; Date.now() < until && (now = await openStreams(statsUrl)) > baseline; ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    eq(now, baseline, "server-side streams after cancelling a pending read");
  } finally {
    await sb.terminate();
  }
}
