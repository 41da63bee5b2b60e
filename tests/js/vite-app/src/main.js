// The README's Vite example: the package by its bare name, bundled by Vite.
import { ModalClient } from "modal-wasm";

const out = document.getElementById("out");
const cfg = await (await fetch("/__sandboxd/config.json")).json();
const modal = new ModalClient({ endpoint: location.origin, ...cfg });
const app = await modal.apps.fromName("vite-example", { createIfMissing: true });
const sb = await modal.sandboxes.create(app, modal.images.fromRegistry("debian:bookworm-slim"));
const p = await sb.exec(["echo", "hello from a Vite page"]);
out.textContent = await p.stdout.readText();
await sb.terminate();
