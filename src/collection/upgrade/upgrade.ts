// Schema 11 -> 18, as rslib runs it when it opens a legacy file (uploads
// from sync protocol <= 10 clients). The net effect of rslib's 14/15/16/17/18
// steps is applied in one exclusive transaction; any malformed JSON aborts
// it and leaves the file untouched. Unlike rslib on upload (client mode,
// usn -1), modified objects get the server's usn: a server must never hold
// usn -1 or every later sanity check fails.
//
// Name uniqueness is decided by SQLite's unicase collation (the same one the
// unique indexes use), never by a JS approximation of it.
import { randomInt } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { openCollectionDb, type CollectionDb } from "../open.js";
import { createMissingSchema18 } from "../schema18.js";
import { readCol } from "../storage/col.js";
import { writeConfigEntry } from "../storage/config.js";
import { writeDeckConfig, type StoredDeckConfig } from "../storage/deckconfig.js";
import { deckIdByName, writeDeck, type StoredDeck } from "../storage/decks.js";
import { notetypeIdByName, writeNotetype, type StoredNotetype } from "../storage/notetypes.js";
import { readTag, writeTag } from "../storage/tags.js";
import { DeckConfig_ConfigSchema } from "../messages.js";
import { deckConfigFromLegacy } from "../legacy/deckconfig.js";
import { deckFromLegacy } from "../legacy/decks.js";
import { notetypeFromLegacy } from "../legacy/notetypes.js";
import { humanDeckName } from "../legacy/names.js";
import { parseJson, setKey, stringifyJson, type JsonObject } from "../legacy/json.js";
import { f32 } from "../legacy/numbers.js";
import { expectObject, LegacyJsonError, I32, describe } from "../legacy/read.js";
import { nowSecs } from "../time.js";

function parseColumn(text: string, column: string): JsonObject {
  try {
    return expectObject(parseJson(text), `col.${column}`);
  } catch (err) {
    throw new LegacyJsonError(`col.${column}: ${(err as Error).message}`);
  }
}

function unicaseEqual(db: CollectionDb, a: string, b: string): boolean {
  const r = db.prepare("SELECT ? = ? COLLATE unicase AS eq").get(a, b) as { eq: number };
  return r.eq === 1;
}

/** Appends `suffix` to names equal (unicase) to an earlier one in the list. */
function uniqueWithin(db: CollectionDb, items: Array<{ name: string }>): void {
  items.forEach((it, i) => {
    while (items.slice(0, i).some((prev) => unicaseEqual(db, prev.name, it.name))) it.name += "+";
  });
}

interface ParsedDeck {
  deck: StoredDeck;
  renamed: boolean;
}

function parseDecks(map: JsonObject): ParsedDeck[] {
  return Object.keys(map).map((key) => {
    const json = expectObject(map[key]!, `deck ${key}`);
    const deck = deckFromLegacy(json);
    return { deck, renamed: humanDeckName(deck.name) !== json.name };
  });
}

function parseNotetypes(map: JsonObject): StoredNotetype[] {
  return Object.keys(map).map((key) => {
    const nt = notetypeFromLegacy(map[key]!);
    // notetypes with id 0 exist in the wild; rslib gives them a random u32 id
    if (key === "0" || nt.id === 0) nt.id = randomInt(1, 2 ** 32);
    nt.name = nt.name.normalize("NFC");
    for (const f of nt.fields) f.name = f.name.normalize("NFC");
    for (const t of nt.templates) t.name = t.name.normalize("NFC");
    return nt;
  });
}

/**
 * Presets: the map key wins over the inner id; initial ease goes through
 * schema 15's x100 and schema 16's /100 in f32, and presets at or below
 * 1.3 are reset to 2.5 (returned so their cards can be fixed too).
 */
function parseDeckConfigs(map: JsonObject): { configs: StoredDeckConfig[]; lowEase: number[] } {
  const configs: StoredDeckConfig[] = [];
  const lowEase: number[] = [];
  for (const key of Object.keys(map)) {
    const json = expectObject(map[key]!, `deck config ${key}`);
    const withKeyId = Object.assign(Object.create(null) as JsonObject, json);
    setKey(withKeyId, "id", key);
    const dc = deckConfigFromLegacy(withKeyId);
    const config = create(DeckConfig_ConfigSchema, dc.config);
    config.initialEase = f32(f32(config.initialEase * 100) / 100);
    if (config.initialEase <= f32(1.3)) {
      config.initialEase = 2.5;
      lowEase.push(dc.id);
    }
    configs.push({ ...dc, config });
  }
  return { configs, lowEase };
}

function parseTags(map: JsonObject): Array<[string, number]> {
  return Object.keys(map).map((t) => {
    const n = I32(map[t]!);
    if (n === undefined) {
      throw new LegacyJsonError(`col.tags: usn of ${JSON.stringify(t)} must be an i32, found ${describe(map[t]!)}`);
    }
    return [t, n];
  });
}

/** Upgrades an open schema-11 connection. `usn` defaults to col.usn. */
export function upgradeDb(db: CollectionDb, usn?: number): void {
  db.transaction(() => {
    const col = readCol(db);
    if (col.ver === 18) return;
    if (col.ver !== 11) throw new Error(`upgrade: only schema 11 can be upgraded, found ${col.ver}`);
    const serverUsn = usn ?? col.usn;
    const now = nowSecs();

    // parse and convert everything before changing the file
    const conf = parseColumn(col.conf, "conf");
    const tags = parseTags(parseColumn(col.tags, "tags"));
    const dconf = parseDeckConfigs(parseColumn(col.dconf, "dconf"));
    const notetypes = parseNotetypes(parseColumn(col.models, "models"));
    const decks = parseDecks(parseColumn(col.decks, "decks"));

    // graves: the schema-18 table keeps one row per (oid, type), first wins
    db.exec("ALTER TABLE graves RENAME TO graves_old");
    createMissingSchema18(db);
    db.exec("INSERT OR IGNORE INTO graves (oid, type, usn) SELECT oid, type, usn FROM graves_old");
    db.exec("DROP TABLE graves_old");

    for (const key of Object.keys(conf)) writeConfigEntry(db, key, stringifyJson(conf[key]!), 0, 0);
    for (const [tag, tagUsn] of tags) {
      // insert-or-ignore under unicase: the first spelling wins
      if (readTag(db, tag) === undefined) writeTag(db, { tag, usn: tagUsn, collapsed: true });
    }
    for (const c of dconf.configs) writeDeckConfig(db, c);
    for (const nt of notetypes) {
      uniqueWithin(db, nt.templates);
      uniqueWithin(db, nt.fields);
      while (notetypeIdByName(db, nt.name) !== undefined) nt.name += "_";
      writeNotetype(db, nt);
    }
    for (const { deck, renamed } of decks) {
      let modified = renamed;
      while (deckIdByName(db, deck.name) !== undefined) {
        deck.name += "_";
        modified = true;
      }
      if (modified) {
        deck.mtimeSecs = now;
        deck.usn = serverUsn;
      }
      writeDeck(db, deck);
    }
    fixLowEaseCards(db, decks.map((d) => d.deck), dconf.lowEase, serverUsn);
    db.prepare("UPDATE col SET ver = 18, conf = '', models = '', decks = '', dconf = '', tags = ''").run();
  }).exclusive();
}

/** Cards of normal decks using a reset preset get the default ease (2500). */
function fixLowEaseCards(db: CollectionDb, decks: StoredDeck[], configIds: number[], usn: number): void {
  if (configIds.length === 0) return;
  const ids = decks
    .filter((d) => d.kind.kind.case === "normal" && configIds.includes(Number(d.kind.kind.value.configId)))
    .map((d) => d.id);
  if (ids.length === 0) return;
  const list = ids.map(() => "?").join(", ");
  db.prepare(
    `UPDATE cards SET factor = 2500, usn = ? WHERE factor != 0 AND factor <= 2000 AND (did IN (${list}) OR odid IN (${list}))`,
  ).run(usn, ...ids, ...ids);
}

/** Upgrades the file at `path` in place (a no-op at schema 18). */
export function upgradeToSchema18(path: string, usn?: number): void {
  const db = openCollectionDb(path, { mustExist: true });
  try {
    upgradeDb(db, usn);
  } finally {
    db.close();
  }
}
