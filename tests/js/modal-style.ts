// `tsc --strict`: code written in the shapes of Modal's JS client (modal@0.11.1) — its
// calls, its option objects with every create and exec key this package sends — compiles
// against this package's types unchanged.
import { ModalClient, Probe, InvalidError, NotFoundError, Tunnel, ExecutionError, InternalFailure, SnapshotCreationError, FunctionTimeoutError, QueueEmptyError, QueueFullError } from "modal-wasm";
import type { LogEntry, SandboxLogFetchParams, SandboxLogTailParams, LogSource, ContainerProcess, SandboxCreateParams, SandboxExecParams, SandboxListParams, SandboxFromNameParams, Sandbox, SecretDeleteParams, VolumeDeleteParams, ImageDeleteParams, ImageDockerfileCommandsParams, Image, SandboxExperimentalFromNameParams, SandboxExperimentalListParams, ImageFromNameParams, ImagePublishParams } from "modal-wasm";
import { SandboxSnapshot } from "modal-wasm";

export async function modalStyle(): Promise<void> {
  // configured by MODAL_SERVER_URL, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET in Node and Deno
  const modal = new ModalClient();
  new ModalClient({ tokenId: "ak-1", tokenSecret: "as-1", environment: "main", endpoint: "http://127.0.0.1:8080", timeoutMs: 10_000, maxRetries: 3 });
  const app = await modal.apps.fromName("libmodal-example", { createIfMissing: true });
  const image = modal.images.fromRegistry("python:3.13-slim");
  const secret = await modal.secrets.fromName("libmodal-secret", { environment: "main", requiredKeys: ["A"] });
  const inline = await modal.secrets.fromObject({ B: "2" }, { environment: "main" });
  const volume = await modal.volumes.fromName("libmodal-volume", { createIfMissing: true, version: 2 });
  const params: SandboxCreateParams = {
    cpu: 1, cpuLimit: 2, memoryMiB: 512, memoryLimitMiB: 1024, runtime: "gvisor", gpu: "T4",
    timeoutMs: 600_000, idleTimeoutMs: 60_000, workdir: "/repo", command: ["sleep", "infinity"],
    env: { A: "1" }, secrets: [secret, inline], volumes: { "/data": volume }, pty: false,
    encryptedPorts: [8080], h2Ports: [8443], unencryptedPorts: [8081], blockNetwork: false,
    outboundCidrAllowlist: ["10.0.0.0/8"], outboundDomainAllowlist: ["*.example.com"],
    inboundCidrAllowlist: ["0.0.0.0/0"], i6pn: false, cloud: "aws", regions: ["us-east-1"],
    verbose: true, readinessProbe: Probe.withTcp(8080, { intervalMs: 100 }), name: "my-sandbox",
    tags: { team: "a" }, experimentalOptions: { flag: true, mode: "fast" },
    customDomain: "sb.example.com", includeOidcIdentityToken: true, experimentalEnableSnapshot: false,
  };
  const sb: Sandbox = await modal.sandboxes.create(app, image, params);
  const execParams: SandboxExecParams = {
    mode: "text", stdout: "pipe", stderr: "ignore", workdir: "/", timeoutMs: 5000,
    env: { C: "3" }, secrets: [secret], pty: false,
  };
  const p = await sb.exec(["python", "-c", "print('hello')"], execParams);
  const out: string = await p.stdout.readText();
  const code: number = await p.wait();
  void out; void code;
  const tunnels: Record<number, Tunnel> = await sb.tunnels(5000);
  const tunnel = tunnels[8080];
  if (tunnel instanceof Tunnel) {
    const url: string = tunnel.url;
    const [host, port]: [string, number] = tunnel.tlsSocket;
    const [tcpHost, tcpPort]: [string, number] = tunnel.tcpSocket;
    void url; void host; void port; void tcpHost; void tcpPort;
  }
  // exec's process typed by `mode`, as Modal JS's overloads type it
  const text: ContainerProcess<string> = await sb.exec(["echo", "hi"]);
  const textAgain: ContainerProcess<string> = await sb.exec(["echo", "hi"], { mode: "text", timeoutMs: 1000 });
  const chunk: string | undefined = (await text.stdout.getReader().read()).value;
  await textAgain.stdin.getWriter().write("input");
  const bin: ContainerProcess<Uint8Array> = await sb.exec(["cat"], { mode: "binary" });
  const bytes: Uint8Array | undefined = (await bin.stdout.getReader().read()).value;
  await bin.stdin.getWriter().write(new Uint8Array([1]));
  // @ts-expect-error a binary process's chunks are bytes, not strings
  const wrong: ContainerProcess<string> = bin;
  void chunk; void bytes; void wrong;
  const cat = await sb.exec(["cat"]);
  await cat.closeStdin();
  await sb.waitUntilReady(10_000);
  // sandbox.logs, as Modal JS's SandboxLogsManager
  const fetchParams: SandboxLogFetchParams = { since: new Date(Date.now() - 60 * 60 * 1_000), until: new Date(), source: "stdout", searchText: "err" };
  for await (const entry of sb.logs.fetch(fetchParams)) console.log(entry.message);
  const tailParams: SandboxLogTailParams = { entries: 20, source: "stderr" };
  for await (const entry of sb.logs.tail(tailParams)) {
    const e: LogEntry = entry;
    const source: LogSource = e.source;
    const when: Date = e.timestamp;
    const ids: string[] = [e.objectId, ...e.contextIds];
    void source; void when; void ids;
  }
  for await (const entry of sb.logs.tail()) void entry;
  // @ts-expect-error fetch needs its params (since)
  sb.logs.fetch();
  // the filesystem: one object, Modal JS's methods; copies to and from local paths
  const fs = sb.filesystem;
  await fs.copyFromLocal("./local.bin", "/tmp/remote.bin");
  await fs.copyToLocal("/tmp/remote.bin", "./back.bin");
  await fs.copyFromLocal(new Blob(["x"]), "/tmp/blob");
  const blob: Blob = await fs.copyToLocal("/tmp/blob");
  await fs.copyToLocal("/tmp/blob", new WritableStream<Uint8Array>());
  const files = await fs.listFiles("/tmp");
  await fs.makeDirectory("/tmp/d", { createParents: true });
  const raw: Uint8Array = await fs.readBytes("/tmp/blob");
  const txt: string = await fs.readText("/tmp/blob");
  await fs.remove("/tmp/d", { recursive: true });
  const info = await fs.stat("/tmp/blob");
  for await (const ev of fs.watch("/tmp", { filter: ["Create"], recursive: true, timeoutMs: 1000 })) void ev.paths;
  await fs.writeBytes(new Uint8Array([1]), "/tmp/b");
  await fs.writeText("hi", "/tmp/t");
  void blob; void files; void raw; void txt; void info;
  // Modal JS methods this package refuses by name: still callable, typed to reject
  await sb.experimentalSetName("n").catch((e: unknown) => { if (!(e instanceof InvalidError)) throw e; });
  sb.detach();
  const afterDetach: number = await sb.wait();
  void afterDetach;
  const list: SandboxListParams = { appId: app.appId, tags: { team: "a" }, environment: "main" };
  for await (const s of modal.sandboxes.list(list)) void s.sandboxId;
  const fromName: SandboxFromNameParams = { environment: "main", includeTerminated: true };
  const same: Sandbox = await modal.sandboxes.fromName("libmodal-example", "my-sandbox", fromName);
  const exit: number = await same.wait();
  void exit;
  const none0: void = await sb.terminate();
  const exitCode: number = await sb.terminate({ wait: true });
  void none0; void exitCode;
  try {
    await modal.sandboxes.fromId("sb-missing");
  } catch (e) {
    if (e instanceof NotFoundError || e instanceof InvalidError) console.log(e.message);
    if (e instanceof ExecutionError || e instanceof InternalFailure || e instanceof SnapshotCreationError) throw e;
    if (e instanceof FunctionTimeoutError || e instanceof QueueEmptyError || e instanceof QueueFullError) throw new Error(e.message);
  }
  const envName: string | undefined = app.environmentName;
  void envName;
  const del: SecretDeleteParams & VolumeDeleteParams = { environment: "main", allowMissing: true };
  await modal.secrets.delete("libmodal-secret", del);
  await modal.volumes.delete("libmodal-volume", { allowMissing: true });
  const eph = await modal.volumes.ephemeral({ environment: "main" });
  const mounted = eph.withMountOptions({ readOnly: true, subPath: "/data" }).withMountOptions({ readOnly: false });
  await modal.sandboxes.create(app, image, { volumes: { "/mnt": mounted } });
  eph.closeEphemeral();
  // images: layers of Dockerfile commands, built now or on first use; private registries
  const layer: ImageDockerfileCommandsParams = { env: { D: "4" }, secrets: [secret], gpu: "T4", forceBuild: true };
  const layered: Image = image.dockerfileCommands(["RUN pip install numpy"], layer).dockerfileCommands(["ENV X=1"]);
  const built: Image = await layered.build(app);
  const builtId: string = built.imageId;
  await sb.mountImage("/mnt/layered", layered);
  const ecr: Image = modal.images.fromAwsEcr("123.dkr.ecr.us-east-1.amazonaws.com/app:1", secret);
  const gcp: Image = modal.images.fromGcpArtifactRegistry("us-docker.pkg.dev/p/r/app:1", secret);
  const priv: Image = modal.images.fromRegistry("registry.example.com/app:1", secret);
  void builtId; void ecr; void gcp; void priv;
  // @ts-expect-error fromAwsEcr needs the credentials secret
  modal.images.fromAwsEcr("123.dkr.ecr.us-east-1.amazonaws.com/app:1");
  const none: ImageDeleteParams = {};
  await modal.images.delete("im-1", none);
  await modal.images.delete("im-1");
  // named images
  const pubParams: ImagePublishParams = { environment: "main" };
  const published: void = await built.publish("my-image:v1", pubParams);
  const nameParams: ImageFromNameParams = { environment: "main" };
  const byName: Image = await modal.images.fromName("my-image:v1", nameParams);
  const byPrefix: Image = await modal.images.fromName("main/my-image");
  void published; void byName; void byPrefix;
  // Modal JS's V2 calls: the same as create, fromName and list here
  const v2: Sandbox = await modal.sandboxes.experimentalCreate(app, image, { name: "v2", experimentalEnableSnapshot: false });
  const v2Params: SandboxExperimentalFromNameParams = { environment: "main", includeTerminated: false };
  const v2Back: Sandbox = await modal.sandboxes.experimentalFromName("libmodal-example", "v2", v2Params);
  const v2List: SandboxExperimentalListParams = { appId: app.appId, tags: { team: "a" } };
  for await (const s of modal.sandboxes.experimentalList(v2List)) void s.sandboxId;
  void v2; void v2Back;
  // memory snapshots: refused (each rejects with an InvalidError naming the call)
  const snap: SandboxSnapshot = await modal.sandboxSnapshots.fromId("sn-1");
  const restored: never = await modal.sandboxes.experimentalFromSnapshot(snap, { name: null });
  void restored;
  // what this package refuses is a type error too
  // @ts-expect-error cloud bucket mounts do not exist here
  await modal.sandboxes.create(app, image, { cloudBucketMounts: {} });
  // @ts-expect-error Modal's renamed option
  await modal.sandboxes.create(app, image, { timeout: 600 });
}
