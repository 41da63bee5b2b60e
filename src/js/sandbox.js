// Modal JS's Sandbox surface that is algorithm or refusal rather than transfer, in JS over
// the SDK's own calls: `sandbox.logs` (fetch and tail, Modal JS's SandboxLogsManager) and
// the Modal JS methods this package does not have, each refused by name. `installSandbox`
// puts them on the Sandbox prototype; Rust calls it for every Sandbox it hands out.
//
// The logs' four messages are encoded and decoded here (the wasm `_cp` sends the bytes,
// with the client's metadata and retries): a few lines of protobuf in JS cost a fraction
// of what prost's code for them costs in the wasm (the package's size budget).
import { makeError } from "./glue.js";

const invalid = (message) => makeError("INVALID", message);

// ---- protobuf: the wire format of the messages below -------------------------------------

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** Appends the varint of `n` (a non-negative number or BigInt below 2^64). */
function varint(out, n) {
  n = BigInt.asUintN(64, BigInt(n));
  while (n > 127n) {
    out.push(Number(n & 127n) | 128);
    n >>= 7n;
  }
  out.push(Number(n));
}

/** Appends field `tag`: a number as a varint, a string or bytes length-delimited; zero
 * values are left out, as proto3 does. */
function put(out, tag, v) {
  if (!v || !(v.length ?? 1)) return;
  if (typeof v === "number") {
    varint(out, tag << 3);
    return varint(out, v);
  }
  const b = typeof v === "string" ? utf8.encode(v) : v;
  varint(out, (tag << 3) | 2);
  varint(out, b.length);
  for (const x of b) out.push(x);
}

/** A google.protobuf.Timestamp of `ms` since the epoch. */
function time(ms) {
  const t = [];
  const s = Math.floor(ms / 1000);
  put(t, 1, s);
  put(t, 2, Math.round((ms - s * 1000) * 1e6));
  return t;
}

/** The fields of a message: [tag, value], value a BigInt (varint), DataView (fixed64) or
 * Uint8Array (length-delimited); 32-bit fixed fields are skipped. */
export function* fields(b) {
  const bad = () => makeError("REMOTE", "malformed reply from the server");
  let i = 0;
  const v = () => {
    let r = 0n;
    for (let s = 0n; ; s += 7n) {
      const x = b[i++];
      if (x === undefined || s > 63n) throw bad();
      r |= BigInt(x & 127) << s;
      if (x < 128) return r;
    }
  };
  while (i < b.length) {
    const key = Number(v());
    const tag = key >>> 3;
    const at = i;
    switch (key & 7) {
      case 0:
        yield [tag, v()];
        break;
      case 1:
        i += 8;
        if (i > b.length) throw bad();
        yield [tag, new DataView(b.buffer, b.byteOffset + at, 8)];
        break;
      case 2: {
        const n = Number(v());
        if (i + n > b.length) throw bad();
        yield [tag, b.subarray(i, i + n)];
        i += n;
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        throw bad();
    }
  }
}

// The calls `_cp` makes (src/sandbox.rs `logs_call`).
const FETCH = 0, COUNT = 1, WAIT = 2, TASK_ID = 3;

async function call(sb, which, body) {
  return sb._cp(which, new Uint8Array(body));
}

/** The sandbox's app id and task id (as Modal JS: SandboxWait(0)'s metadata, and
 * SandboxGetTaskId), asked once per sandbox object. */
const IDS = Symbol("modal-wasm.logIds");
async function ids(sb) {
  if (sb[IDS]) return sb[IDS];
  const req = [];
  put(req, 1, sb.sandboxId);
  let appId = "", taskId = "", ended = false;
  for (const [tag, v] of fields(await call(sb, WAIT, req))) {
    if (tag === 2) for (const [t, a] of fields(v)) if (t === 2) appId = text.decode(a);
  }
  for (const [tag, v] of fields(await call(sb, TASK_ID, req))) {
    if (tag === 1) taskId = text.decode(v);
    if (tag === 2) ended = true;
  }
  if (!taskId) {
    throw makeError("EXECUTION", ended ? "Sandbox task ID is not available." : "Sandbox task ID is not available yet.");
  }
  return (sb[IDS] = { appId, taskId });
}

/** The filters both requests carry, each at its own tag. */
async function filters(sb, q, sinceMs, untilMs, tags) {
  const { appId, taskId } = await ids(sb);
  const out = [];
  put(out, 1, appId);
  put(out, tags.since, time(sinceMs));
  put(out, tags.until, time(untilMs));
  put(out, tags.source, q.source);
  put(out, tags.task, taskId);
  put(out, tags.sandbox, sb.sandboxId);
  put(out, tags.search, q.search);
  return out;
}

/** AppFetchLogs: `[message, source, timestampMs, contextId]` per entry, in reply order. */
async function fetchRange(sb, q, sinceMs, untilMs, limit) {
  const req = await filters(sb, q, sinceMs, untilMs, { since: 2, until: 3, source: 5, task: 8, sandbox: 9, search: 10 });
  put(req, 4, limit);
  const out = [];
  for (const [tag, batch] of fields(await call(sb, FETCH, req))) {
    if (tag !== 1) continue;
    let taskId = "";
    const items = [];
    for (const [t, v] of fields(batch)) {
      if (t === 1) taskId = text.decode(v);
      if (t === 2) items.push(v);
    }
    for (const item of items) {
      const e = { message: "", source: 0, ns: 0n, secs: 0, container: "" };
      for (const [t, v] of fields(item)) {
        if (t === 1) e.message = text.decode(v);
        else if (t === 7 && v instanceof DataView) e.secs = v.getFloat64(0, true);
        else if (t === 8) e.source = Number(v);
        else if (t === 12) e.ns = v;
        else if (t === 13) e.container = text.decode(v);
      }
      // as Modal JS: the nanosecond stamp floored to ms when there is one
      const ms = e.ns ? Number(e.ns / 1000000n) : e.secs * 1000;
      out.push([e.message, e.source, ms, e.container || taskId]);
    }
  }
  return out;
}

// ---- logs (Modal JS 0.11.1 src/logs.ts: the same limits, buckets and lookbacks) ------------

/** Most entries one AppFetchLogs returns. */
export const FETCH_LIMIT = 20000;
const MAX_RANGE_MS = 35 * 864e5;
const MAX_FETCHES = 500;
const BUCKET_SECS = [2, 4, 6, 12, 20, 30, 60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600, 7200, 10800, 14400, 28800, 43200, 86400];
const TAIL_LOOKBACKS_MS = [36e5, 864e5, 6048e5, 2592e6];
const SOURCES = { stdout: 1, stderr: 2, system: 3 };
const SOURCE_NAMES = ["system", "stdout", "stderr", "system"];
const TOO_MANY = "Too many logs to fetch in time range. Consider narrowing the range or adding filters.";

/** The params object of `what`, every key known (an unknown one refused by name). */
function params(p, known, what) {
  if (p === undefined || p === null) return {};
  if (typeof p !== "object") throw invalid(`${what}: params must be an object`);
  for (const k of Object.keys(p)) {
    if (!known.includes(k) && p[k] !== undefined) {
      throw invalid(`${what}: unknown option '${k}' (expected ${known.join(", ")})`);
    }
  }
  return p;
}

function date(v, key, what) {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw invalid(`${what}: ${key} must be a valid Date`);
  return v.getTime();
}

/** Modal's FileDescriptor of a source name; 0 (any) when absent. */
export function sourceOf(v, what) {
  if (v === undefined) return 0;
  if (!Object.prototype.hasOwnProperty.call(SOURCES, v)) {
    throw invalid(`${what}: source must be "stdout", "stderr" or "system", got ${JSON.stringify(v)}`);
  }
  return SOURCES[v];
}

/** AppCountLogs: `{startMs, endMs, count}` per bucket. */
async function count(sb, q, sinceMs, untilMs, bucketSecs) {
  const req = await filters(sb, q, sinceMs, untilMs, { since: 7, until: 8, source: 10, task: 2, sandbox: 5, search: 6 });
  put(req, 9, bucketSecs);
  const out = [];
  for (const [tag, bucket] of fields(await call(sb, COUNT, req))) {
    if (tag !== 2) continue;
    let startMs = 0, n = 0;
    for (const [t, v] of fields(bucket)) {
      if (t === 1) {
        for (const [tt, vv] of fields(v)) {
          if (tt === 1) startMs += Number(BigInt.asIntN(64, vv)) * 1000;
          if (tt === 2) startMs += Number(vv) / 1e6;
        }
      } else if (t >= 2 && t <= 4) n += Number(v);
    }
    out.push({ startMs, endMs: startMs + bucketSecs * 1000, count: n });
  }
  return out;
}

/** Ranges holding more than FETCH_LIMIT entries, recounted in smaller buckets. */
async function refine(sb, q, ranges) {
  for (let round = 0; round < 3; round++) {
    const dense = [];
    ranges.forEach((r, i) => {
      if (r.count <= FETCH_LIMIT) return;
      const secs = (r.endMs - r.startMs) / 1000;
      const smaller = BUCKET_SECS.filter((s) => s < secs).pop();
      if (smaller !== undefined) dense.push({ i, r, smaller });
    });
    if (!dense.length) return ranges;
    const estimate = dense.reduce((n, { r, smaller }) => n + Math.ceil((r.endMs - r.startMs) / 1000 / smaller) - 1, ranges.length);
    if (estimate > MAX_FETCHES) return ranges;
    const replaced = new Map();
    for (const { i, r, smaller } of dense) {
      const sub = await count(sb, q, r.startMs, r.endMs, smaller);
      if (sub.length) {
        sub[0].startMs = Math.max(sub[0].startMs, r.startMs);
        sub[sub.length - 1].endMs = Math.min(sub[sub.length - 1].endMs, r.endMs);
      }
      replaced.set(i, sub);
    }
    ranges = ranges.flatMap((r, i) => replaced.get(i) ?? [r]);
  }
  return ranges;
}

/** Ranges grouped into fetches of at most FETCH_LIMIT (about 2000) entries each. */
function intervals(ranges) {
  const out = [];
  let start, end = 0, n = 0;
  const flush = () => {
    if (start !== undefined) out.push({ startMs: start, endMs: end });
    start = undefined;
    n = 0;
  };
  for (const r of ranges) {
    if (r.count === 0) {
      flush();
      continue;
    }
    if (start !== undefined && n + r.count > FETCH_LIMIT) flush();
    if (start === undefined) start = r.startMs;
    n += r.count;
    end = r.endMs;
    if (n >= 2000) flush();
  }
  flush();
  return out;
}

function* entries(sb, rows) {
  for (const [message, source, ms, context] of rows) {
    yield {
      message,
      source: SOURCE_NAMES[source] ?? "system",
      timestamp: new Date(ms),
      objectId: sb.sandboxId,
      contextIds: context ? [context] : [],
    };
  }
}

/**
 * A Sandbox's entrypoint logs, as Modal JS's `SandboxLogsManager`: `fetch` a UTC time range
 * (counted in buckets, then fetched in ranges of at most 20000 entries), `tail` the newest
 * entries (looking back 1 hour, 1 day, 7 days, 30 days until there are enough). Both are
 * async iterables of `LogEntry`, in chronological order.
 */
export class SandboxLogsManager {
  constructor(sandbox) {
    this._sb = sandbox;
  }

  async *fetch(p) {
    const what = "logs.fetch";
    if (p === undefined || p === null) throw invalid(`${what}: params with 'since' are required`);
    p = params(p, ["since", "until", "source", "searchText"], what);
    const sinceMs = date(p.since, "since", what);
    const untilMs = p.until === undefined ? Date.now() : date(p.until, "until", what);
    if (p.searchText !== undefined && typeof p.searchText !== "string") throw invalid(`${what}: searchText must be a string`);
    const q = { source: sourceOf(p.source, what), search: p.searchText ?? "" };
    if (untilMs - sinceMs > MAX_RANGE_MS) throw invalid(`${what}: Time range cannot exceed 35 days.`);
    if (untilMs <= sinceMs) return;
    const bucketSecs = BUCKET_SECS.find((s) => (untilMs - sinceMs) / 1000 / s <= 100) ?? 86400;
    let ranges = await count(this._sb, q, sinceMs, untilMs, bucketSecs);
    while (ranges.length && ranges[0].count === 0) ranges.shift();
    while (ranges.length && ranges[ranges.length - 1].count === 0) ranges.pop();
    if (!ranges.length) return;
    ranges = await refine(this._sb, q, ranges);
    if (ranges.some((r) => r.count > FETCH_LIMIT)) throw makeError("RESOURCE_EXHAUSTED", TOO_MANY);
    const fetches = intervals(ranges)
      .map((r) => ({ startMs: Math.max(r.startMs, sinceMs), endMs: Math.min(r.endMs, untilMs) }))
      .filter((r) => r.startMs < r.endMs);
    if (fetches.length > MAX_FETCHES) throw makeError("RESOURCE_EXHAUSTED", TOO_MANY);
    for (const r of fetches) {
      yield* entries(this._sb, await fetchRange(this._sb, q, r.startMs, r.endMs, FETCH_LIMIT));
    }
  }

  async *tail(p) {
    const what = "logs.tail";
    p = params(p, ["entries", "source"], what);
    const n = p.entries ?? 100;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > FETCH_LIMIT) {
      throw invalid(`${what}: entries must be an integer from 0 to ${FETCH_LIMIT}, got ${String(n)}`);
    }
    const source = sourceOf(p.source, what);
    if (n === 0) return;
    const anchor = Date.now();
    for (const lookback of TAIL_LOOKBACKS_MS) {
      const rows = await fetchRange(this._sb, { source, search: "" }, anchor - lookback, anchor, n);
      if (rows.length >= n || lookback === TAIL_LOOKBACKS_MS[TAIL_LOOKBACKS_MS.length - 1]) {
        yield* entries(this._sb, rows);
        return;
      }
    }
  }
}

// ---- Modal JS's Sandbox methods this package does not have ---------------------------------

/** Calling one (or reading `experimentalSidecars`) throws an InvalidError naming it; the
 * README says why each is missing. */
export const REFUSED = [
  "experimentalSetName",
  "experimentalGetExitSnapshot",
  "experimentalSnapshot",
  "updateNetworkPolicy",
  "experimentalUpdateOutboundPolicy",
  "experimentalSidecars",
];

const refusal = (name) => invalid(`sandbox.${name} is not supported by modal-wasm`);

export function installSandbox(sandbox) {
  const sp = Object.getPrototypeOf(sandbox);
  if (!sp || Object.prototype.hasOwnProperty.call(sp, "logs")) return sandbox;
  Object.defineProperty(sp, "logs", {
    get() {
      return new SandboxLogsManager(this);
    },
    configurable: true,
  });
  for (const name of REFUSED) {
    if (name === "experimentalSidecars") {
      Object.defineProperty(sp, name, {
        get() {
          throw refusal(name);
        },
        configurable: true,
      });
    } else {
      Object.defineProperty(sp, name, {
        value: async function () {
          throw refusal(name);
        },
        writable: true,
        configurable: true,
      });
    }
  }
  return sandbox;
}
