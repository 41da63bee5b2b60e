// The wasm SDK in Node or Deno, driven by bench/run.mjs over the line protocol: the
// package's own entry for the runtime (Node: node.js, Deno: index.js, as its package.json
// exports map them) from BENCH_PKG, and the ops every runtime shares (web/sdk-bench.mjs).
import process from "node:process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { serve } from "./lines.mjs";
import { sdkBench } from "../web/sdk-bench.mjs";

const entry = globalThis.Deno ? "index.js" : "node.js";
const pkg = process.env.BENCH_PKG;
if (!pkg) throw new Error("BENCH_PKG (the npm package dir) is not set");
await serve(sdkBench(() => import(pathToFileURL(join(pkg, entry)).href)));
