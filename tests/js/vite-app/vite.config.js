import { defineConfig } from "vite";

// top-level await in the package's browser entry needs an esnext target; relative asset
// paths let the tests serve the build under a sub-path
export default defineConfig({ base: "./", build: { target: "esnext" }, optimizeDeps: { esbuildOptions: { target: "esnext" } } });
