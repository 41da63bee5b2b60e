// The playground's Terminal tab, end to end in Debian's Chromium: an interactive login
// shell in the visitor's sandbox, typed into the way a person types (keys to xterm.js).
// A Python REPL round trip, Tab completion and history, colours, Ctrl-C interrupting
// `sleep 100`, a resize of the page seen by `tput cols`, 200000 lines through the terminal,
// and a reload that reattaches to the same shell with its output kept.
//
//   SANDBOXD_URL=http://127.0.0.1:PORT node --test terminal.test.mjs
//
// TEST_OUTPUT: where the screenshot goes (default ../../test-output).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.SANDBOXD_URL;
const OUT = path.resolve(process.env.TEST_OUTPUT || path.join(here, "../../test-output"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

if (!BASE) throw new Error("set SANDBOXD_URL to a running sandboxd that serves www/dist");
mkdirSync(OUT, { recursive: true });

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

/** The Terminal tab's whole buffer (scrollback included), as plain text. */
const shellText = (page) =>
  page.evaluate(() => {
    const buf = window.playground.shellTerm.buffer.active;
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join("\n");
  });

/** Wait until the Terminal tab shows a line matching `re`; returns the match. */
async function waitFor(page, re, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const m = (await shellText(page)).match(re);
    if (m) return m;
    if (Date.now() > deadline)
      throw new Error(`the terminal never showed ${re}; it shows:\n${(await shellText(page)).slice(-3000)}\n${page.logs.join("\n")}`);
    await page.waitForTimeout(100);
  }
}

/** Type `line` and Enter into the terminal, key by key. */
async function typeLine(page, line) {
  await page.keyboard.type(line, { delay: 5 });
  await page.keyboard.press("Enter");
}

async function openTerminal(page) {
  await page.goto(new URL("/", BASE).href);
  await page.locator('#sandbox-status[data-state="ready"]').waitFor({ timeout: 60_000 });
  await page.locator("#tab-shell").click();
  await page.locator('#tab-shell[data-shell="open"]').waitFor({ timeout: 30_000 });
}

test("playground: Terminal tab, a login shell: REPL, Tab, history, colours, Ctrl-C, resize, 200000 lines, reload", async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.logs = [];
  page.on("console", (m) => page.logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => page.logs.push(`[pageerror] ${e.message}`));
  try {
    await openTerminal(page);
    await page.locator("#shell").click();
    await typeLine(page, "tty; echo pid=$$");
    await waitFor(page, /^\/dev\/pts\/\d+$/m);
    const pid = (await waitFor(page, /^pid=(\d+)$/m))[1];

    // a Python REPL round trip
    await typeLine(page, "python3");
    await waitFor(page, /^>>> $/m);
    await typeLine(page, "print(6 * 7, 'from', 'python')");
    await waitFor(page, /^42 from python$/m);
    await typeLine(page, "exit()");

    // Tab completes, the up arrow brings the last line back
    await page.keyboard.type("ech");
    await page.keyboard.press("Tab");
    await typeLine(page, " tab-$((40+2))");
    await waitFor(page, /^tab-42$/m);
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    await waitFor(page, /^tab-42\n(.*\n)?tab-42$/m);

    // colours reach xterm.js as colours
    await typeLine(page, "printf '\\033[31mRED\\033[0m\\n'");
    await waitFor(page, /^RED$/m);
    const red = await page.evaluate(() => {
      const buf = window.playground.shellTerm.buffer.active;
      for (let i = buf.length - 1; i >= 0; i--) {
        const line = buf.getLine(i);
        if (line.translateToString(true) === "RED") return line.getCell(0).getFgColor();
      }
      return null;
    });
    assert.equal(red, 1, "RED is drawn in the palette's red");

    // Ctrl-C interrupts sleep 100 (and only it: the shell goes on)
    await typeLine(page, "sleep 100");
    await page.waitForTimeout(700);
    const t0 = Date.now();
    await page.keyboard.press("Control+c");
    await typeLine(page, "echo status=$?");
    await waitFor(page, /^status=130$/m, 10_000);
    assert.ok(Date.now() - t0 < 10_000, "sleep was interrupted");

    // the page's size is the terminal's: tput sees a resize
    await typeLine(page, "echo cols=$(tput cols)");
    const before = Number((await waitFor(page, /^cols=(\d+)$/m))[1]);
    assert.equal(before, await page.evaluate(() => window.playground.shellTerm.cols));
    await page.setViewportSize({ width: 900, height: 700 });
    await page.waitForFunction((c) => window.playground.shellTerm.cols !== c, before);
    const want = await page.evaluate(() => window.playground.shellTerm.cols);
    await page.waitForTimeout(300);
    await typeLine(page, "echo resized=$(tput cols)");
    const after = Number((await waitFor(page, /^resized=(\d+)$/m))[1]);
    assert.equal(after, want, `tput cols after the page shrank (was ${before})`);
    await page.setViewportSize({ width: 1366, height: 860 });

    // many lines through the terminal
    await typeLine(page, "seq 1 200000 | tail -1; seq 1 200000 | wc -l");
    await waitFor(page, /^200000\n200000$/m, 60_000);

    await typeLine(page, "echo before-reload; ls --color=always /");
    await waitFor(page, /^before-reload$/m);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(OUT, "playground-terminal.png") });

    // a reload: the same sandbox, the same shell, the output kept
    await page.reload();
    await page.locator('#sandbox-status[data-state="ready"]').waitFor({ timeout: 60_000 });
    await page.locator('#tab-shell[data-shell="open"]').waitFor({ timeout: 30_000 });
    await waitFor(page, /^before-reload$/m);
    await waitFor(page, /^42 from python$/m);
    await page.locator("#shell").click();
    await typeLine(page, "echo again-pid=$$");
    assert.equal((await waitFor(page, /^again-pid=(\d+)$/m))[1], pid, "the reloaded page is on the same shell");
    await typeLine(page, "exit");
    await page.locator("#tab-shell:not([data-shell])").waitFor({ timeout: 15_000 });
  } catch (e) {
    await page.screenshot({ path: path.join(OUT, "playground-terminal-failure.png") }).catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
});
