// Checks that an uploaded file is a collection we can serve before it replaces
// the stored one. Anything odd is "corrupt": the stored collection stays.
//
// Modern clients upload schema 18. Legacy clients (sync protocol <= 10)
// upload schema 11; the official server also opens 14-17. Those are upgraded
// in place here, in the temp file, before the checks. Rows the upgrade
// modifies get the file's own col.usn, which becomes the server's usn once
// the upload is accepted (rslib upgrades uploads in client mode and leaves
// usn -1, which fails every later sanity check; 03-storage-schema.md §7.3).
import { type CollectionDb, openCollectionDb } from "../open.js";
import { readCol } from "../storage/col.js";
import { readConfigMap } from "../legacy/config.js";
import { stringifyJson, type JsonObject, newJsonObject, setKey } from "../legacy/json.js";
import { f32 } from "../legacy/numbers.js";
import { readAllDeckConfigs, writeDeckConfig } from "../storage/deckconfig.js";
import { readAllDecks } from "../storage/decks.js";
import { createMissingSchema18 } from "../schema18.js";
import { upgradeDb } from "../upgrade/upgrade.js";

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

/**
 * Schema 14 -> 11: the three tables 14 introduced go back into the col row
 * (config, deck options as the legacy JSON 14 stored, tags), so the one
 * 11 -> 18 upgrade applies. Notetypes and decks are still in the col row at 14.
 */
function schema14To11(db: CollectionDb): void {
  const conf = stringifyJson(readConfigMap(db));
  const rows = db.prepare("SELECT id, config FROM deck_config ORDER BY id").all() as Array<{ id: number; config: Buffer | string }>;
  // Each value is already legacy JSON text; the upgrade parses (and checks) it.
  const dconf = `{${rows.map((r) => `${JSON.stringify(String(r.id))}:${Buffer.from(r.config).toString("utf8")}`).join(",")}}`;
  const tags: JsonObject = newJsonObject();
  for (const r of db.prepare("SELECT tag, usn FROM tags").all() as Array<{ tag: string; usn: number }>) setKey(tags, r.tag, r.usn);
  db.exec("DROP TABLE config; DROP TABLE deck_config; DROP TABLE tags");
  db.prepare("UPDATE col SET ver = 11, conf = ?, dconf = ?, tags = ?").run(conf, dconf, stringifyJson(tags));
}

/**
 * Schema 15 -> 16: initial ease was stored x100 (250 for 250%); presets at
 * or below 1.3 afterwards were created broken and are reset to 2.5, and their
 * cards with a low ease get 2500 (as rslib does, with the server's usn).
 */
function schema15To16(db: CollectionDb, usn: number): void {
  const reset: number[] = [];
  for (const dc of readAllDeckConfigs(db)) {
    dc.config.initialEase = f32(f32(dc.config.initialEase) / 100);
    if (dc.config.initialEase <= f32(1.3)) {
      dc.config.initialEase = 2.5;
      reset.push(dc.id);
    }
    writeDeckConfig(db, dc);
  }
  if (reset.length === 0) return;
  const decks = readAllDecks(db)
    .filter((d) => d.kind.kind.case === "normal" && reset.includes(Number(d.kind.kind.value.configId)))
    .map((d) => d.id);
  if (decks.length === 0) return;
  const list = decks.map(() => "?").join(", ");
  db.prepare(`UPDATE cards SET factor = 2500, usn = ? WHERE factor != 0 AND factor <= 2000 AND (did IN (${list}) OR odid IN (${list}))`).run(
    usn,
    ...decks,
    ...decks,
  );
}

type TagUsn = { tag: string; usn: number };

/** Schema 16 -> 17, first half: the 14-16 tags table (tag, usn) is read and dropped. */
function takeSchema14Tags(db: CollectionDb): TagUsn[] {
  const tags = db.prepare("SELECT tag, usn FROM tags").all() as TagUsn[];
  db.exec("DROP TABLE tags");
  return tags;
}

/** Second half, once the schema-18 tags table exists: every tag collapsed, as rslib's re-registration stores them. */
function restoreTags(db: CollectionDb, tags: TagUsn[]): void {
  const insert = db.prepare("INSERT OR REPLACE INTO tags (tag, usn, collapsed) VALUES (?, ?, 1)");
  for (const t of tags) insert.run(t.tag, t.usn);
}

/** Schema 17 -> 18: graves keyed by (oid, type), the first row of duplicates kept; missing tables and indexes created. */
function schema17To18(db: CollectionDb): void {
  db.exec("ALTER TABLE graves RENAME TO graves_old");
  createMissingSchema18(db);
  db.exec("INSERT OR IGNORE INTO graves (oid, type, usn) SELECT oid, type, usn FROM graves_old");
  db.exec("DROP TABLE graves_old");
  db.exec("UPDATE col SET ver = 18");
}

/** Brings an uploaded schema 11 or 14-17 file to 18 in one transaction. */
export function upgradeUpload(db: CollectionDb, ver: number): void {
  db.transaction(() => {
    const usn = readCol(db).usn;
    if (ver === 11 || ver === 14) {
      if (ver === 14) schema14To11(db);
      upgradeDb(db, usn);
      return;
    }
    if (ver === 15) schema15To16(db, usn);
    const tags = ver <= 16 ? takeSchema14Tags(db) : undefined;
    schema17To18(db);
    if (tags) restoreTags(db, tags);
  }).exclusive();
}

export function verifyUploadedCollection(path: string): VerifiedUpload {
  let db;
  try {
    db = openCollectionDb(path, { mustExist: true });
  } catch (err) {
    throw new CorruptUploadError(`cannot open: ${(err as Error).message}`);
  }
  try {
    // better-sqlite3 builds SQLite with a 16 MB default page cache, and the
    // integrity check fills all of it (measured: +17 MB peak RSS on a 96 MB
    // upload); at 4 MB it takes the same time and 4 MB.
    let integrity: unknown;
    try {
      // Inside the try: on a file that is not a database this is the first
      // statement to fail, and that is a corrupt upload (400), not a 500.
      db.pragma("cache_size = -4000");
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
