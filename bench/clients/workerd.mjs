// Starts workerd (from bench/node_modules) serving clients/workerd-worker.mjs on a free
// local port, bundled with esbuild against the package in BENCH_PKG (its workerd entry).
// Returns { url, stop }.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, copyFileSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const freePort = () => new Promise((ok, fail) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  s.on("error", fail);
});

export async function startWorkerd({ here, pkg }) {
  const dir = mkdtempSync(join(tmpdir(), "bench-workerd-"));
  const bin = (name) => join(here, "node_modules", ".bin", name);
  execFileSync(bin("esbuild"), [join(here, "clients", "workerd-worker.mjs"), "--bundle", "--format=esm", "--platform=neutral",
    `--alias:modal-wasm=${join(pkg, "workerd.js")}`, "--external:*.wasm", "--log-level=warning", `--outfile=${join(dir, "worker.js")}`],
    { stdio: ["ignore", "inherit", "inherit"] });
  copyFileSync(join(pkg, "modal_wasm_bg.wasm"), join(dir, "modal_wasm_bg.wasm"));
  // the bundle imports the wasm by the path esbuild kept: name the module the same
  const wasmImport = readFileSync(join(dir, "worker.js"), "utf8").match(/from\s+"([^"]*modal_wasm_bg\.wasm)"/)?.[1] ?? "modal_wasm_bg.wasm";
  const port = await freePort();
  writeFileSync(join(dir, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = ${JSON.stringify(wasmImport.replace(/^\.\//, ""))}, wasm = embed "modal_wasm_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
  globalOutbound = "internet",
);
`);
  const proc = spawn(bin("workerd"), ["serve", join(dir, "config.capnp")], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => { log = (log + d).slice(-4000); });
  proc.stderr.on("data", (d) => { log = (log + d).slice(-4000); });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 150; i++) {
    if (proc.exitCode !== null) break;
    try { await fetch(url, { method: "POST", body: '{"op":"ping"}' }); return { url, dir, stop: () => { proc.kill(); rmSync(dir, { recursive: true, force: true }); }, log: () => log }; } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  proc.kill();
  throw new Error(`workerd did not start: ${log}`);
}
