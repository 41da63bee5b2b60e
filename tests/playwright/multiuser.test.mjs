// The playground for many people: a sandboxd with a signing key (and a gateway in front of
// it) serves the built playground; every visitor gets a scoped token of its own, never the
// server's credential. Two browser contexts are two visitors: each gets its own sandbox,
// neither can see, exec in or terminate the other's through the SDK from the page's
// console; a visitor past the concurrent-sandbox quota sees the playground's message and
// goes on once one ends; a revoked token stops working within seconds; and the same
// playground runs against the gateway.
//
// Starts its own processes: SANDBOXD_BIN (default target/debug/sandboxd), SANDBOXD_HELPERS.
// www/dist and pkg/ must be built (run.sh builds www/dist).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const BIN = process.env.SANDBOXD_BIN || path.join(root, "target/debug/sandboxd");
const OUT = path.resolve(process.env.TEST_OUTPUT || path.join(root, "test-output"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const dir = mkdtempSync(path.join(tmpdir(), "multiuser-"));
const state = path.join(dir, "state");
const TOKEN_ID = `ak-mu-${randomBytes(6).toString("hex")}`;
const TOKEN_SECRET = `as-mu-${randomBytes(12).toString("hex")}`;
const KEY = path.join(dir, "signing.key");
writeFileSync(KEY, randomBytes(48).toString("base64"));
const children = [];
let browser, BASE, GATEWAY;

function start(args, env, pattern) {
  return new Promise((ok, fail) => {
    const c = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(c);
    let err = "";
    c.stderr.on("data", (d) => (err = (err + d).slice(-3000)));
    c.stdout.on("data", (d) => {
      const m = String(d).match(pattern);
      if (m) ok(m[1]);
    });
    c.on("exit", (code) => fail(new Error(`${args[0]} exited (${code}): ${err}`)));
    setTimeout(() => fail(new Error(`${args[0]} did not start: ${err}`)), 30_000);
  });
}

before(async () => {
  const helpers = process.env.SANDBOXD_HELPERS ? ["--helpers", process.env.SANDBOXD_HELPERS] : [];
  const www = ["--www", path.join(root, "www/dist"), "--pkg", path.join(root, "pkg")];
  BASE = await start(
    ["serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--token-id", TOKEN_ID, "--token-secret", TOKEN_SECRET,
      "--signing-key", KEY, "--quota-sandboxes", "1", ...helpers, ...www],
    {}, /listening on (http:\/\/\S+)/);
  GATEWAY = await start(
    ["gateway", "--listen", "127.0.0.1:0", "--upstream", BASE, "--signing-key", KEY, "--quota-sandboxes", "1", ...www],
    { MODAL_TOKEN_ID: TOKEN_ID, MODAL_TOKEN_SECRET: TOKEN_SECRET }, /listening on (http:\/\/\S+)/);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless=new"],
  });
});
after(async () => {
  await browser?.close();
  for (const c of children) c.kill("SIGTERM");
});

/** A visitor: a browser context of its own (its own cookie), every response body kept. */
async function visitor(base = BASE) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const seen = [];
  context.on("response", async (r) => {
    const headers = JSON.stringify(r.headers());
    const body = await r.body().catch(() => Buffer.alloc(0));
    seen.push(Buffer.concat([Buffer.from(headers), body]));
  });
  const open = async () => {
    const page = await context.newPage();
    page.logs = [];
    page.on("console", (m) => page.logs.push(`[${m.type()}] ${m.text()}`));
    await page.goto(`${base}/`);
    return page;
  };
  return { context, seen, open };
}

async function waitReady(page, timeout = 60_000) {
  try {
    await page.locator('#sandbox-status[data-state="ready"]').waitFor({ timeout });
  } catch (e) {
    const banner = await page.locator("#banner").textContent();
    throw new Error(`not ready: ${banner?.trim()}\n${page.logs.join("\n")}`, { cause: e });
  }
  return page.evaluate(() => window.playground.state.sandboxId);
}

async function runAndRead(page, code, needle) {
  await page.locator("#lang").selectOption("python");
  await page.locator(".cm-content").click();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(code);
  await page.locator("#run").click();
  const text = () =>
    page.evaluate(() => {
      const buf = window.playground.term.buffer.active;
      const lines = [];
      for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
      return lines.join("\n");
    });
  const deadline = Date.now() + 30_000;
  while (!(await text()).includes(needle)) {
    if (Date.now() > deadline)
      throw new Error(`the terminal never showed ${JSON.stringify(needle)}:\n${await text()}\n${page.logs.join("\n")}`);
    await page.waitForTimeout(100);
  }
}

/** From the page's console: the SDK, with this visitor's own token, against `otherId`. */
function attack(page, otherId) {
  return page.evaluate(async (otherId) => {
    const m = await import("/pkg/index.js");
    const cfg = await (await fetch("/__sandboxd/config.json")).json();
    const c = new m.ModalClient({ endpoint: location.origin, token: cfg.token });
    const out = { holdsSecret: "tokenSecret" in cfg || "tokenId" in cfg };
    const other = await c.sandboxes.fromId(otherId);
    const tryIt = async (what, p) => {
      try {
        await p;
        out[what] = "allowed";
      } catch (e) {
        out[what] = e.name;
      }
    };
    await tryIt("exec", other.exec(["cat", "/etc/hostname"]));
    await tryIt("tags", other.getTags());
    await tryIt("terminate", other.terminate());
    const ids = [];
    for await (const s of c.sandboxes.list()) ids.push(s.sandboxId);
    out.listsOther = ids.includes(otherId);
    out.listed = ids.length;
    return out;
  }, otherId);
}

test("two visitors: each its own sandbox, neither can touch the other's, no server credential", async () => {
  const a = await visitor();
  const b = await visitor();
  try {
    const pa = await a.open();
    const pb = await b.open();
    const [ida, idb] = await Promise.all([waitReady(pa), waitReady(pb)]);
    assert.notEqual(ida, idb);
    await runAndRead(pa, 'print("visitor a says", 6 * 7)\n', "visitor a says 42");
    await runAndRead(pb, 'print("visitor b says", 6 * 8)\n', "visitor b says 48");
    for (const [page, other, who] of [[pa, idb, "a"], [pb, ida, "b"]]) {
      const r = await attack(page, other);
      assert.equal(r.holdsSecret, false, `${who}: the config has no workspace credential`);
      assert.equal(r.exec, "PermissionDeniedError", `${who} execs in the other's sandbox: ${JSON.stringify(r)}`);
      assert.equal(r.tags, "PermissionDeniedError", `${who} reads the other's tags`);
      assert.equal(r.terminate, "PermissionDeniedError", `${who} terminates the other's sandbox`);
      assert.equal(r.listsOther, false, `${who} lists the other's sandbox`);
      assert.equal(r.listed, 1, `${who} lists its own sandbox`);
    }
    // both sandboxes survived the attacks
    await runAndRead(pa, 'print("a still here")\n', "a still here");
    await runAndRead(pb, 'print("b still here")\n', "b still here");
    for (const [v, who] of [[a, "a"], [b, "b"]]) {
      const all = Buffer.concat(v.seen).toString("latin1");
      assert.ok(all.length > 10_000, `${who}'s page received responses`);
      assert.ok(!all.includes(TOKEN_SECRET), `${who}'s page received the server's token secret`);
      assert.ok(!all.includes(TOKEN_ID), `${who}'s page received the server's token id`);
    }
    await pa.screenshot({ path: path.join(OUT, "multiuser-visitor-a.png") });
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test("past the sandbox quota: the playground says so, and goes on once one ends", async () => {
  const v = await visitor();
  try {
    const first = await v.open();
    await waitReady(first);
    // the same visitor (same cookie) in a second tab: its sandbox would be the second
    const second = await v.open();
    await second.locator("#banner").filter({ hasText: "Limit reached" }).waitFor({ timeout: 60_000 });
    const text = await second.locator("#banner-text").textContent();
    assert.match(text, /allows 1 per user/, text);
    await second.screenshot({ path: path.join(OUT, "multiuser-quota.png") });
    // the first tab's sandbox ends (terminated from its console), then the second can go on
    await first.evaluate(async () => {
      const m = await import("/pkg/index.js");
      const cfg = await (await fetch("/__sandboxd/config.json")).json();
      const c = new m.ModalClient({ endpoint: location.origin, token: cfg.token });
      await (await c.sandboxes.fromId(window.playground.state.sandboxId)).terminate();
    });
    await second.locator("#banner-action").click();
    await waitReady(second);
  } finally {
    await v.context.close();
  }
});

test("a revoked token stops working within seconds", async () => {
  const v = await visitor();
  try {
    const page = await v.open();
    await waitReady(page);
    const token = await page.evaluate(async () => (await (await fetch("/__sandboxd/config.json")).json()).token);
    const jti = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).jti;
    const listWith = (t) =>
      page.evaluate(async (t) => {
        const m = await import("/pkg/index.js");
        try {
          for await (const _ of new m.ModalClient({ endpoint: location.origin, token: t }).sandboxes.list());
          return "ok";
        } catch (e) {
          return e.name;
        }
      }, t);
    assert.equal(await listWith(token), "ok");
    execFileSync(BIN, ["token", "revoke", "--state-dir", state, "--jti", jti]);
    const t0 = Date.now();
    let r;
    do {
      r = await listWith(token);
      if (r !== "ok") break;
      await new Promise((res) => setTimeout(res, 200));
    } while (Date.now() - t0 < 10_000);
    const secs = (Date.now() - t0) / 1000;
    assert.equal(r, "AuthError", "the revoked token is refused");
    assert.ok(secs < 5, `revocation took ${secs} s`);
    console.log(`revocation took effect in ${secs.toFixed(1)} s`);
  } finally {
    await v.context.close();
  }
});

test("the same playground against a gateway in front of sandboxd", async () => {
  const v = await visitor(GATEWAY);
  try {
    const page = await v.open();
    await waitReady(page);
    await runAndRead(page, 'print("through the gateway", 2 ** 10)\n', "through the gateway 1024");
    const all = Buffer.concat(v.seen).toString("latin1");
    assert.ok(!all.includes(TOKEN_SECRET) && !all.includes(TOKEN_ID), "the page got no workspace credential");
    await page.screenshot({ path: path.join(OUT, "multiuser-gateway.png") });
  } finally {
    await v.context.close();
  }
});
