// Generates src/gen/ (TypeScript) from protos/vigil/v1 with buf + protoc-gen-es, both from
// node_modules (no network). Run by `npm run build`; src/gen is not committed.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
execFileSync(join(bin, "buf"), ["generate", "--template", "buf.gen.yaml"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, BUF_CACHE_DIR: join(root, "node_modules", ".cache", "buf") },
});
