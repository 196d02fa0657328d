import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// Served by the reporting service's gateway at /app/ (PANTAU_REPORTING_APP_DIR); `npm run dev`
// proxies the gRPC-Web calls to a local `make run` cluster.
export default defineConfig({
  base: "/app/",
  plugins: [preact()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2020", chunkSizeWarningLimit: 900 },
  server: { proxy: { "/app/rpc": "http://127.0.0.1:8080", "/api": "http://127.0.0.1:8080" } },
});
