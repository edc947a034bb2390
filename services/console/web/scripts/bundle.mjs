// Bundles src/main.ts (and its CSS) into dist/: index.html, assets/app.js, assets/app.css.
// Everything the page loads comes from dist (no CDN): the console's CSP allows only 'self'.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });
await build({
  entryPoints: { app: join(root, "src", "main.ts") },
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outdir: join(dist, "assets"),
  logLevel: "warning",
});
copyFileSync(join(root, "src", "index.html"), join(dist, "index.html"));
console.log(`console bundle written to ${dist}`);
