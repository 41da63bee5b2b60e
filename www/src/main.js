// The playground page: a CodeMirror editor, an xterm.js terminal and a file panel over
// one sandbox. The sandbox is driven by modal-wasm through a Session (session.js), in a
// dedicated worker or, with `?worker=0`, on this thread (remote.js, worker.js); boot.js
// opened it, and started the sandbox, before this module loaded.

import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { INTERPRETERS, LANGUAGES, languageOf } from "./examples.js";
import { pageConfig, fetchCredentials, SHELL_KEY, savedShell } from "./config.js";

// fetched while this module runs; evaluated after it (see "editor" below)
const editorModule = import("./editor.js");

const WORKDIR = "/workspace";
const config = pageConfig(location);
const params = config.params;
const $ = (id) => document.getElementById(id);
const ui = {
  lang: $("lang"),
  run: $("run"),
  stop: $("stop"),
  status: $("sandbox-status"),
  newSandbox: $("new-sandbox"),
  banner: $("banner"),
  bannerText: $("banner-text"),
  bannerAction: $("banner-action"),
  cwd: $("cwd"),
  list: $("file-list"),
  up: $("files-up"),
  refresh: $("files-refresh"),
  newFile: $("files-new"),
  newFileForm: $("new-file-form"),
  newFileName: $("new-file-name"),
  upload: $("files-upload"),
  fileName: $("file-name"),
  dirty: $("dirty"),
  save: $("save"),
  download: $("download"),
  runStatus: $("run-status"),
  tabOutput: $("tab-output"),
  tabShell: $("tab-shell"),
  outputHint: $("output-hint"),
  shellHint: $("shell-hint"),
  shellStatus: $("shell-status"),
  clear: $("clear"),
  sandboxId: $("sandbox-id"),
  mode: $("mode"),
  files: $("files-mode"),
  endpoint: $("endpoint"),
};

// ---------------------------------------------------------------- state

const state = {
  session: null,
  opening: 0, // files being read for the editor (openFile)
  sandboxId: null,
  ready: false, // a live sandbox
  busy: false, // starting a sandbox
  run: null, // { id, lang, line }
  cwd: WORKDIR,
  path: null, // the file in the editor
  buffers: new Map(), // path -> { state: EditorState, saved: string }
  creds: null, // { tokenId, tokenSecret }, for the terminate beacon on page close
  tab: "output", // or "shell"
  shell: null, // { execId } of the Terminal tab's shell while it runs
  shellStarting: false,
};

// ---------------------------------------------------------------- terminal

const TERM_OPTIONS = {
  cursorBlink: true,
  fontFamily: getComputedStyle(document.documentElement).getPropertyValue("--mono") || "monospace",
  fontSize: 13,
  theme: {
    background: "#0b0d10",
    foreground: "#d7dce4",
    cursor: "#7fee64",
    selectionBackground: "#2d3a50",
    red: "#ff6b6b",
    green: "#7fee64",
    yellow: "#f4c04e",
    blue: "#5aa9ff",
    magenta: "#d38cff",
    cyan: "#5fd7d7",
    brightBlack: "#5d6676",
  },
};
const term = new Terminal({ ...TERM_OPTIONS, convertEol: true, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open($("terminal"));
new ResizeObserver(() => {
  try {
    fit.fit();
  } catch {
    /* not laid out yet */
  }
}).observe($("terminal"));
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";
const RED = "\x1b[31m";
const GREEN = "\x1b[32m";
const info = (text) => term.write(`${DIM}${text}${RESET}\r\n`);
info("modal-wasm playground: write a program above and press Run (Ctrl+Enter).");

// Line-buffered stdin: keys are echoed locally and sent on Enter.
term.onData((data) => {
  const run = state.run;
  if (!run) {
    if (data === "\r") info("(nothing is running: press Run or Ctrl+Enter)");
    return;
  }
  for (const ch of data) {
    if (ch === "\r" || ch === "\n") {
      const line = run.line + "\n";
      run.line = "";
      term.write("\r\n");
      state.session.stdin(run.id, line).catch(() => {});
    } else if (ch === "\x7f" || ch === "\b") {
      if (run.line) {
        run.line = [...run.line].slice(0, -1).join("");
        term.write("\b \b");
      }
    } else if (ch === "\x03") {
      term.write("^C\r\n");
      stopRun();
      return;
    } else if (ch === "\x04") {
      const rest = run.line;
      run.line = "";
      (rest ? state.session.stdin(run.id, rest) : Promise.resolve())
        .then(() => state.session.closeStdin(run.id))
        .catch(() => {});
      info("^D (stdin closed)");
    } else if (ch >= " " || ch === "\t") {
      run.line += ch;
      term.write(`\x1b[1m${ch}${RESET}`);
    }
  }
});

// ---------------------------------------------------------------- the Terminal tab

// A real terminal: every key goes to the shell as typed (the sandbox's pseudo-terminal
// echoes, edits lines, and turns Ctrl-C into SIGINT); the shell's bytes go to xterm.js.
const shellTerm = new Terminal({ ...TERM_OPTIONS, scrollback: 10000 });
const shellFit = new FitAddon();
shellTerm.loadAddon(shellFit);
// put on the page when its tab is first shown: opening a terminal measures and lays out,
// work that would otherwise hold up the page's start (page load to first output)
let shellOpened = false;
function openShellTerm() {
  if (shellOpened) return;
  shellOpened = true;
  shellTerm.open($("shell"));
}
// Ctrl+Shift+C / Ctrl+Shift+V copy and paste (Ctrl+C is the shell's)
shellTerm.attachCustomKeyEventHandler((e) => {
  if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
  if (e.code === "KeyC") {
    if (shellTerm.hasSelection()) navigator.clipboard?.writeText(shellTerm.getSelection()).catch(() => {});
    return false;
  }
  if (e.code === "KeyV") {
    navigator.clipboard?.readText().then((t) => shellTerm.paste(t), () => {});
    return false;
  }
  return true;
});
shellTerm.onData((data) => {
  if (state.shell) state.session.shellInput(data).catch(() => {});
  else if (data === "\r") openShell();
});
// the shell's window follows the pane (and so the browser window)
shellTerm.onResize(({ cols, rows }) => {
  if (state.shell) state.session.shellResize(cols, rows).catch(() => {});
});
new ResizeObserver(() => {
  if (state.tab !== "shell") return;
  try {
    shellFit.fit();
  } catch {
    /* not laid out yet */
  }
}).observe($("shell"));


function setShellStatus(text) {
  ui.shellStatus.textContent = text;
}

function showTab(tab, { open = true } = {}) {
  state.tab = tab;
  const shell = tab === "shell";
  ui.tabOutput.setAttribute("aria-selected", String(!shell));
  ui.tabShell.setAttribute("aria-selected", String(shell));
  $("terminal").hidden = shell;
  $("shell").hidden = !shell;
  ui.outputHint.hidden = shell;
  ui.shellHint.hidden = !shell;
  ui.runStatus.hidden = shell;
  ui.shellStatus.hidden = !shell;
  if (shell) {
    openShellTerm();
    shellFit.fit();
    shellTerm.focus();
    if (open && !state.shell) openShell();
  } else {
    fit.fit();
    term.focus();
  }
}

/** Start the Terminal tab's shell, or (`execId`) attach the one this page had before a reload. */
async function openShell(execId) {
  if (state.shell || state.shellStarting || !state.ready) return;
  state.shellStarting = true;
  setShellStatus(execId ? "reattaching…" : "starting shell…");
  openShellTerm();
  try {
    shellFit.fit();
    const { rows, cols } = shellTerm;
    const res = await state.session.shellOpen({ rows, cols, execId });
    state.shell = { execId: res.execId };
    sessionStorage.setItem(SHELL_KEY, JSON.stringify({ sandboxId: state.sandboxId, execId: res.execId }));
    setShellStatus(execId ? "shell reattached" : "shell");
    ui.tabShell.dataset.shell = "open";
  } catch (e) {
    sessionStorage.removeItem(SHELL_KEY);
    shellTerm.write(`\r\n${DIM}could not start a shell: ${errText(e)}${RESET}\r\n`);
    setShellStatus("no shell");
  } finally {
    state.shellStarting = false;
  }
}

const endedShells = new Set(); // exec ids whose late events are ignored

function shellEnded(text) {
  if (state.shell) endedShells.add(state.shell.execId);
  state.shell = null;
  delete ui.tabShell.dataset.shell;
  sessionStorage.removeItem(SHELL_KEY);
  setShellStatus("no shell");
  if (text) shellTerm.write(`\r\n${DIM}${text}${RESET}\r\n`);
}

ui.tabOutput.addEventListener("click", () => showTab("output"));
ui.tabShell.addEventListener("click", () => showTab("shell"));

// ---------------------------------------------------------------- editor

// CodeMirror comes after the terminal (editor.js, most of the page's code): the sandbox,
// Run and the output do not wait for it. Until it is there a buffer is its text.
let cm = null; // createEditor()'s handle, once loaded
let editor = null; // its EditorView

/** The text of the buffer at `path`: what the editor shows, or its text before it loaded. */
function bufferText(path) {
  const buf = state.buffers.get(path);
  if (!buf) return "";
  if (editor && path === state.path && buf.state) return editor.state.doc.toString();
  return buf.state ? buf.state.doc.toString() : buf.text;
}
const focusEditor = () => editor?.focus();

function saveBufferState() {
  const buf = editor && state.buffers.get(state.path);
  if (buf && buf.state) buf.state = editor.state;
}

/** Into the editor (once it has loaded), made from the buffer's text the first time. */
function showBuffer(buf) {
  if (!cm) return;
  buf.state ||= cm.newState(buf.text, buf.lang);
  cm.show(buf.state);
}

/** Show `path` in the editor, with `text` if it is not open yet. */
function openBuffer(path, text, { lang, reload = false } = {}) {
  saveBufferState();
  lang = lang || languageOf(path) || ui.lang.value;
  let buf = state.buffers.get(path);
  if (!buf || reload) {
    buf = { state: null, text, lang, saved: text };
    state.buffers.set(path, buf);
  }
  state.path = path;
  showBuffer(buf);
  if (languageOf(path)) ui.lang.value = languageOf(path);
  ui.fileName.textContent = displayPath(path);
  ui.fileName.title = path;
  updateDirty();
  highlightSelected();
}

function updateDirty() {
  const buf = state.buffers.get(state.path);
  ui.dirty.hidden = !buf || bufferText(state.path) === buf.saved;
}

const displayPath = (p) => (p.startsWith(WORKDIR + "/") ? p.slice(WORKDIR.length + 1) : p);
const joinPath = (dir, name) => (name.startsWith("/") ? name : `${dir.replace(/\/$/, "")}/${name}`);

for (const [key, { label }] of Object.entries(LANGUAGES)) ui.lang.add(new Option(label, key));
ui.lang.value = LANGUAGES[params.get("lang")] ? params.get("lang") : "python";
const scratch = (lang) => `${WORKDIR}/${LANGUAGES[lang].file}`;
openBuffer(scratch(ui.lang.value), LANGUAGES[ui.lang.value].code, { lang: ui.lang.value });

ui.lang.addEventListener("change", () => {
  const lang = ui.lang.value;
  if (languageOf(state.path) === lang) return;
  const path = scratch(lang);
  openBuffer(path, LANGUAGES[lang].code, { lang });
  focusEditor();
});

// ---------------------------------------------------------------- banner and status

function showBanner(text, { action = "Start a fresh sandbox", onAction = restartSandbox, kind = "error" } = {}) {
  ui.bannerText.textContent = text;
  ui.banner.dataset.kind = kind;
  ui.bannerAction.textContent = action;
  ui.bannerAction.hidden = !onAction;
  ui.bannerAction.onclick = onAction;
  ui.banner.hidden = false;
}
const hideBanner = () => (ui.banner.hidden = true);

function setSandboxStatus(st, text) {
  ui.status.dataset.state = st;
  ui.status.textContent = text;
  updateButtons();
}

function updateButtons() {
  const running = !!state.run;
  ui.run.disabled = !state.ready || running || state.busy;
  ui.stop.disabled = !running;
  ui.save.disabled = !state.ready;
  ui.download.disabled = !state.ready;
  ui.newSandbox.disabled = state.busy;
  for (const b of [ui.up, ui.refresh, ui.newFile]) b.disabled = !state.ready;
}

function setRunStatus(st, text, ok) {
  ui.runStatus.dataset.state = st;
  if (ok === undefined) delete ui.runStatus.dataset.ok;
  else ui.runStatus.dataset.ok = String(ok);
  ui.runStatus.textContent = text;
}

const SIGNALS = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM" };
const fmtMs = (ms) =>
  ms < 1000 ? `${Math.round(ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms / 60_000)} min`;
const errText = (e) => (e && e.message) || String(e);

/** Turn a failure into the right message: server down, sandbox gone, or other. */
function reportFailure(e, what) {
  const msg = errText(e);
  const code = e && e.code;
  if (code === "NETWORK" || /failed to fetch|networkerror|load failed|connection refused|transport/i.test(msg)) {
    markDown(`Cannot reach sandboxd at ${endpoint()}: is the server running? (${what}: ${msg})`, "Reconnect");
  } else if (code === "SANDBOX_TIMEOUT" || code === "NOT_FOUND" || code === "NO_SANDBOX" || /terminated|timed out|not running|finished/i.test(msg)) {
    markDown(`The sandbox has ended (it timed out or was terminated). ${what}: ${msg}`, "Start a fresh sandbox");
  } else if (code === "AUTH") {
    markDown(`sandboxd refused the credential (${msg}).`, "Retry");
  } else if (code === "RESOURCE_EXHAUSTED") {
    markDown(`Limit reached: ${msg}`, "Retry");
  } else if (code === "PERMISSION_DENIED") {
    markDown(`Not allowed: ${msg}`);
  } else {
    info(`${what} failed: ${msg}`);
  }
}

function markDown(text, action) {
  state.ready = false;
  setSandboxStatus("error", action === "Reconnect" ? "server unreachable" : "no sandbox");
  showBanner(text, { action });
}

// ---------------------------------------------------------------- sandbox lifecycle

const endpoint = () => config.endpoint;
const timeoutMs = config.timeoutMs;
/** The page's credential: given in the URL, or from the server that serves the page. */
const credentials = async () => config.credentials || fetchCredentials(endpoint());

function onSessionEvent(ev) {
  const run = state.run;
  switch (ev.type) {
    case "stdout":
      if (run && ev.runId === run.id) term.write(ev.data);
      break;
    case "stderr":
      if (run && ev.runId === run.id) term.write(RED + ev.data + RESET);
      break;
    case "stream-error":
      info(`(${ev.stream} failed: ${ev.error.message})`);
      break;
    case "notice":
      info(ev.message);
      break;
    case "shell-out":
      if (!endedShells.has(ev.execId)) shellTerm.write(ev.data);
      break;
    case "shell-state":
      if (!endedShells.has(ev.execId)) setShellStatus(ev.state === "reconnecting" ? "reconnecting…" : "shell");
      break;
    case "shell-exit":
      if (!endedShells.has(ev.execId)) shellEnded(`[the shell exited${ev.exitCode == null ? "" : ` with ${ev.exitCode}`}: press Enter for a new one]`);
      break;
    case "sandbox-ended":
      if (ev.sandboxId === state.sandboxId) {
        state.ready = false;
        setSandboxStatus("ended", "sandbox ended");
        const lifetime = timeoutMs || 30 * 60 * 1000;
        const timedOut =
          (ev.error && ev.error.code === "SANDBOX_TIMEOUT") || performance.now() - state.sandboxStarted >= lifetime - 1000;
        const text = timedOut
          ? `The sandbox ${ev.sandboxId} timed out after ${fmtMs(lifetime)}; its files are gone.`
          : ev.error
            ? `Lost the sandbox ${ev.sandboxId}: ${ev.error.message}`
            : `The sandbox ${ev.sandboxId} has ended (it was terminated).`;
        showBanner(text);
        info(text);
        if (state.shell) shellEnded(text);
        ui.list.replaceChildren(emptyItem("(no sandbox)"));
      }
      break;
  }
}

async function ensureSession() {
  if (state.session) return state.session;
  // opened by boot.js before this module was even evaluated
  window.playgroundBoot.listen(onSessionEvent);
  state.session = await window.playgroundBoot.session;
  ui.mode.textContent = `SDK on the ${state.session.mode}`;
  return state.session;
}

let bootResult = () => window.playgroundBoot.booted;
/** boot.js's result, once (a retry after a failed boot starts afresh). */
async function takeBoot() {
  const take = bootResult;
  bootResult = () => null;
  return take();
}

/** Connect (if needed) and create the page's sandbox. */
async function startSandbox({ reconnect = false } = {}) {
  if (state.busy) return;
  state.busy = true;
  state.ready = false;
  hideBanner();
  setSandboxStatus(reconnect || !state.sandboxId ? "connecting" : "starting", "starting sandbox…");
  try {
    const session = await ensureSession();
    // the first time, what boot.js started: connected, and the sandbox (unless a shell
    // is to be resumed) created or on its way
    const booted = await takeBoot();
    if (booted) {
      state.creds = booted.creds;
      state.connected = true;
    } else if (reconnect || !state.connected) {
      const creds = await credentials();
      state.creds = creds;
      await session.connect({ endpoint: endpoint(), ...creds });
      state.connected = true;
    }
    const t0 = performance.now();
    // after a reload with a shell open, the same sandbox and shell (pagehide left them)
    const saved = reconnect ? savedShell() : null;
    const resumed = saved && (await session.resume(saved.sandboxId));
    if (saved && !resumed) sessionStorage.removeItem(SHELL_KEY);
    const { sandboxId } = resumed || booted?.started || (await session.start(timeoutMs ? { timeoutMs } : {}));
    state.sandboxId = sandboxId;
    state.sandboxStarted = performance.now();
    state.ready = true;
    ui.sandboxId.textContent = `sandbox ${sandboxId}`;
    setSandboxStatus("ready", `ready · ${fmtMs(performance.now() - t0)}`);
    info(`sandbox ${sandboxId} is ready (working directory ${WORKDIR}).`);
    state.cwd = WORKDIR;
    if (resumed) {
      // the shell's whole output again from its first byte: the screen as it was
      showTab("shell", { open: false });
      await openShell(saved.execId);
    } else if (state.tab === "shell") {
      await openShell();
    }
    await refreshFiles();
  } catch (e) {
    state.connected = false;
    reportFailure(e, "starting the sandbox");
    if (ui.banner.hidden) markDown(`Could not start a sandbox: ${errText(e)}`, "Retry");
  } finally {
    state.busy = false;
    updateButtons();
  }
}

async function restartSandbox() {
  if (state.run) await stopRun();
  if (state.shell) shellEnded("[the sandbox was replaced: a new shell starts with the new one]");
  const gone = state.sandboxId;
  if (state.session && gone && state.ready) state.session.terminate().catch(() => {});
  state.sandboxId = null;
  await startSandbox({ reconnect: !state.connected });
}

/**
 * SandboxTerminateV2 as one gRPC-web POST with `keepalive`, so it is delivered after the
 * page (and a worker running the SDK) is torn down, which a request made through the SDK
 * is not. The message is SandboxTerminateRequest { sandbox_id (1): string }.
 */
function terminateBeacon(sandboxId, creds) {
  const id = new TextEncoder().encode(sandboxId);
  if (id.length > 127) return false; // one-byte length: sandbox ids are short
  const frame = new Uint8Array(5 + 2 + id.length);
  new DataView(frame.buffer).setUint32(1, 2 + id.length);
  frame.set([0x0a, id.length], 5);
  frame.set(id, 7);
  fetch(new URL("/modal.client.ModalClient/SandboxTerminateV2", endpoint()), {
    method: "POST",
    keepalive: true,
    headers: {
      "content-type": "application/grpc-web+proto",
      "x-grpc-web": "1",
      "x-modal-client-type": "8",
      ...(creds.token
        ? { authorization: `Bearer ${creds.token}` }
        : { "x-modal-token-id": creds.tokenId, "x-modal-token-secret": creds.tokenSecret }),
    },
    body: frame,
  }).catch(() => {});
  return true;
}

// Terminate the sandbox when the page goes away; the sandbox's own timeout is the backstop.
// With a shell open the sandbox stays, so that a reload reattaches to the same shell; it ends
// at its timeout if the page does not come back.
window.addEventListener("pagehide", () => {
  if (!state.session || !state.ready || !state.sandboxId) return;
  if (state.shell) return;
  if (!(state.creds && terminateBeacon(state.sandboxId, state.creds))) state.session.terminate().catch(() => {});
});

// ---------------------------------------------------------------- running code

let runSeq = 0;

async function runCode() {
  if (state.run || !state.ready) return;
  const lang = ui.lang.value;
  const path = state.path || scratch(lang);
  const code = bufferText(path);
  const id = `${Date.now().toString(36)}${(runSeq++).toString(36)}`;
  state.run = { id, lang, line: "", t0: performance.now() };
  updateButtons();
  setRunStatus("running", "running…");
  term.write(`\r\n${DIM}$ ${INTERPRETERS[lang].join(" ")} ${displayPath(path)}${RESET}\r\n`);
  term.focus();
  try {
    const res = await state.session.run({ runId: id, lang, path, code });
    const buf = state.buffers.get(path);
    if (buf) buf.saved = code;
    updateDirty();
    const ok = res.exitCode === 0;
    const how = res.stopped ? "stopped" : "exited";
    const sig = SIGNALS[res.exitCode - 128];
    const text = `${res.stopped ? "stopped · " : ""}exit ${res.exitCode}${sig ? ` (${sig})` : ""} · ${fmtMs(res.ms)}`;
    setRunStatus(how, text, ok);
    ui.runStatus.dataset.exitCode = String(res.exitCode);
    if (state.run && state.run.line) term.write("\r\n");
    term.write(`\r\n${ok ? GREEN : RED}● ${text}${RESET}\r\n`);
    refreshFiles().catch(() => {});
  } catch (e) {
    setRunStatus("error", "failed");
    delete ui.runStatus.dataset.exitCode;
    reportFailure(e, "running the program");
  } finally {
    state.run = null;
    updateButtons();
  }
}

async function stopRun() {
  const run = state.run;
  if (!run || run.stopping) return;
  run.stopping = true;
  setRunStatus("running", "stopping…");
  try {
    const res = await state.session.stop(run.id);
    if (res && res.how === "restart") {
      state.sandboxId = res.sandboxId;
      state.sandboxStarted = performance.now();
      ui.sandboxId.textContent = `sandbox ${res.sandboxId}`;
      info(`started a fresh sandbox ${res.sandboxId}`);
    }
  } catch (e) {
    reportFailure(e, "stopping the program");
  }
}

ui.run.addEventListener("click", () => runCode());
ui.stop.addEventListener("click", () => stopRun());
ui.clear.addEventListener("click", () => (state.tab === "shell" ? shellTerm : term).clear());
ui.newSandbox.addEventListener("click", () => restartSandbox());

document.addEventListener("keydown", (e) => {
  const mod = e.ctrlKey || e.metaKey;
  if (mod && e.key === "Enter") {
    e.preventDefault();
    runCode();
  } else if (mod && e.key.toLowerCase() === "s") {
    e.preventDefault();
    saveFile();
  } else if (e.ctrlKey && e.key === "`") {
    e.preventDefault();
    if (editor?.hasFocus) term.focus();
    else focusEditor();
  }
});

// ---------------------------------------------------------------- files

async function refreshFiles() {
  if (!state.ready) return;
  ui.cwd.textContent = state.cwd;
  ui.cwd.title = state.cwd;
  let entries;
  try {
    entries = await state.session.ls(state.cwd);
    const how = await state.session.filesMode();
    ui.files.textContent = how === "filesystem" ? "files: sandbox.filesystem" : how ? `files: ${how}` : "";
    ui.files.dataset.mode = how || "";
  } catch (e) {
    ui.list.replaceChildren(emptyItem(errText(e)));
    return;
  }
  const items = entries.map((ent) => {
    const li = document.createElement("li");
    const path = joinPath(state.cwd, ent.name);
    li.dataset.type = ent.type;
    li.dataset.path = path;
    li.dataset.name = ent.name;
    li.tabIndex = -1;
    li.setAttribute("role", "option");
    li.title = `${path}${ent.type === "file" ? ` · ${ent.size} bytes` : ""}`;
    const icon = ent.type === "dir" ? "▸" : ent.type === "link" ? "↪" : "·";
    li.innerHTML = `<span class="icon"></span><span class="fname"></span><span class="size"></span>`;
    li.querySelector(".icon").textContent = icon;
    li.querySelector(".fname").textContent = ent.name + (ent.type === "dir" ? "/" : "");
    if (ent.type === "file") {
      li.querySelector(".size").textContent = fmtSize(ent.size);
      const dl = document.createElement("button");
      dl.className = "dl";
      dl.textContent = "⤓";
      dl.title = `Download ${ent.name}`;
      dl.setAttribute("aria-label", `Download ${ent.name}`);
      dl.tabIndex = -1;
      dl.addEventListener("click", (e) => {
        e.stopPropagation();
        downloadFile(path);
      });
      li.append(dl);
    }
    li.addEventListener("click", () => activate(li));
    return li;
  });
  if (!items.length) items.push(emptyItem("(empty: Run creates a file, or upload one)"));
  ui.list.replaceChildren(...items);
  highlightSelected();
}

const emptyItem = (text) => Object.assign(document.createElement("li"), { className: "empty", textContent: text });
const fmtSize = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`);

function highlightSelected() {
  for (const li of ui.list.querySelectorAll("li[data-path]")) li.setAttribute("aria-selected", String(li.dataset.path === state.path));
}

async function activate(li) {
  const { type, path } = li.dataset;
  if (type === "dir") {
    state.cwd = path;
    await refreshFiles();
    ui.list.focus();
  } else {
    await openFile(path);
  }
}

async function openFile(path) {
  // its text replaces the editor's when it arrives (the Playwright test waits for that)
  state.opening++;
  try {
    const bytes = await state.session.readFile(path);
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      info(`${displayPath(path)} is not UTF-8 text (${bytes.length} bytes): use Download instead.`);
      return;
    }
    const buf = state.buffers.get(path);
    const dirty = buf && path === state.path && bufferText(path) !== buf.saved;
    if (dirty && !confirm(`Discard your unsaved changes to ${displayPath(path)}?`)) return;
    openBuffer(path, text, { reload: true });
    focusEditor();
  } catch (e) {
    reportFailure(e, `opening ${displayPath(path)}`);
  } finally {
    state.opening--;
  }
}

async function saveFile() {
  if (!state.ready || !state.path) return;
  const path = state.path;
  const text = bufferText(path);
  try {
    await state.session.writeFile(path, new TextEncoder().encode(text));
    state.buffers.get(path).saved = text;
    updateDirty();
    info(`saved ${displayPath(path)} (${new TextEncoder().encode(text).length} bytes)`);
    await refreshFiles();
  } catch (e) {
    reportFailure(e, `saving ${displayPath(path)}`);
  }
}

async function downloadFile(path) {
  try {
    const bytes = await state.session.readFile(path);
    const url = URL.createObjectURL(new Blob([bytes]));
    const a = Object.assign(document.createElement("a"), { href: url, download: path.split("/").pop() });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    reportFailure(e, `downloading ${displayPath(path)}`);
  }
}

async function uploadFiles(files) {
  if (!state.ready) return;
  for (const file of files) {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      await state.session.writeFile(joinPath(state.cwd, file.name), bytes);
      info(`uploaded ${file.name} (${bytes.length} bytes) to ${state.cwd}`);
    } catch (e) {
      reportFailure(e, `uploading ${file.name}`);
    }
  }
  await refreshFiles();
}

ui.refresh.addEventListener("click", () => refreshFiles());
ui.up.addEventListener("click", () => {
  state.cwd = state.cwd.replace(/\/[^/]+\/?$/, "") || "/";
  refreshFiles();
});
ui.save.addEventListener("click", () => saveFile());
ui.download.addEventListener("click", () => state.path && downloadFile(state.path));
ui.upload.addEventListener("change", () => {
  uploadFiles([...ui.upload.files]).finally(() => (ui.upload.value = ""));
});
ui.newFile.addEventListener("click", () => {
  ui.newFileForm.hidden = false;
  ui.newFileName.value = "";
  ui.newFileName.focus();
});
ui.newFileName.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    ui.newFileForm.hidden = true;
    focusEditor();
  }
});
ui.newFileForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = ui.newFileName.value.trim();
  ui.newFileForm.hidden = true;
  if (!name) return;
  const path = joinPath(state.cwd, name);
  try {
    await state.session.writeFile(path, new Uint8Array());
    openBuffer(path, "", { reload: true });
    await refreshFiles();
    focusEditor();
  } catch (err) {
    reportFailure(err, `creating ${name}`);
  }
});

// keyboard navigation in the file list: arrows move, Enter opens, Backspace goes up
ui.list.addEventListener("keydown", (e) => {
  const items = [...ui.list.querySelectorAll("li[data-path]")];
  if (!items.length) return;
  const at = items.indexOf(document.activeElement);
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const next = items[Math.max(0, Math.min(items.length - 1, at + (e.key === "ArrowDown" ? 1 : -1)))];
    next.focus();
  } else if (e.key === "Enter" && at >= 0) {
    e.preventDefault();
    activate(items[at]);
  } else if (e.key === "Backspace") {
    e.preventDefault();
    ui.up.click();
  }
});
ui.list.addEventListener("focus", (e) => {
  if (e.target === ui.list) {
    const first = ui.list.querySelector("li[aria-selected='true']") || ui.list.querySelector("li[data-path]");
    if (first) first.focus();
  }
});

// drag and drop upload
const filesPanel = document.querySelector(".files");
filesPanel.addEventListener("dragover", (e) => {
  e.preventDefault();
  filesPanel.classList.add("dragging");
});
filesPanel.addEventListener("dragleave", () => filesPanel.classList.remove("dragging"));
filesPanel.addEventListener("drop", (e) => {
  e.preventDefault();
  filesPanel.classList.remove("dragging");
  if (e.dataTransfer && e.dataTransfer.files.length) uploadFiles([...e.dataTransfer.files]);
});

// ---------------------------------------------------------------- go

ui.endpoint.textContent = endpoint();
updateButtons();
startSandbox({ reconnect: true });

editorModule.then(
  ({ createEditor }) => {
    cm = createEditor({ parent: $("editor"), onChange: updateDirty, onRun: runCode, onSave: saveFile });
    editor = cm.view;
    const buf = state.buffers.get(state.path);
    if (buf) showBuffer(buf);
    // the editor takes the focus unless the visitor has put it somewhere already
    if (!document.activeElement || document.activeElement === document.body) editor.focus();
  },
  (e) => info(`the editor did not load (${errText(e)}): reload the page`),
);

// a handle for debugging from the console (and for tests that want to look inside)
window.playground = {
  state,
  get editor() {
    return editor;
  },
  term,
  shellTerm,
  showTab,
  runCode,
  stopRun,
  saveFile,
  openFile,
  refreshFiles,
  restartSandbox,
};
