// The playground, end to end: Debian's Chromium (driven by playwright-core) opens the page
// served by a live sandboxd, runs programs in a sandbox, types into their stdin, stops a
// long-running one, saves and re-opens a file, and leaves screenshots in the test output.
//
//   SANDBOXD_URL=http://127.0.0.1:PORT node --test playground.test.mjs
//
// sandboxd must serve the built playground (`--www www/dist --pkg pkg`) and hand out its
// credential at /__sandboxd/config.json (the default). TEST_OUTPUT: where screenshots go
// (default ../../test-output). PLAYGROUND_QUERY: extra query for the main test (worker=0:
// the SDK on the page's main thread instead of the default worker).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.SANDBOXD_URL;
const OUT = path.resolve(process.env.TEST_OUTPUT || path.join(here, "../../test-output"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const T = { ready: 60_000, run: 30_000 };

if (!BASE) throw new Error("set SANDBOXD_URL to a running sandboxd that serves www/dist");
mkdirSync(OUT, { recursive: true });

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--headless=new",
    ],
  });
});
after(async () => {
  await browser?.close();
});

/** A fresh page on the playground, with its console kept for failure messages. */
async function openPlayground(query = "", viewport = { width: 1366, height: 860 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  page.logs = logs;
  await page.goto(new URL(`/${query ? `?${query}` : ""}`, BASE).href);
  return page;
}

async function waitReady(page) {
  try {
    await page.locator('#sandbox-status[data-state="ready"]').waitFor({ timeout: T.ready });
  } catch (e) {
    const status = await page.locator("#sandbox-status").textContent();
    const banner = await page.locator("#banner").textContent();
    throw new Error(`sandbox never became ready: ${status} / ${banner?.trim()}\n${page.logs.join("\n")}`, { cause: e });
  }
}

/** Everything in the terminal's buffer (scrollback included), as plain text. */
const terminalText = (page) =>
  page.evaluate(() => {
    const buf = window.playground.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join("\n");
  });

async function waitForTerminal(page, needle, timeout = T.run) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await terminalText(page);
    if (text.includes(needle)) return text;
    if (Date.now() > deadline) throw new Error(`terminal never showed ${JSON.stringify(needle)}; it shows:\n${text}\n${page.logs.join("\n")}`);
    await page.waitForTimeout(100);
  }
}

/** Replace the editor's text the way a person would: focus, select all, type (paste). */
async function setCode(page, code) {
  await page.locator(".cm-content").click();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(code);
  assert.equal(await editorText(page), code, "the editor holds exactly the typed program");
}

const editorText = (page) => page.evaluate(() => window.playground.editor.state.doc.toString());

async function runStatus(page) {
  return page.locator("#run-status").evaluate((el) => ({ state: el.dataset.state, exitCode: el.dataset.exitCode, text: el.textContent }));
}

async function waitRunEnded(page, timeout = T.run) {
  await page.waitForFunction(
    () => ["exited", "stopped", "error"].includes(document.getElementById("run-status").dataset.state),
    null,
    { timeout },
  );
  return runStatus(page);
}

for (const mode of [{ name: "worker, the default", query: process.env.PLAYGROUND_QUERY || "" }, { name: "main thread", query: "worker=0" }]) {
  const full = mode.name === "worker, the default";
  test(`playground (${mode.name}): stdin round trip${full ? ", stop, save and re-open, screenshots" : ""}`, async (t) => {
    const page = await openPlayground(mode.query);
    t.after(() => page.context().close());
    await waitReady(page);
    assert.match(await page.locator("#mode").textContent(), mode.query.includes("worker=0") ? /main thread/ : /worker/);

    await t.test("a Python program reads a line from stdin and prints it; exit code 0", async () => {
      await page.locator("#lang").selectOption("python");
      await setCode(page, 'line = input("say something: ")\nprint(f"you said: {line[::-1]}")\n');
      await page.keyboard.press("ControlOrMeta+Enter"); // Run, from the editor
      await page.locator('#run-status[data-state="running"]').waitFor({ timeout: T.run });
      await waitForTerminal(page, "say something: ");
      // the terminal has focus once a run starts: type the line like a person
      await page.keyboard.type("hello from playwright");
      await page.keyboard.press("Enter");
      const text = await waitForTerminal(page, "you said: thgirwyalp morf olleh");
      const st = await waitRunEnded(page);
      assert.equal(st.state, "exited", `run status ${JSON.stringify(st)}\n${text}`);
      assert.equal(st.exitCode, "0");
      assert.match(st.text, /exit 0 · \d/);
      assert.match(await terminalText(page), /exit 0 · [\d.]+ m?s/);
    });

    await t.test("stderr is shown in red, and a failing program reports its exit code", async () => {
      await setCode(page, 'import sys\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n');
      await page.locator("#run").click();
      await waitForTerminal(page, "to stderr");
      const st = await waitRunEnded(page);
      assert.equal(st.exitCode, "3");
      const red = await page.evaluate(() => {
        const buf = window.playground.term.buffer.active;
        for (let i = buf.length - 1; i >= 0; i--) {
          const line = buf.getLine(i);
          if (line.translateToString(true).includes("to stderr")) return line.getCell(0).getFgColor();
        }
        return -1;
      });
      assert.equal(red, 1, "stderr is written in the terminal's red (palette colour 1)");
    });

    if (!full) return;

    await t.test("Stop ends a long-running program promptly", async () => {
      await setCode(page, 'import time\nprint("tick loop started", flush=True)\nwhile True:\n    time.sleep(0.2)\n');
      await page.locator("#run").click();
      await waitForTerminal(page, "tick loop started");
      await page.waitForTimeout(500);
      assert.equal((await runStatus(page)).state, "running", "the loop is still running before Stop");
      const t0 = Date.now();
      await page.locator("#stop").click();
      const st = await waitRunEnded(page, 15_000);
      const ms = Date.now() - t0;
      assert.equal(st.state, "stopped", JSON.stringify(st));
      assert.notEqual(st.exitCode, "0");
      assert.ok(ms < 5000, `Stop took ${ms} ms`);
      // the sandbox is reusable right away, and the loop is gone from it
      await setCode(page, 'import subprocess\nr = subprocess.run(["pgrep", "-f", "tick"], capture_output=True)\nprint("leftover:", r.stdout.decode().split())\n');
      await page.locator("#run").click();
      await waitForTerminal(page, "leftover: []");
      assert.equal((await waitRunEnded(page)).exitCode, "0");
    });

    await t.test("Ctrl+C in the terminal stops a bash script and its children", async () => {
      await page.locator("#lang").selectOption("bash");
      await setCode(page, 'echo "sleeping now"\nsleep 300\necho "should not print"\n');
      await page.keyboard.press("ControlOrMeta+Enter");
      await waitForTerminal(page, "sleeping now");
      const t0 = Date.now();
      await page.keyboard.press("Control+c"); // the terminal has focus while a program runs
      const st = await waitRunEnded(page, 15_000);
      assert.equal(st.state, "stopped");
      assert.ok(Date.now() - t0 < 5000, `Ctrl+C took ${Date.now() - t0} ms`);
    });

    await t.test("a file is created, saved, and re-opened from the sandbox", async () => {
      const content = "saved by playwright\nsecond line ✓\n";
      await page.locator("#files-new").click();
      await page.locator("#new-file-name").fill("notes.txt");
      await page.locator("#new-file-name").press("Enter");
      await page.locator('#file-list li[data-name="notes.txt"]').waitFor();
      await page.locator(".cm-content").click();
      await page.keyboard.insertText(content);
      await page.locator("#dirty").waitFor({ state: "visible" });
      await page.keyboard.press("ControlOrMeta+s");
      await page.locator("#dirty").waitFor({ state: "hidden" });
      await waitForTerminal(page, "saved notes.txt");
      // switch away (another buffer), then open the file again from the panel
      await page.locator("#lang").selectOption("node");
      assert.notEqual(await editorText(page), content);
      await page.locator('#file-list li[data-name="notes.txt"]').click();
      await page.waitForFunction((c) => window.playground.editor.state.doc.toString() === c, content, { timeout: 10_000 });
      assert.equal(await page.locator("#file-name").textContent(), "notes.txt");
      assert.equal(await page.locator("#files-mode").getAttribute("data-mode"), process.env.PLAYGROUND_FILES_MODE || "filesystem", "the file panel uses the SDK's sandbox.filesystem");
      // and the program side sees the same bytes
      await page.locator("#lang").selectOption("bash");
      await setCode(page, 'echo "notes.txt has $(wc -c < notes.txt) bytes"\n');
      await page.locator("#run").click();
      const text = await waitForTerminal(page, "notes.txt has ");
      assert.match(text, new RegExp(`notes.txt has ${Buffer.byteLength(content)} bytes`));
      assert.equal((await waitRunEnded(page)).exitCode, "0");
    });

    await t.test("upload and download through the file panel", async () => {
      await page.locator("#files-upload").setInputFiles({ name: "upload.bin", mimeType: "application/octet-stream", buffer: Buffer.from([0, 1, 2, 250, 255]) });
      await page.locator('#file-list li[data-name="upload.bin"]').waitFor();
      const li = page.locator('#file-list li[data-name="upload.bin"]');
      await li.hover();
      const [download] = await Promise.all([page.waitForEvent("download"), li.locator(".dl").click()]);
      const saved = path.join(OUT, "playground-download.bin");
      await download.saveAs(saved);
      const { readFileSync } = await import("node:fs");
      assert.deepEqual([...readFileSync(saved)], [0, 1, 2, 250, 255]);
    });

    await t.test("screenshots", async () => {
      await page.locator("#lang").selectOption("python");
      await page.locator('#file-list li[data-name="main.py"]').click();
      // the file's text from the sandbox replaces the editor's when it arrives: type after it
      await page.waitForFunction(() => window.playground.state.path.endsWith("main.py") && !window.playground.state.opening);
      await setCode(page, (await import("node:fs")).readFileSync(path.join(here, "demo.py"), "utf8"));
      await page.locator("#run").click();
      await waitForTerminal(page, "What's your name?");
      await page.keyboard.type("Ada");
      await page.keyboard.press("Enter");
      await waitRunEnded(page);
      await page.screenshot({ path: path.join(OUT, "playground.png") });
      await page.setViewportSize({ width: 420, height: 860 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(OUT, "playground-narrow.png") });
    });
  });
}

test("playground: closing the page terminates its sandbox", async (t) => {
  const { ModalClient } = await import(pathToFileURL(path.join(here, "../../pkg/node.js")).href);
  const creds = await (await fetch(new URL("/__sandboxd/config.json", BASE))).json();
  const client = new ModalClient({ endpoint: BASE, ...creds });
  t.after(() => client.close());
  for (const query of ["", "worker=0"]) {
    const page = await openPlayground(query);
    await waitReady(page);
    const id = (await page.locator("#sandbox-id").textContent()).replace(/^sandbox /, "");
    const sb = await client.sandboxes.fromId(id);
    assert.equal(await sb.poll(), null, `${id} runs while the page is open`);
    await page.close({ runBeforeUnload: true });
    // the tab is gone, the browser stays: closing the whole context at once would also
    // cancel the keepalive request in flight (a person closing a tab does not do that)
    const deadline = Date.now() + 15_000;
    let code = null;
    while ((code = await sb.poll()) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    await page.context().close();
    assert.notEqual(code, null, `sandbox ${id} (${query || "main thread"}) still runs after its page closed`);
  }
});

test("playground: a sandbox that times out is reported, and a fresh one can be started", async (t) => {
  const page = await openPlayground("timeout=4");
  t.after(() => page.context().close());
  await waitReady(page);
  await page.locator("#banner").waitFor({ state: "visible", timeout: 30_000 });
  assert.match(await page.locator("#banner-text").textContent(), /timed out|has ended/);
  assert.equal(await page.locator("#run").isDisabled(), true, "Run is disabled without a sandbox");
  await page.screenshot({ path: path.join(OUT, "playground-timed-out.png") });
  const first = await page.locator("#sandbox-id").textContent();
  await page.locator("#banner-action").click();
  await waitReady(page);
  assert.equal(await page.locator("#banner").isHidden(), true);
  assert.notEqual(await page.locator("#sandbox-id").textContent(), first, "a new sandbox");
});

test("playground: a clear message when the server cannot be reached", async (t) => {
  const page = await openPlayground("endpoint=http%3A%2F%2F127.0.0.1%3A9&tokenId=ak-x&tokenSecret=as-x");
  t.after(() => page.context().close());
  await page.locator("#banner").waitFor({ state: "visible", timeout: T.ready });
  const text = await page.locator("#banner-text").textContent();
  assert.match(text, /Cannot reach sandboxd|Could not start/);
  assert.equal(await page.locator("#run").isDisabled(), true);
  assert.equal(await page.locator("#banner-action").isVisible(), true);
  await page.screenshot({ path: path.join(OUT, "playground-server-down.png") });
});
