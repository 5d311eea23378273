// Checks that an uploaded file is a collection we can serve before it replaces
// the stored one. Anything odd is "corrupt": the stored collection stays.
//
// Modern clients upload schema 18. Legacy clients (sync protocol <= 10)
// upload schema 11; the official server also opens 14-17. Those are upgraded
// in place here, in the temp file, before the checks. Rows the upgrade
// modifies get the file's own col.usn, which becomes the server's usn once
// the upload is accepted (rslib upgrades uploads in client mode and leaves
// usn -1, which fails every later sanity check; 03-storage-schema.md §7.3).
//
// The upgrade code (upgrade-upload.ts, with the legacy JSON and protobuf
// codecs) is imported only for such an upload: the worker thread that checks
// a modern upload does not hold it in memory (about 6 MB of a full upload's
// peak).
import { openCollectionDb } from "../open.js";

export class CorruptUploadError extends Error {}

/** Tables every schema-18 collection has; a file without them is not a collection. */
const REQUIRED_TABLES = ["col", "notes", "cards", "revlog", "graves", "deck_config", "config", "fields", "templates", "notetypes", "decks", "tags"];

/** Schema versions the official server opens (12 and 13 never shipped). */
export const UPLOAD_SCHEMAS = new Set([11, 14, 15, 16, 17, 18]);

export interface VerifiedUpload {
  /** The schema the file arrived in (it is 18 after verification). */
  ver: number;
  cards: number;
  notes: number;
}

export async function verifyUploadedCollection(path: string): Promise<VerifiedUpload> {
  let db;
  try {
    db = openCollectionDb(path, { mustExist: true });
  } catch (err) {
    throw new CorruptUploadError(`cannot open: ${(err as Error).message}`);
  }
  try {
    // better-sqlite3 builds SQLite with a 16 MB default page cache, and the
    // integrity check fills all of it (+17 MB peak RSS on a 96 MB upload).
    // The check reads each page about once, so the cache buys no time:
    // 1.87-1.96 s on that file at 1, 2 or 4 MB alike; 2 MB is SQLite's own
    // default.
    let integrity: unknown;
    try {
      // Inside the try: on a file that is not a database this is the first
      // statement to fail, and that is a corrupt upload (400), not a 500.
      db.pragma("cache_size = -2000");
      integrity = db.prepare("PRAGMA integrity_check").pluck().get();
    } catch (err) {
      throw new CorruptUploadError(`integrity check failed: ${(err as Error).message}`);
    }
    if (integrity !== "ok") throw new CorruptUploadError(`integrity check: ${String(integrity)}`);
    let tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    if (!tables.has("col")) throw new CorruptUploadError("not an Anki collection (no col table)");
    const colRows = db.prepare("SELECT count(*) FROM col").pluck().get() as number;
    if (colRows !== 1) throw new CorruptUploadError(`col table has ${colRows} rows`);
    const ver = db.prepare("SELECT ver FROM col").pluck().get() as number;
    if (!UPLOAD_SCHEMAS.has(ver)) throw new CorruptUploadError(`schema version ${ver} uploads are not supported (11, 14-18 are)`);
    if (ver !== 18) {
      // Imported outside the try: a failed import is the server's fault, not a corrupt upload.
      const { upgradeUpload } = await import("./upgrade-upload.js");
      try {
        upgradeUpload(db, ver);
      } catch (err) {
        throw new CorruptUploadError(`upgrade from schema ${ver} failed: ${(err as Error).message}`);
      }
      tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    }
    const missing = REQUIRED_TABLES.filter((name) => !tables.has(name));
    if (missing.length > 0) throw new CorruptUploadError(`missing tables: ${missing.join(", ")}`);
    const cards = db.prepare("SELECT count(*) FROM cards").pluck().get() as number;
    const notes = db.prepare("SELECT count(*) FROM notes").pluck().get() as number;
    const pending = db.prepare("SELECT (SELECT count(*) FROM cards WHERE usn = -1) + (SELECT count(*) FROM notes WHERE usn = -1) + (SELECT count(*) FROM revlog WHERE usn = -1)").pluck().get() as number;
    if (pending > 0) throw new CorruptUploadError(`${pending} rows still marked pending (usn -1)`);
    // Clients upload in rollback-journal mode; the server keeps collections
    // in WAL mode. Switching here, in the worker, spares the first sync after
    // the upload from rewriting the header on the event loop.
    db.pragma("journal_mode = WAL");
    return { ver, cards, notes };
  } finally {
    db.close();
  }
}
