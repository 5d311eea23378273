// Uploads in an older schema (11, 14-17) brought to 18 in place, in the
// uploaded temp file, before the checks of verify-upload.ts. Rows the
// upgrade modifies get the file's own col.usn, which becomes the server's usn
// once the upload is accepted.
import type { CollectionDb } from "../open.js";
import { readCol } from "../storage/col.js";
import { readConfigMap } from "../legacy/config.js";
import { stringifyJson, type JsonObject, newJsonObject, setKey } from "../legacy/json.js";
import { f32 } from "../legacy/numbers.js";
import { readAllDeckConfigs, writeDeckConfig } from "../storage/deckconfig.js";
import { readAllDecks } from "../storage/decks.js";
import { createMissingSchema18 } from "../schema18.js";
import { upgradeDb } from "../upgrade/upgrade.js";

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
