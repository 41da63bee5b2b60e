// `tsc --strict --noEmit`: the package's public types, used the way an application would.
import {
  ModalClient, Probe, NotFoundError, AlreadyExistsError, InvalidError, ConflictError, AuthError,
  TimeoutError, SandboxTimeoutError, ClientClosedError, ModalError,
} from "modal-wasm";
import type { Sandbox, ContainerProcess, App, Image, SandboxCreateParams } from "modal-wasm";

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
  await sb.setTags({ team: "b" });
  const tags: Record<string, string> = await sb.getTags();
  for await (const s of client.sandboxes.list({ tags })) {
    const id: string = s.sandboxId;
    void id;
  }
  const same: Sandbox = await client.sandboxes.fromId(sb.sandboxId);
  const rc: number | null | undefined = await same.poll();
  await sb.terminate();
  console.log(text, code, rc);
  for (const E of [NotFoundError, AlreadyExistsError, InvalidError, ConflictError, AuthError, TimeoutError, SandboxTimeoutError, ClientClosedError]) {
    const e: ModalError = new E("x");
    const c: string = e.code;
    void c;
  }
}
void main(new AbortController().signal);
