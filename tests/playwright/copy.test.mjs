// sb.filesystem.copyFromLocal / copyToLocal in a browser (Debian's Chromium through
// playwright-core), against a live sandboxd that serves the package at /pkg: a page has no
// paths, so a File, Blob or ReadableStream goes up and a Blob (or a WritableStream) comes
// back, byte-exact; a path is refused with an InvalidError that says what a page can pass.
//
//   SANDBOXD_URL=http://127.0.0.1:PORT node --test copy.test.mjs   (sandboxd: --pkg pkg)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const BASE = process.env.SANDBOXD_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!BASE) throw new Error("set SANDBOXD_URL to a running sandboxd that serves --pkg pkg");

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless=new"],
  });
});
after(async () => {
  await browser?.close();
});

test("copyFromLocal(Blob, File, ReadableStream) and copyToLocal() -> Blob in a page", { timeout: 180_000 }, async () => {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  // any same-origin document: the package is imported from /pkg
  await page.goto(new URL("/pkg/package.json", BASE).href);
  const r = await page.evaluate(async () => {
    const m = await import("/pkg/index.js");
    const cred = await (await fetch("/__sandboxd/config.json")).json();
    const client = new m.ModalClient({ endpoint: location.origin, ...cred });
    const app = await client.apps.fromName("copy-browser", { createIfMissing: true });
    const sb = await client.sandboxes.create(app, client.images.fromRegistry("alpine:3.21"));
    const out = {};
    const digest = async (b) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", b))).join(",");
    try {
      const data = new Uint8Array(2 * 1024 * 1024 + 3);
      for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)));
      const want = await digest(data);
      const fs = sb.filesystem;
      out.same = fs === sb.filesystem;
      await fs.copyFromLocal(new Blob([data]), "/tmp/blob.bin");
      const blob = await fs.copyToLocal("/tmp/blob.bin");
      out.blob = blob instanceof Blob && blob.size === data.length && (await digest(await blob.arrayBuffer())) === want;
      await fs.copyFromLocal(new File([data], "upload.bin"), "/tmp/file.bin");
      out.file = (await digest(await (await fs.copyToLocal("/tmp/file.bin")).arrayBuffer())) === want;
      await fs.copyFromLocal(new Blob([data]).stream(), "/tmp/stream.bin");
      const parts = [];
      await fs.copyToLocal("/tmp/stream.bin", new WritableStream({ write: (c) => void parts.push(c) }));
      out.stream = (await digest(await new Blob(parts).arrayBuffer())) === want;
      await fs.copyFromLocal(data.subarray(0, 10), "/tmp/bytes.bin");
      out.bytes = (await fs.readBytes("/tmp/bytes.bin")).join(",") === data.subarray(0, 10).join(",");
      const refused = async (p) => p.then(() => "resolved", (e) => `${e.name}: ${e.message}`);
      out.fromPath = await refused(fs.copyFromLocal("./local.bin", "/tmp/x"));
      out.toPath = await refused(fs.copyToLocal("/tmp/blob.bin", "./local.bin"));
      out.missing = await refused(fs.copyToLocal("/tmp/no-such-file"));
    } finally {
      await sb.terminate();
      client.close();
    }
    return out;
  });
  assert.deepEqual(
    { same: r.same, blob: r.blob, file: r.file, stream: r.stream, bytes: r.bytes },
    { same: true, blob: true, file: true, stream: true, bytes: true },
    logs.join("\n"),
  );
  assert.match(r.fromPath, /^InvalidError: copyFromLocal: a local path needs Node \(20\.16\+\) or Deno; in a browser or worker pass a File, Blob/);
  assert.match(r.toPath, /^InvalidError: copyToLocal: a local path needs Node \(20\.16\+\) or Deno/);
  assert.match(r.missing, /^SandboxFilesystemNotFoundError/);
});
