// Full uploads in the older schemas the official server opens (11, 14-17):
// verifyUploadedCollection upgrades them in place, with the file's own usn
// for anything the upgrade touches, before checking them. The intermediate
// schemas are made here from a schema-18 collection by undoing the later
// steps, so the upgraded file can be compared with where it came from.
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyCollection } from "../../../src/collection/create.js";
import { CorruptUploadError, verifyUploadedCollection } from "../../../src/collection/fullsync/verify-upload.js";
import { openCollectionDb, type CollectionDb } from "../../../src/collection/open.js";
import { deckConfigToLegacy } from "../../../src/collection/legacy/deckconfig.js";
import { deckToLegacy } from "../../../src/collection/legacy/decks.js";
import { notetypeToLegacy } from "../../../src/collection/legacy/notetypes.js";
import { newJsonObject, setKey, stringifyJson } from "../../../src/collection/legacy/json.js";
import { readAllDeckConfigs, writeDeckConfig } from "../../../src/collection/storage/deckconfig.js";
import { readAllDecks, writeDeck } from "../../../src/collection/storage/decks.js";
import { readAllNotetypes } from "../../../src/collection/storage/notetypes.js";
import { readAllTags } from "../../../src/collection/storage/tags.js";
import { readConfigMap } from "../../../src/collection/legacy/config.js";
import { downgradeToSchema11 } from "../../../src/collection/upgrade/downgrade.js";

let dir: string;
let original: string;

const USN = 9;
const LOW_PRESET = 1790000000100;
const LOW_DECK = 1790000000200;

function withDb<T>(path: string, fn: (db: CollectionDb) => T): T {
  const db = openCollectionDb(path, { mustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** A schema-18 collection with a note, cards (one with a low ease in a deck using a 1.3-ease preset), tags and graves. */
function build(path: string): void {
  createEmptyCollection(path, new Date("2026-03-10T12:00:00Z"));
  withDb(path, (db) => {
    db.transaction(() => {
      db.prepare("UPDATE col SET usn = ?, mod = 1790000000000, scm = 1790000000000").run(USN);
      const preset = readAllDeckConfigs(db)[0]!;
      writeDeckConfig(db, { ...preset, id: LOW_PRESET, name: "Low ease", config: { ...preset.config, initialEase: 1.3 } });
      const deck = readAllDecks(db)[0]!;
      const kind = structuredClone(deck.kind);
      if (kind.kind.case === "normal") kind.kind.value.configId = BigInt(LOW_PRESET);
      writeDeck(db, { ...deck, id: LOW_DECK, name: "Low", kind });
      const basic = readAllNotetypes(db).find((n) => n.name === "Basic")!;
      db.prepare("INSERT INTO notes VALUES (1790000000001, 'guid1', ?, 1790000000, 3, ' t1 ', 'front\x1fback', 'front', 123, 0, '')").run(basic.id);
      db.prepare("INSERT INTO cards VALUES (1790000000002, 1790000000001, 1, 0, 1790000000, 3, 2, 2, 10, 5, 2500, 3, 0, 0, 0, 0, 0, '')").run();
      db.prepare("INSERT INTO cards VALUES (1790000000003, 1790000000001, ?, 1, 1790000000, 3, 2, 2, 10, 5, 1800, 3, 0, 0, 0, 0, 0, '')").run(LOW_DECK);
      db.prepare("INSERT INTO revlog VALUES (1790000000004, 1790000000002, 3, 3, 5, 1, 2500, 4000, 1)").run();
      db.prepare("INSERT INTO tags (tag, usn, collapsed) VALUES ('t1', 3, 1), ('Parent::child', 3, 1)").run();
      db.prepare("INSERT INTO graves (oid, type, usn) VALUES (1790000000005, 0, 3), (1790000000006, 1, 3)").run();
    })();
  });
}

/** Undoes 17 -> 18: graves back to the keyless form. */
function to17(db: CollectionDb): void {
  db.exec(`ALTER TABLE graves RENAME TO g; CREATE TABLE graves (usn integer NOT NULL, oid integer NOT NULL, type integer NOT NULL);
    INSERT INTO graves SELECT usn, oid, type FROM g; DROP TABLE g; UPDATE col SET ver = 17`);
}

/** Undoes 16 -> 17: tags without collapsed/config. */
function to16(db: CollectionDb): void {
  to17(db);
  db.exec(`CREATE TABLE t2 (tag text NOT NULL PRIMARY KEY COLLATE unicase, usn integer NOT NULL) WITHOUT ROWID;
    INSERT INTO t2 SELECT tag, usn FROM tags; DROP TABLE tags; ALTER TABLE t2 RENAME TO tags; UPDATE col SET ver = 16`);
}

/** Undoes 15 -> 16: initial ease stored x100. */
function to15(db: CollectionDb): void {
  to16(db);
  for (const dc of readAllDeckConfigs(db)) writeDeckConfig(db, { ...dc, config: { ...dc.config, initialEase: dc.config.initialEase * 100 } });
  db.exec("UPDATE col SET ver = 15");
}

/** Undoes 14 -> 15: notetypes and decks back in the col row, deck options as legacy JSON in deck_config. */
function to14(db: CollectionDb): void {
  to16(db);
  const models = newJsonObject();
  for (const nt of readAllNotetypes(db)) setKey(models, String(nt.id), notetypeToLegacy(nt));
  const decks = newJsonObject();
  for (const d of readAllDecks(db)) setKey(decks, String(d.id), deckToLegacy(d));
  const configs = readAllDeckConfigs(db);
  db.exec(`DROP TABLE notetypes; DROP TABLE fields; DROP TABLE templates; DROP TABLE decks; DROP INDEX idx_notes_mid; DROP INDEX idx_cards_odid;
    DROP TABLE deck_config; CREATE TABLE deck_config (id integer PRIMARY KEY NOT NULL, name text NOT NULL COLLATE unicase, mtime_secs integer NOT NULL, usn integer NOT NULL, config blob NOT NULL)`);
  for (const dc of configs) {
    db.prepare("INSERT INTO deck_config VALUES (?, ?, ?, ?, ?)").run(dc.id, dc.name, dc.mtimeSecs, dc.usn, Buffer.from(stringifyJson(deckConfigToLegacy(dc))));
  }
  db.prepare("UPDATE col SET ver = 14, models = ?, decks = ?").run(stringifyJson(models), stringifyJson(decks));
}

function variant(ver: number): string {
  const path = join(dir, `v${ver}.anki2`);
  copyFileSync(original, path);
  if (ver === 11) downgradeToSchema11(path);
  else withDb(path, (db) => db.transaction(() => ({ 17: to17, 16: to16, 15: to15, 14: to14 })[ver as 14]!(db))());
  return path;
}

/** What must survive an upgrade: everything the client sees. */
function content(path: string) {
  return withDb(path, (db) => ({
    ver: db.prepare("SELECT ver FROM col").pluck().get(),
    col: db.prepare("SELECT crt, mod, scm, usn, ls FROM col").get(),
    notetypes: readAllNotetypes(db).map((n) => ({ id: n.id, name: n.name, fields: n.fields.map((f) => f.name), templates: n.templates.map((t) => t.name) })),
    decks: readAllDecks(db).map((d) => ({ id: d.id, name: d.name, usn: d.usn, kind: d.kind.kind.case })),
    presets: readAllDeckConfigs(db).map((c) => ({ id: c.id, name: c.name, usn: c.usn, ease: c.config.initialEase })),
    config: Object.keys(readConfigMap(db)).sort(),
    tags: readAllTags(db),
    graves: db.prepare("SELECT oid, type, usn FROM graves ORDER BY oid").all(),
    notes: db.prepare("SELECT id, mid, usn, flds FROM notes").all(),
    cards: db.prepare("SELECT id, did, usn, factor FROM cards ORDER BY id").all(),
    revlog: db.prepare("SELECT * FROM revlog").all(),
    integrity: db.pragma("integrity_check", { simple: true }),
    tables: db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all(),
  }));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "legacy-schemas-"));
  original = join(dir, "original.anki2");
  build(original);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("uploads in older schemas", () => {
  it("accepts schema 18 unchanged", async () => {
    const path = join(dir, "v18.anki2");
    copyFileSync(original, path);
    expect(await verifyUploadedCollection(path)).toMatchObject({ ver: 18, cards: 2, notes: 1 });
    expect(content(path)).toEqual(content(original));
  });

  it.each([17, 16])("upgrades schema %i to the same collection", async (ver) => {
    const path = variant(ver);
    expect(withDb(path, (db) => db.prepare("SELECT ver FROM col").pluck().get())).toBe(ver);
    expect(await verifyUploadedCollection(path)).toMatchObject({ ver, cards: 2, notes: 1 });
    expect(content(path)).toEqual(content(original));
  });

  it.each([15, 14, 11])("upgrades schema %i, resetting a 1.3 starting ease and its low-ease cards with the file's usn", async (ver) => {
    const path = variant(ver);
    if (ver <= 14) {
      // the legacy JSON is written with validated values (ease 1.3 reads as 2.5,
      // as rslib's downgrade does too); put the broken value back by hand
      withDb(path, (db) => {
        const patch = (json: string) => json.replace('"initialFactor":2500', '"initialFactor":1300');
        if (ver === 11) {
          const dconf = JSON.parse(db.prepare("SELECT dconf FROM col").pluck().get() as string) as Record<string, unknown>;
          dconf[String(LOW_PRESET)] = JSON.parse(patch(JSON.stringify(dconf[String(LOW_PRESET)])));
          db.prepare("UPDATE col SET dconf = ?").run(JSON.stringify(dconf));
        } else {
          const blob = db.prepare("SELECT config FROM deck_config WHERE id = ?").pluck().get(LOW_PRESET) as Buffer;
          db.prepare("UPDATE deck_config SET config = ? WHERE id = ?").run(Buffer.from(patch(blob.toString())), LOW_PRESET);
        }
      });
    }
    expect(await verifyUploadedCollection(path)).toMatchObject({ ver, cards: 2, notes: 1 });
    const want = content(original);
    const low = want.presets.find((p) => p.id === LOW_PRESET)!;
    low.ease = 2.5;
    const lowCard = want.cards.find((c) => (c as { did: number }).did === LOW_DECK) as { factor: number; usn: number };
    lowCard.factor = 2500;
    lowCard.usn = USN;
    const got = content(path);
    expect(got).toEqual(want);
  });

  it.each([12, 13, 10, 19])("refuses schema %i", async (ver) => {
    const path = join(dir, `bad${ver}.anki2`);
    copyFileSync(original, path);
    withDb(path, (db) => db.prepare("UPDATE col SET ver = ?").run(ver));
    await expect(verifyUploadedCollection(path)).rejects.toThrow(CorruptUploadError);
  });

  it("refuses a schema-11 file whose JSON does not parse, leaving it as it was", async () => {
    const path = variant(11);
    withDb(path, (db) => db.prepare("UPDATE col SET models = '{not json'").run());
    await expect(verifyUploadedCollection(path)).rejects.toThrow(/upgrade from schema 11 failed/);
    expect(withDb(path, (db) => db.prepare("SELECT ver FROM col").pluck().get())).toBe(11);
  });
});
