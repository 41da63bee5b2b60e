// `tsc --strict --noEmit`: the package's public types, used the way an application would.
import {
  ModalClient, Probe, NotFoundError, AlreadyExistsError, InvalidError, ConflictError, AuthError,
  TimeoutError, SandboxTimeoutError, ClientClosedError, ModalError,
} from "modal-wasm";
import type { Sandbox, ContainerProcess, App, Image, SandboxCreateParams, PtyOptions, FileInfo, FileWatchEvent, Tunnel } from "modal-wasm";
import { SandboxFilesystemError } from "modal-wasm";

async function main(signal: AbortSignal): Promise<void> {
  const client = new ModalClient({ endpoint: "http://127.0.0.1:8787", tokenId: "ak-1", tokenSecret: "as-1" });
  const app: App = await client.apps.fromName("demo", { createIfMissing: true });
  const image: Image = client.images.fromRegistry("debian:bookworm-slim");
  const params: SandboxCreateParams = {
    command: ["sleep", "60"], timeoutMs: 60_000, workdir: "/root", env: { A: "1" }, tags: { team: "a" },
    readinessProbe: Probe.withTcp(8080), blockNetwork: false, name: "demo-sb",
  };
  const sb: Sandbox = await client.sandboxes.create(app, image, params);
  const p: ContainerProcess = await sb.exec(["cat"], { signal });
  await p.stdin.writeText("hello");
  await p.stdin.close();
  const text: string = await p.stdout.readText();
  const code: number = await p.wait();
  const reader = p.stderr.getReader();
  reader.releaseLock();
  // a terminal: bytes out, a resize, and the same shell again from an offset
  const pty: PtyOptions = { rows: 24, cols: 80, term: "xterm-256color" };
  const shell: ContainerProcess = await sb.exec(["bash", "-l"], { pty });
  await shell.resize(120, 40);
  const again: ContainerProcess = await sb.attach(shell.execId, { pty: true, stdoutOffset: 1024 });
  void again;
  // @ts-expect-error a misspelt terminal option is a type error too
  await sb.exec(["sh"], { pty: { colums: 80 } });
  await client.sandboxes.create(app, image, { pty: true });
  await sb.setTags({ team: "b" });
  const tags: Record<string, string> = await sb.getTags();
  for await (const s of client.sandboxes.list({ tags })) {
    const id: string = s.sandboxId;
    void id;
  }
  const same: Sandbox = await client.sandboxes.fromId(sb.sandboxId);
  const rc: number | null | undefined = await same.poll();
  // files (sandbox.filesystem, and the Python-style shorthands)
  await sb.filesystem.writeText("hello", "/tmp/a.txt");
  await sb.filesystem.writeBytes(new Blob(["blob"]), "/tmp/b.bin", { onProgress: (p) => void p.loaded });
  const back: string = await sb.filesystem.readText("/tmp/a.txt");
  const bytes: Uint8Array = await sb.filesystem.readBytes("/tmp/b.bin");
  const entries: FileInfo[] = await sb.filesystem.listFiles("/tmp");
  const info: FileInfo = await sb.filesystem.stat("/tmp/a.txt");
  await sb.filesystem.makeDirectory("/tmp/d/e");
  await sb.filesystem.remove("/tmp/d", { recursive: true });
  const names: string[] = await sb.ls("/tmp");
  await sb.mkdir("/tmp/x", { parents: true });
  await sb.rm("/tmp/x");
  const f = await sb.open("/tmp/a.txt", "r+");
  const chunk: string | Uint8Array = await f.read();
  f.seek(0);
  await f.write("x");
  await f.close();
  for await (const ev of sb.watch("/tmp", { timeoutMs: 10 })) {
    const e: FileWatchEvent = ev;
    void e;
  }
  // images, mounts, volumes, networking
  const snap: Image = await sb.snapshotFilesystem();
  const dir: Image = await sb.snapshotDirectory("/tmp", { ttlMs: 60_000 });
  await sb.mountImage("/mnt/snap", dir);
  await sb.unmountImage("/mnt/snap");
  await sb.reloadVolumes();
  const tunnels: Record<number, Tunnel> = await sb.tunnels();
  const creds = await sb.createConnectToken({ userMetadata: "who" });
  const connectUrl: string = creds.url;
  await sb.waitUntilReady(1000);
  try {
    await sb.filesystem.readText("/nope");
  } catch (e) {
    if (e instanceof SandboxFilesystemError) console.log(e.code);
  }
  await sb.terminate();
  console.log(text, code, rc, back, bytes, entries, info, names, chunk, snap, tunnels, connectUrl);
  for (const E of [NotFoundError, AlreadyExistsError, InvalidError, ConflictError, AuthError, TimeoutError, SandboxTimeoutError, ClientClosedError]) {
    const e: ModalError = new E("x");
    const c: string = e.code;
    void c;
  }
}
void main(new AbortController().signal);
