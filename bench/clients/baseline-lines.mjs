// The plain-JS gRPC-web baseline (web/baseline.js, written for the page) in Node, driven by
// bench/run.mjs over the line protocol: Node's own fetch, the limit the SDK in Node is
// measured against as the page's SDK is against the same code in Chromium.
import { serve } from "./lines.mjs";

globalThis.window ??= globalThis; // baseline.js hangs its ops on window, as in the page
await import("../web/baseline.js");
await serve(globalThis.baseline);
