import { defineConfig } from "vite";

// top-level await in the package's browser entry needs an esnext target
export default defineConfig({ build: { target: "esnext" }, optimizeDeps: { esbuildOptions: { target: "esnext" } } });
