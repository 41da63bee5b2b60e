import { defineConfig } from "vite";

// The page is served by sandboxd at its root; everything (editor, terminal, the SDK and
// its wasm) is bundled from npm into dist/, nothing is loaded from a CDN.
// modal-wasm's package.json says `sideEffects: false`, but its browser entry instantiates
// the wasm at the top level (`await init(...)`); Rollup trusts the flag and drops that
// statement, leaving an uninitialised module. Mark the package's modules as having side
// effects until the package itself lists its entries in `sideEffects`.
const keepSdkInit = {
  name: "modal-wasm-keep-init",
  enforce: "pre",
  async resolveId(source, importer, options) {
    if (source !== "modal-wasm") return null;
    const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
    return resolved && { ...resolved, moduleSideEffects: true };
  },
};

export default defineConfig({
  base: "./",
  plugins: [keepSdkInit],
  build: {
    // the SDK's browser entry instantiates its wasm with top-level await
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  worker: { format: "es", plugins: () => [keepSdkInit] },
  // the SDK is an ES module that finds its wasm through import.meta.url: keep it out of
  // esbuild's dependency pre-bundling so that URL still points at the real file
  optimizeDeps: { exclude: ["modal-wasm"] },
  // no PostCSS (the page's CSS is plain): given here, or Vite looks for a PostCSS config in
  // every directory above, outside the repository
  css: { postcss: {} },
  server: {
    fs: { allow: [".", "../pkg"] },
    // `npm run dev` against a sandboxd on :8787 (SANDBOXD_URL overrides)
    proxy: Object.fromEntries(
      ["/__sandboxd", "/modal.client.ModalClient", "/modal.task_command_router.TaskCommandRouter"].map((p) => [
        p,
        { target: process.env.SANDBOXD_URL || "http://127.0.0.1:8787", changeOrigin: false },
      ]),
    ),
  },
});
