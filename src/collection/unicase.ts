// Loads the `unicase` SQLite collation (native/unicase.c, built to
// build/unicase.so by scripts/build-native.mjs) into a better-sqlite3
// connection. Anki collections declare several columns `COLLATE unicase`;
// without the collation SQLite refuses to touch those tables and indexes.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type Database from "better-sqlite3";

let cachedRoot: string | undefined;

/** The package root: the nearest ancestor of this module containing package.json. */
function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, "package.json"))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`unicase: cannot locate the package root (no package.json above ${start})`);
    }
    dir = parent;
  }
}

/** Absolute path of the compiled extension (build/unicase.so under the package root). */
export function unicaseExtensionPath(): string {
  return join(packageRoot(), "build", "unicase.so");
}

/**
 * Registers the `unicase` collation on `db`. Call right after opening a
 * collection, before any statement touching decks/notetypes/fields/templates/
 * deck_config/tags. Throws if the native extension has not been built.
 * `path` overrides the extension location (tests, unusual layouts).
 */
export function loadUnicase(db: Database.Database, path: string = unicaseExtensionPath()): void {
  if (!existsSync(path)) {
    throw new Error(
      `unicase: the native SQLite extension is missing (${path}). ` +
        "Run `npm run build` (or `node scripts/build-native.mjs`; needs a C compiler) to build it.",
    );
  }
  try {
    db.loadExtension(path);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(
      `unicase: failed to load the native SQLite extension ${path}: ${msg}. ` +
        "Rebuild it with `npm run build`.",
      { cause: err },
    );
  }
}
