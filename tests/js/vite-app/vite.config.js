import { defineConfig } from "vite";

// top-level await in the package's browser entry needs an esnext target; relative asset
// paths let the tests serve the build under a sub-path. The PostCSS options (none) and
// `server.fs.allow` (this app and the package) are given: without them Vite looks for a
// PostCSS config and a workspace root in every directory above, outside the repository.
export default defineConfig({
  base: "./",
  build: { target: "esnext" },
  optimizeDeps: { esbuildOptions: { target: "esnext" } },
  css: { postcss: {} },
  server: { fs: { allow: [".", "../../../pkg"] } },
});
