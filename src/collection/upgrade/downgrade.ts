// Schema 18 -> 11 for clients on sync protocol <= 10, which download and
// upload the legacy layout: the model moves back into JSON inside the col
// row and the schema >= 14 tables are dropped. Run it on a COPY of the
// server's collection (rslib downgrades its own file in place, which makes
// the next open re-run the lossy 11 -> 18 path; serving a copy gives the
// client the same bytes without that).
import { openCollectionDb, type CollectionDb } from "../open.js";
import { readCol } from "../storage/col.js";
import { readAllDeckConfigs } from "../storage/deckconfig.js";
import { readAllDecks } from "../storage/decks.js";
import { readAllNotetypes } from "../storage/notetypes.js";
import { deckConfigToLegacy } from "../legacy/deckconfig.js";
import { deckToLegacy } from "../legacy/decks.js";
import { notetypeToLegacy } from "../legacy/notetypes.js";
import { readConfigMap } from "../legacy/config.js";
import { tagsToLegacy } from "../legacy/tags.js";
import { newJsonObject, setKey, stringifyJson, type JsonObject } from "../legacy/json.js";

/** Id-keyed JSON object, as serde writes a HashMap<Id, T>. */
function byId(items: Array<{ id: number; json: JsonObject }>): string {
  const out = newJsonObject();
  for (const { id, json } of items) setKey(out, String(id), json);
  return stringifyJson(out);
}

/** Downgrades an open schema-18 connection in one exclusive transaction. */
export function downgradeDb(db: CollectionDb): void {
  db.transaction(() => {
    const ver = readCol(db).ver;
    if (ver !== 18) throw new Error(`downgrade: expected schema 18, found ${ver}`);
    // graves back to the keyless 11-17 form (its index goes with the old table)
    db.exec("ALTER TABLE graves RENAME TO graves_old");
    db.exec("CREATE TABLE graves (\n  usn integer NOT NULL,\n  oid integer NOT NULL,\n  type integer NOT NULL\n)");
    db.exec("INSERT INTO graves (usn, oid, type) SELECT usn, oid, type FROM graves_old");
    db.exec("DROP TABLE graves_old");

    // presets are validated on read, as rslib's all_deck_config() does
    const dconf = byId(readAllDeckConfigs(db).map((c) => ({ id: c.id, json: deckConfigToLegacy(c) })));
    const decks = byId(readAllDecks(db).map((d) => ({ id: d.id, json: deckToLegacy(d) })));
    const models = byId(readAllNotetypes(db).map((n) => ({ id: n.id, json: notetypeToLegacy(n) })));
    const conf = stringifyJson(readConfigMap(db));
    const tags = stringifyJson(tagsToLegacy(db));
    db.prepare("UPDATE col SET conf = ?, models = ?, decks = ?, dconf = ?, tags = ?").run(conf, models, decks, dconf, tags);

    for (const t of ["config", "deck_config", "tags", "fields", "templates", "notetypes", "decks"]) {
      db.exec(`DROP TABLE ${t}`);
    }
    db.exec("DROP INDEX idx_cards_odid");
    db.exec("DROP INDEX idx_notes_mid");
    db.exec("UPDATE col SET ver = 11");
  }).exclusive();
  // legacy clients must not receive a WAL-mode file
  db.pragma("journal_mode = DELETE");
}

/** Downgrades the file at `path` (a copy) in place. */
export function downgradeToSchema11(path: string): void {
  const db = openCollectionDb(path, { mustExist: true });
  try {
    downgradeDb(db);
  } finally {
    db.close();
  }
}
