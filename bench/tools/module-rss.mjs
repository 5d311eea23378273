#!/usr/bin/env node
// What each module adds to a Node process's resident memory when imported on
// its own (RSS after import and a full GC, minus an empty process's), to see
// what `serve` pays for at start. Run from the repository root after a build:
//   node bench/tools/module-rss.mjs [module ...]
// Shares overlap (two modules that share a dependency both count it), so they
// do not add up; the "serve at idle" line is the real total.
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const DEFAULT = [
  "better-sqlite3",
  "zstd-napi",
  "commander",
  "argon2",
  "busboy",
  "yauzl",
  "@bufbuild/protobuf",
  "lossless-json",
  "node:worker_threads",
  "./dist/config.js",
  "./dist/app.js",
  "./dist/http/server.js",
  "./dist/auth/accounts.js",
  "./dist/control/socket.js",
  "./dist/media/routes.js",
  "./dist/media/upload.js",
  "./dist/media/download.js",
  "./dist/http/legacy.js",
  "./dist/users/user.js",
  "./dist/collection/create.js",
  "./dist/sync/start.js",
  "./dist/sync/upload.js",
  "./dist/admin/index.js",
  "./dist/ops/backup-status.js",
  "./dist/auth/cognito/index.js",
  "./dist/cli/backup.js",
  "./dist/cli/user.js",
];

const probe = `
const specs = process.argv.slice(1);
for (const s of specs) await import(s);
globalThis.gc(); await new Promise((r) => setTimeout(r, 300)); globalThis.gc();
process.stdout.write(String(process.memoryUsage().rss));
`;

function rssWith(specs) {
  const out = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", probe, ...specs], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return Number(out) / 1048576;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const measure = (specs) => median([0, 1, 2].map(() => rssWith(specs)));

const specs = process.argv.length > 2 ? process.argv.slice(2) : DEFAULT;
const bare = measure([]);
console.log(`empty node process: ${bare.toFixed(1)} MB RSS`);
for (const spec of specs) {
  const target = spec.startsWith(".") ? pathToFileURL(resolve(spec)).href : spec;
  console.log(`${spec.padEnd(32)} +${(measure([target]) - bare).toFixed(1)} MB`);
}
