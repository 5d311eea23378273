// Builds the `unicase` SQLite loadable extension (native/unicase.c) against the
// sqlite3ext.h shipped with better-sqlite3, so the extension matches the SQLite
// that actually loads it. Runs on `npm ci` (via `prepare`) and in the Nix build.
import { execFileSync } from "node:child_process";
import { mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const sqliteDir = join(dirname(require.resolve("better-sqlite3/package.json")), "deps", "sqlite3");
const source = join(root, "native", "unicase.c");
const outDir = join(root, "build");
const out = join(outDir, "unicase.so");

if (!existsSync(join(sqliteDir, "sqlite3ext.h"))) {
  console.error(`build-native: sqlite3ext.h not found in ${sqliteDir}`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
const cc = process.env.CC || "cc";
execFileSync(cc, ["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-I", sqliteDir, "-o", out, source], {
  stdio: "inherit",
});
console.error(`build-native: built ${out}`);
