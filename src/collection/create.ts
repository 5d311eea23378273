// Creating a brand-new, empty schema-18 collection the way the official sync
// server does when a user's collection is first needed: col row with mod 0
// (so a fresh client and this server agree there is nothing to sync), the
// core config keys, preset 1, deck 1 and the six stock notetypes.
//
// The file is built under a temporary name in the same directory, committed,
// fsynced and only then linked into place, so `path` never holds a
// half-created collection and an existing collection is never overwritten.
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { openCollectionDb } from "./open.js";
import { applySchema18, SCHEMA_VERSION } from "./schema18.js";
import {
  DEFAULT_DECK_CONFIG_ID,
  DEFAULT_DECK_ID,
  DEFAULT_NAME,
  defaultConfigEntries,
  defaultDeckConfig,
  newDeckCommon,
  newNormalDeckKind,
} from "./defaults.js";
import { writeCol } from "./storage/col.js";
import { writeConfigEntry } from "./storage/config.js";
import { writeDeckConfig } from "./storage/deckconfig.js";
import { writeDeck } from "./storage/decks.js";
import { writeNotetype } from "./storage/notetypes.js";
import { stockNotetypes } from "./stock/stock.js";
import { creationTimeSecs } from "./time.js";

export class CollectionExistsError extends Error {
  constructor(readonly path: string) {
    super(`a collection already exists at ${path}`);
    this.name = "CollectionExistsError";
  }
}

/**
 * Creates an empty collection at `path`. Throws CollectionExistsError if a
 * file is already there (a concurrent creator won the race; just open it).
 * `now` is injectable for tests; crt and scm derive from it, as do the
 * stock notetype ids.
 */
export function createEmptyCollection(path: string, now: Date = new Date()): void {
  if (existsSync(path)) throw new CollectionExistsError(path);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    buildCollection(tmp, now);
    fsyncFile(tmp);
    publish(tmp, path);
    fsyncDir(dir);
  } finally {
    // after a successful link the temp name is just a second link to remove
    rmSync(tmp, { force: true });
    rmSync(`${tmp}-journal`, { force: true });
  }
}

function buildCollection(file: string, now: Date): void {
  const db = openCollectionDb(file);
  try {
    // Rollback-journal mode while building: the file is complete on disk at
    // commit, with no -wal sidecar to lose when it is moved into place.
    db.pragma("journal_mode = DELETE");
    db.pragma("page_size = 4096");
    const nowMs = now.getTime();
    const nowSecs = Math.floor(nowMs / 1000);
    db.transaction(() => {
      applySchema18(db);
      writeCol(db, {
        crt: creationTimeSecs(now),
        mod: 0,
        scm: nowMs,
        ver: SCHEMA_VERSION,
        dty: 0,
        usn: 0,
        ls: 0,
        conf: "",
        models: "",
        decks: "",
        dconf: "",
        tags: "",
      });
      for (const [key, json] of defaultConfigEntries()) writeConfigEntry(db, key, json, 0, 0);
      writeDeckConfig(db, {
        id: DEFAULT_DECK_CONFIG_ID,
        name: DEFAULT_NAME,
        mtimeSecs: 0,
        usn: 0,
        config: defaultDeckConfig(),
      });
      writeDeck(db, {
        id: DEFAULT_DECK_ID,
        name: DEFAULT_NAME,
        mtimeSecs: 0,
        usn: 0,
        common: newDeckCommon(),
        kind: newNormalDeckKind(DEFAULT_DECK_CONFIG_ID),
      });
      const notetypes = stockNotetypes(nowMs);
      for (const nt of notetypes) writeNotetype(db, nt);
      // rslib stamps curModel with the current time and usn -1 (client usn);
      // a server must never hold usn -1, so 0 is used here.
      const first = notetypes[0];
      if (first === undefined) throw new Error("createEmptyCollection: no stock notetypes");
      writeConfigEntry(db, "curModel", String(first.id), 0, nowSecs);
    })();
    const check = db.pragma("integrity_check", { simple: true });
    if (check !== "ok") throw new Error(`createEmptyCollection: integrity check failed: ${String(check)}`);
  } finally {
    db.close();
  }
}

function fsyncFile(file: string): void {
  const fd = openSync(file, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Moves `tmp` to `path` without ever replacing an existing file. */
function publish(tmp: string, path: string): void {
  try {
    linkSync(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new CollectionExistsError(path);
    // filesystems without hard links: fall back to rename after a re-check
    if (code === "EPERM" || code === "ENOTSUP" || code === "EXDEV" || code === "ENOSYS") {
      if (existsSync(path)) throw new CollectionExistsError(path);
      renameSync(tmp, path);
      return;
    }
    throw err;
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // some platforms cannot fsync a directory; the data itself is synced
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
