// The server's name and version, for --version, GET /, /health and /metrics.
// The version is package.json's, read once next to the compiled code
// (dist/ops/version.js -> ../../package.json), so a release needs one edit.
import { readFileSync } from "node:fs";

export const SERVER_NAME = "anki-sync-server-ts";

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    // An unusual install without package.json: still start, say so.
    return "unknown";
  }
}

export const VERSION: string = readVersion();
