// Vite builds the workbench into the Python package, so pip users need no Node.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const OUT = "../src/pellucid/serve/static";
const here = dirname(fileURLToPath(import.meta.url));

/** The API docs' Swagger UI files (npm swagger-ui-dist) go into the package beside the workbench,
 * so /api/docs works offline: nothing is loaded from a CDN at run time. */
function swaggerUi(): Plugin {
  const files = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"];
  return {
    name: "pellucid-swagger-ui",
    apply: "build",
    closeBundle() {
      const from = resolve(here, "node_modules/swagger-ui-dist");
      const to = resolve(here, OUT, "docs-ui");
      mkdirSync(to, { recursive: true });
      for (const f of files) copyFileSync(resolve(from, f), resolve(to, f));
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [swaggerUi()],
  build: {
    outDir: OUT,
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8000", "/v1": "http://127.0.0.1:8000" },
  },
});
