// Unit tests of src/js/sandbox.js: the protobuf of sandbox.logs' messages (what the wasm
// `_cp` call sends and gets back), the fetch and tail algorithms over a fake sandbox, and
// the refusals. Node, no server (parity.mjs runs the same against sandboxd).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fields, SandboxLogsManager, installSandbox, REFUSED } from "../../src/js/sandbox.js";
import { RemoteError, InvalidError, ExecutionError } from "../../src/js/glue.js";

// ---- a test-side encoder -------------------------------------------------------------------
const enc = new TextEncoder();
function varint(n) {
  const out = [];
  n = BigInt(n);
  while (n > 127n) { out.push(Number(n & 127n) | 128); n >>= 7n; }
  out.push(Number(n));
  return out;
}
const vfield = (tag, n) => [...varint(tag * 8), ...varint(n)];
const lfield = (tag, bytes) => [...varint(tag * 8 + 2), ...varint(bytes.length), ...bytes];
const sfield = (tag, s) => lfield(tag, [...enc.encode(s)]);
const dfield = (tag, d) => { const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, d, true); return [...varint(tag * 8 + 1), ...b]; };
const decode = (b) => Object.fromEntries([...fields(new Uint8Array(b))].map(([t, v]) => [t, v]));
const str = (v) => new TextDecoder().decode(v);

/** A sandbox whose `_cp` answers from `reply(which, request fields)` and records requests. */
function fakeSandbox(reply) {
  const calls = [];
  return {
    sandboxId: "sb-1",
    calls,
    async _cp(which, body) {
      assert.ok(body instanceof Uint8Array);
      const f = decode(body);
      calls.push([which, f]);
      return new Uint8Array(reply(which, f));
    },
  };
}
const WAIT = [...lfield(2, [...sfield(2, "ap-1")])];
const TASK = [...sfield(1, "ta-1")];
const item = (data, fd, ns, secs) => lfield(2, [...sfield(1, data), ...dfield(7, secs ?? 0), ...vfield(8, fd), ...(ns ? vfield(12, ns) : [])]);

test("fields: varints, fixed64, nested, 64-bit values", () => {
  const b = [...vfield(1, 2n ** 63n + 5n), ...dfield(2, 1.5), ...lfield(3, [...sfield(1, "é")])];
  const f = [...fields(new Uint8Array(b))];
  assert.equal(f[0][1], 2n ** 63n + 5n);
  assert.equal(f[1][1].getFloat64(0, true), 1.5);
  assert.equal(str([...fields(f[2][1])][0][1]), "é");
});

test("fields: malformed replies are a RemoteError, never a hang or a RangeError", () => {
  for (const bad of [[0x80], [0x0a, 0x05, 1], [0x09, 1, 2], [0x0b], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]]) {
    assert.throws(() => [...fields(new Uint8Array(bad))], RemoteError, JSON.stringify(bad));
  }
});

test("tail: AppFetchLogs with the ids, the range and the limit; entries decoded as Modal JS's", async () => {
  const sb = fakeSandbox((which) => {
    if (which === 2) return WAIT;
    if (which === 3) return TASK;
    assert.equal(which, 0);
    return lfield(1, [...sfield(1, "ta-1"), ...item("a\n", 1, 1_700_000_000_123_456_789n), ...item("b\n", 2, 0, 1_700_000_001.5)]);
  });
  const got = [];
  for await (const e of new SandboxLogsManager(sb).tail({ entries: 2, source: "stderr" })) got.push(e);
  assert.deepEqual(got.map((e) => [e.message, e.source, e.timestamp.getTime(), e.objectId, e.contextIds]), [
    ["a\n", "stdout", 1_700_000_000_123, "sb-1", ["ta-1"]],
    ["b\n", "stderr", 1_700_000_001_500, "sb-1", ["ta-1"]],
  ]);
  const [, req] = sb.calls.find(([w]) => w === 0);
  assert.equal(str(req[1]), "ap-1");
  assert.equal(str(req[8]), "ta-1");
  assert.equal(str(req[9]), "sb-1");
  assert.equal(req[4], 2n);
  assert.equal(req[5], 2n);
  const since = decode(req[2]), until = decode(req[3]);
  assert.ok(Number(until[1] - since[1]) === 3600, "the first lookback is an hour");
  // the ids are asked once per sandbox object
  for await (const _ of new SandboxLogsManager(sb).tail({ entries: 2 }));
  assert.equal(sb.calls.filter(([w]) => w === 3).length, 1);
});

test("tail: looks further back until it has enough entries", async () => {
  let fetches = 0;
  const sb = fakeSandbox((which) => (which === 2 ? WAIT : which === 3 ? TASK : (fetches++, fetches < 3 ? [] : lfield(1, item("x", 1, 5)))));
  const got = [];
  for await (const e of new SandboxLogsManager(sb).tail({ entries: 5 })) got.push(e.message);
  assert.deepEqual(got, ["x"]);
  assert.equal(fetches, 4, "1 hour, 1 day, 7 days, then 30 days: the last answer is taken as it is");
});

test("fetch: counts in buckets, then fetches the ranges that hold entries", async () => {
  const now = Date.now();
  const sb = fakeSandbox((which, f) => {
    if (which === 2) return WAIT;
    if (which === 3) return TASK;
    if (which === 1) {
      assert.equal(f[9], 60n, "an hour in buckets of 60 s (the first of Modal JS's sizes giving at most 100)");
      const start = Math.floor((now - 1000_000) / 1000);
      return [...lfield(2, [...lfield(1, vfield(1, start)), ...vfield(2, 3)]), ...lfield(2, [...lfield(1, vfield(1, start + 60)), ...vfield(3, 0)])];
    }
    const since = Number(decode(f[2])[1] ?? 0n);
    return lfield(1, item(`from ${since}`, 1, 1));
  });
  const got = [];
  for await (const e of new SandboxLogsManager(sb).fetch({ since: new Date(now - 3600e3), until: new Date(now) })) got.push(e.message);
  assert.equal(got.length, 1, "one range with entries, one fetch");
  assert.equal(sb.calls.filter(([w]) => w === 0).length, 1);
});

test("no task: an ExecutionError, as Modal JS's", async () => {
  const sb = fakeSandbox((which) => (which === 2 ? WAIT : [...lfield(2, [])]));
  await assert.rejects(async () => { for await (const _ of new SandboxLogsManager(sb).tail()); }, ExecutionError);
});

test("refused methods: an InvalidError naming each, installed once per class", async () => {
  class Fake {}
  const a = installSandbox(new Fake());
  installSandbox(new Fake());
  for (const name of REFUSED) {
    const e = name === "experimentalSidecars" ? (() => { try { return a[name]; } catch (e) { return e; } })() : await a[name]().catch((e) => e);
    assert.ok(e instanceof InvalidError && e.message === `sandbox.${name} is not supported by modal-wasm`, name);
  }
  assert.ok(a.logs instanceof SandboxLogsManager);
});
