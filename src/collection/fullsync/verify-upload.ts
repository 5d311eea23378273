// Checks that an uploaded file is a collection we can serve before it replaces
// the stored one. Anything odd is "corrupt": the stored collection stays.
import { openCollectionDb } from "../open.js";

export class CorruptUploadError extends Error {}

/** Tables every schema-18 collection has; a file without them is not a collection. */
const REQUIRED_TABLES = ["col", "notes", "cards", "revlog", "graves", "deck_config", "config", "fields", "templates", "notetypes", "decks", "tags"];

export interface VerifiedUpload {
  ver: number;
  cards: number;
  notes: number;
}

export function verifyUploadedCollection(path: string): VerifiedUpload {
  let db;
  try {
    db = openCollectionDb(path, { mustExist: true });
  } catch (err) {
    throw new CorruptUploadError(`cannot open: ${(err as Error).message}`);
  }
  try {
    let integrity: unknown;
    try {
      integrity = db.prepare("PRAGMA integrity_check").pluck().get();
    } catch (err) {
      throw new CorruptUploadError(`integrity check failed: ${(err as Error).message}`);
    }
    if (integrity !== "ok") throw new CorruptUploadError(`integrity check: ${String(integrity)}`);
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    const missing = REQUIRED_TABLES.filter((name) => !tables.has(name));
    if (!tables.has("col")) throw new CorruptUploadError("not an Anki collection (no col table)");
    const colRows = db.prepare("SELECT count(*) FROM col").pluck().get() as number;
    if (colRows !== 1) throw new CorruptUploadError(`col table has ${colRows} rows`);
    const ver = db.prepare("SELECT ver FROM col").pluck().get() as number;
    if (ver !== 18) {
      // Modern clients always upload schema 18; older schemas arrive only from
      // legacy clients and need the 11->18 upgrade.
      throw new CorruptUploadError(`schema version ${ver} uploads are not supported (expected 18)`);
    }
    if (missing.length > 0) throw new CorruptUploadError(`missing tables: ${missing.join(", ")}`);
    const cards = db.prepare("SELECT count(*) FROM cards").pluck().get() as number;
    const notes = db.prepare("SELECT count(*) FROM notes").pluck().get() as number;
    const pending = db.prepare("SELECT (SELECT count(*) FROM cards WHERE usn = -1) + (SELECT count(*) FROM notes WHERE usn = -1) + (SELECT count(*) FROM revlog WHERE usn = -1)").pluck().get() as number;
    if (pending > 0) throw new CorruptUploadError(`${pending} rows still marked pending (usn -1)`);
    return { ver, cards, notes };
  } finally {
    db.close();
  }
}
