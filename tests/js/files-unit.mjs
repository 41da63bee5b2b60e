// Unit tests of src/js/files.js (the JS half of the filesystem API): open modes, the file
// state machine, watch commands and events, the helper's typed errors. Node, no server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMode, FileState, watchCommand, parseEvent, helperError, checkPath } from "../../src/js/files.js";
import { SandboxFilesystemNotFoundError, SandboxFilesystemError, InvalidError } from "../../src/js/glue.js";

const bytes = (s) => new TextEncoder().encode(s);
const text = (b) => new TextDecoder().decode(b);
const code = (f) => {
  try {
    f();
  } catch (e) {
    return e.code;
  }
  return "no error";
};

test("modes parse like Python's", () => {
  const r = parseMode("r");
  assert.ok(r.readable && !r.writable && !r.create && !r.binary);
  const w = parseMode("wb");
  assert.ok(!w.readable && w.writable && w.truncate && w.create && w.binary);
  const a = parseMode("a+");
  assert.ok(a.readable && a.writable && a.append && !a.truncate);
  const x = parseMode("x+b");
  assert.ok(x.exclusive && x.create && x.readable && x.binary);
  const rp = parseMode("rb+");
  assert.ok(rp.readable && rp.writable && !rp.create);
  for (const bad of ["", "rw", "q", "r++", "bt", "rbb", "+", 3]) assert.equal(code(() => parseMode(bad)), "INVALID", String(bad));
});

test("read, write, seek, and write-back versions", () => {
  const f = new FileState(parseMode("r+"), bytes("hello\nworld\n"), false);
  assert.equal(f.pending(), null);
  assert.equal(text(f.readline()), "hello\n");
  assert.equal(text(f.read(3)), "wor");
  assert.equal(f.tell(), 9);
  assert.equal(f.seek(0, 0), 0);
  assert.equal(f.write(bytes("HE")), 2);
  assert.equal(f.seek(-1, 2), 11);
  f.write(bytes("!!"));
  assert.equal(f.seek(0, 0), 0);
  assert.equal(text(f.read()), "HEllo\nworld!!");
  assert.equal(text(f.read()), "");
  const p = f.pending();
  assert.equal(text(p.data), "HEllo\nworld!!");
  f.saved(p.version);
  assert.equal(f.pending(), null);
  // Seek past the end, then write: the gap is zero-filled.
  f.seek(2, 1);
  f.write(bytes("z"));
  assert.equal(f.length, 16);
  assert.deepEqual([...f.pending().data.subarray(13)], [0, 0, 122]);
  assert.equal(code(() => f.seek(-100, 1)), "INVALID");
  assert.equal(code(() => f.seek(0, 3)), "INVALID");
});

test("many small writes grow the buffer and keep every byte", () => {
  const f = new FileState(parseMode("w"), new Uint8Array(0), true);
  for (let i = 0; i < 1000; i++) f.write(bytes(`${i % 10}`));
  assert.equal(f.length, 1000);
  assert.equal(text(f.pending().data).slice(0, 12), "012345678901");
});

test("append mode writes at the end", () => {
  const f = new FileState(parseMode("a+"), bytes("abc"), false);
  assert.equal(f.tell(), 3);
  f.seek(0, 0);
  f.write(bytes("d"));
  f.seek(0, 0);
  assert.equal(text(f.read()), "abcd");
});

test("truncated files are pending at once", () => {
  const f = new FileState(parseMode("w"), new Uint8Array(0), true);
  assert.equal(f.pending().data.length, 0);
});

test("permissions and close", () => {
  const r = new FileState(parseMode("r"), bytes("x"), false);
  assert.equal(code(() => r.write(bytes("y"))), "INVALID");
  const w = new FileState(parseMode("w"), new Uint8Array(0), true);
  assert.equal(code(() => w.read()), "INVALID");
  r.closed = true;
  assert.equal(code(() => r.read()), "CLIENT_CLOSED");
  assert.equal(code(() => r.seek(0, 0)), "CLIENT_CLOSED");
  assert.equal(code(() => r.pending()), "CLIENT_CLOSED");
});

test("text reads count characters, positions count bytes", () => {
  const f = new FileState(parseMode("r"), bytes("añ€😀b"), false);
  assert.equal(f.readText(2), "añ");
  assert.equal(f.tell(), 3);
  assert.equal(f.readText(2), "€😀");
  assert.equal(f.readText(5), "b");
  assert.equal(f.readText(), "");
  f.seek(0, 0);
  assert.equal(f.readText(), "añ€😀b");
});

test("watch commands", () => {
  assert.equal(
    watchCommand("/w", true, ["Modify"], 2500),
    '{"Watch":{"path":"/w","recursive":true,"filter":["Modify","Rename","RenameFrom","RenameTo"],"timeout_secs":2}}',
  );
  assert.ok(watchCommand("/w", false, undefined, undefined).endsWith('"filter":null,"timeout_secs":null}}'));
  assert.equal(JSON.parse(watchCommand('/we"ird\n', false, [], 0)).Watch.path, '/we"ird\n');
  assert.equal(code(() => watchCommand("/w", false, ["Nope"])), "INVALID");
  assert.equal(code(() => watchCommand("/w", false, "Create")), "INVALID");
  assert.equal(code(() => watchCommand("/w", false, null, -1)), "INVALID");
  assert.equal(code(() => watchCommand("/w", false, null, "5")), "INVALID");
});

test("watch events parse, renames collapse to Modify", () => {
  assert.deepEqual(parseEvent('{"event_type":"Create","paths":["/a"]}'), { eventType: "Create", paths: ["/a"] });
  const e = parseEvent(' {"event_type":"RenameTo","paths":["/a","/b"]} ');
  assert.equal(e.eventType, "Modify");
  assert.equal(e.paths.length, 2);
  for (const skip of ["", "garbage", "null", "[]", '{"event_type":"Create","paths":[]}', '{"event_type":"Weird","paths":["/a"]}']) {
    assert.equal(parseEvent(skip), null, skip);
  }
});

test("helper failures become typed errors", () => {
  const e = helperError("/p", 1, '{"error_kind":"NotFound","message":"boom","detail":"errno 2"}\n');
  assert.ok(e instanceof SandboxFilesystemNotFoundError && e instanceof SandboxFilesystemError);
  assert.equal(e.code, "FILESYSTEM_NOT_FOUND");
  assert.equal(e.message, "boom: /p");
  assert.equal(e.cause, "errno 2");
  const cases = {
    IsDirectory: "FILESYSTEM_IS_A_DIRECTORY",
    IsFile: "FILESYSTEM_NOT_A_DIRECTORY",
    NotDirectory: "FILESYSTEM_NOT_A_DIRECTORY",
    DirectoryNotEmpty: "FILESYSTEM_DIRECTORY_NOT_EMPTY",
    AlreadyExists: "FILESYSTEM_PATH_ALREADY_EXISTS",
    PermissionDenied: "FILESYSTEM_PERMISSION_DENIED",
    FileTooLarge: "FILESYSTEM_FILE_TOO_LARGE",
    NotSupported: "INVALID",
    Io: "FILESYSTEM",
    toString: "FILESYSTEM",
  };
  for (const [kind, want] of Object.entries(cases)) {
    assert.equal(helperError("/p", 1, JSON.stringify({ error_kind: kind, message: "boom" })).code, want, kind);
  }
  assert.equal(helperError("/p", 1, '{"error_kind":"Io","message":"boom"}').message, "boom");
  // Unstructured stderr: the base error with the exit code, stderr kept as the cause.
  const u = helperError("/p", 3, "  segfault\n");
  assert.equal(u.code, "FILESYSTEM");
  assert.match(u.message, /exit code 3/);
  assert.equal(u.cause, "segfault");
  // A payload without a message is unstructured too.
  assert.equal(helperError("/p", 1, '{"error_kind":"NotFound","message":" "}').code, "FILESYSTEM");
});

test("paths must be absolute strings without NUL", () => {
  checkPath("/ok", "open");
  assert.equal(code(() => checkPath("rel", "open")), "INVALID");
  assert.equal(code(() => checkPath("/a\0b", "open")), "INVALID");
  assert.equal(code(() => checkPath(5, "open")), "INVALID");
  try {
    checkPath("rel", "open");
  } catch (e) {
    assert.ok(e instanceof InvalidError);
  }
});
