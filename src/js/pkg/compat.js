// Modal JS's service-level calls that are other names for the SDK's own, or that this package
// refuses by name. Plain JS on the classes' prototypes (no wasm: a refusal or an alias costs
// a few bytes here, a `#[wasm_bindgen]` method a kilobyte). Imported by every entry.
import { Image, ImageService, ModalClient, SandboxService } from "./modal_wasm.js";
import { InvalidError } from "./errors.js";

// Memory snapshots: sandboxd cannot checkpoint a running process.
const refuse = (name) =>
  new InvalidError(
    `${name} is not supported by modal-wasm: it has no memory snapshots (sandbox.snapshotFilesystem() gives an Image to start a sandbox from)`,
  );

/** Modal JS's handle of a memory snapshot. This package makes none: constructing one throws. */
export class SandboxSnapshot {
  constructor() {
    throw refuse("SandboxSnapshot");
  }
}

/** `client.sandboxSnapshots`: `fromId` rejects with an InvalidError naming it. */
export class SandboxSnapshotService {
  async fromId() {
    throw refuse("sandboxSnapshots.fromId");
  }
}

const define = (proto, name, value) =>
  Object.defineProperty(proto, name, { value, writable: true, configurable: true });
const sp = SandboxService.prototype;
// Modal JS's V2 calls: this package's create, fromName and list already send
// SandboxCreateV2, SandboxGetFromNameV2 and SandboxListV2 with the same params.
define(sp, "experimentalCreate", sp.create);
define(sp, "experimentalFromName", sp.fromName);
define(sp, "experimentalList", sp.list);
define(sp, "experimentalFromSnapshot", async function () {
  throw refuse("sandboxes.experimentalFromSnapshot");
});
const snapshots = new SandboxSnapshotService();
Object.defineProperty(ModalClient.prototype, "sandboxSnapshots", {
  get: () => snapshots,
  configurable: true,
});

// Named images, as Modal JS checks a reference `[env/]name[:tag]` (its messages): then
// `ImageGetByTag` / `ImagePublish` in the wasm with `name:tag` and whether it had a prefix.
function checkName(name, what) {
  if (!(name.length <= 64 && /^[\w.-]+$/.test(name)) || /^ap-[a-zA-Z0-9]{22}$/.test(name)) {
    throw new InvalidError(
      `Invalid ${what} name: '${name}'.\n\nNames may contain only alphanumeric characters, dashes, periods, and underscores, must be shorter than 64 characters, and cannot conflict with App ID strings.`,
    );
  }
}
function namedRef(value) {
  if (typeof value !== "string") throw new InvalidError("name must be a string");
  const colon = value.indexOf(":");
  let name = colon < 0 ? value : value.slice(0, colon);
  const tag = colon < 0 ? "latest" : value.slice(colon + 1);
  const slash = name.lastIndexOf("/");
  const prefix = slash < 0 ? "" : name.slice(0, slash);
  if (slash >= 0) {
    name = name.slice(slash + 1);
    if (!prefix) throw new InvalidError("Invalid Image name: '/' prefix must be non-empty.");
    if (!name) throw new InvalidError("Invalid Image name: name after '/' must be non-empty.");
  }
  checkName(name, "Image");
  if (name.startsWith("im-")) throw new InvalidError("Image name cannot start with 'im-' (reserved for image IDs).");
  checkName(tag, "Image tag");
  return [`${prefix ? prefix + "/" : ""}${name}:${tag}`, !!prefix];
}
define(ImageService.prototype, "fromName", async function (name, params) {
  return this.__fromName(...namedRef(name), params);
});
define(Image.prototype, "publish", async function (name, params) {
  return this.__publish(...namedRef(name), params);
});
