import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmptyCollection } from "../../../src/collection/create.js";
import { openCollectionDb, type CollectionDb } from "../../../src/collection/open.js";
import { writeNote, readNote, readNotesSince } from "../../../src/collection/storage/notes.js";
import { writeCard, readCard } from "../../../src/collection/storage/cards.js";
import { addRevlog, readAllRevlog } from "../../../src/collection/storage/revlog.js";
import { addGrave, readGravesSince, GraveType } from "../../../src/collection/storage/graves.js";
import { readAllTags } from "../../../src/collection/storage/tags.js";
import { readCol, updateCol } from "../../../src/collection/storage/col.js";
import { registerTag } from "../../../src/collection/legacy/tags.js";
import { dumpLegacyModel, replaceLegacyModel } from "../../../src/collection/legacy/model.js";
import { downgradeDb } from "../../../src/collection/upgrade/downgrade.js";
import { upgradeDb } from "../../../src/collection/upgrade/upgrade.js";
import { parseJson, stringifyJson } from "../../../src/collection/legacy/json.js";

let dir: string;
const open: CollectionDb[] = [];
function db(name = "c.anki2"): CollectionDb {
  const d = openCollectionDb(join(dir, name));
  open.push(d);
  return d;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "storage-test-"));
  createEmptyCollection(join(dir, "c.anki2"));
});
afterEach(() => {
  for (const d of open.splice(0)) if (d.open) d.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("row readers and writers", () => {
  it("round-trips notes, cards, revlog and graves", () => {
    const c = db();
    const note = { id: 1, guid: "g", mid: 5, mod: 2, usn: 3, tags: " a ", flds: "x\x1fy", sfld: "x", csum: 7, flags: 0, data: "" };
    writeNote(c, note);
    expect(readNote(c, 1)).toEqual(note);
    writeNote(c, { ...note, id: 2, sfld: "42" });
    // integer affinity turns numeric sort fields into numbers, as in Anki
    expect(readNote(c, 2)!.sfld).toBe(42);
    expect(readNotesSince(c, 3).map((n) => n.id)).toEqual([1, 2]);
    const card = {
      id: 10, nid: 1, did: 1, ord: 0, mod: 1, usn: 0, type: 2, queue: -1, due: 100, ivl: 3, factor: 2500,
      reps: 4, lapses: 1, left: 0, odue: 0, odid: 0, flags: 2, data: '{"s":1.5}',
    };
    writeCard(c, card);
    expect(readCard(c, 10)).toEqual(card);
    const rev = { id: 100, cid: 10, usn: 0, ease: 3, ivl: 3, lastIvl: -600, factor: 2500, time: 5000, type: 1 };
    expect(addRevlog(c, rev)).toBe(true);
    expect(addRevlog(c, { ...rev, ease: 1 })).toBe(false);
    expect(readAllRevlog(c)).toEqual([rev]);
    addGrave(c, 5, GraveType.Note, 3);
    addGrave(c, 5, GraveType.Note, 9);
    addGrave(c, 5, GraveType.Card, 9);
    expect(readGravesSince(c, 0)).toEqual([
      { oid: 5, type: 0, usn: 9 },
      { oid: 5, type: 1, usn: 3 },
    ]);
    updateCol(c, { usn: 4, mod: 99 });
    expect(readCol(c)).toMatchObject({ usn: 4, mod: 99, ver: 18 });
    expect(c.pragma("integrity_check", { simple: true })).toBe("ok");
  });

  it("registers tags like rslib (unicase, parent case, usn kept)", () => {
    const c = db();
    expect(registerTag(c, "Parent::x", 5)).toEqual({ tag: "Parent::x", added: true });
    expect(registerTag(c, "parent::X", 6)).toEqual({ tag: "Parent::x", added: false });
    // only an existing ancestor tag lends its spelling ("Parent" alone is not a tag)
    expect(registerTag(c, "parent::y z", 7)).toEqual({ tag: "parent::yz", added: true });
    expect(registerTag(c, "PARENT::X::deep", 7)).toEqual({ tag: "Parent::x::deep", added: true });
    expect(registerTag(c, "STRASSE", 8).added).toBe(true);
    expect(registerTag(c, "straße", 9)).toEqual({ tag: "STRASSE", added: false });
    expect(readAllTags(c)).toEqual([
      { tag: "Parent::x", usn: 5, collapsed: true },
      { tag: "Parent::x::deep", usn: 7, collapsed: true },
      { tag: "parent::yz", usn: 7, collapsed: true },
      { tag: "STRASSE", usn: 8, collapsed: true },
    ]);
  });
});

describe("legacy model", () => {
  it("never half-writes: a bad object leaves everything as it was", () => {
    const c = db();
    const before = stringifyJson(dumpLegacyModel(c) as never);
    const model = dumpLegacyModel(c);
    const bad = parseJson(stringifyJson({ ...model, decks: [...model.decks, { id: 9, dyn: 0 }] } as never));
    expect(() => replaceLegacyModel(c, bad as never)).toThrow(/deck 9: missing key "conf"|deck 9: missing key "name"/);
    expect(stringifyJson(dumpLegacyModel(c) as never)).toBe(before);
  });

  it("downgrades to schema 11 and upgrades back to the same model", () => {
    const c = db();
    registerTag(c, "ünï::Code", 0);
    const before = dumpLegacyModel(c);
    c.close();
    copyFileSync(join(dir, "c.anki2"), join(dir, "d.anki2"));
    const d = db("d.anki2");
    downgradeDb(d);
    const col = readCol(d);
    expect(col.ver).toBe(11);
    expect(Object.keys(JSON.parse(col.decks))).toEqual(["1"]);
    expect(d.pragma("journal_mode", { simple: true })).toBe("delete");
    const tables = (d.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
    expect(tables).not.toContain("decks");
    upgradeDb(d);
    expect(readCol(d)).toMatchObject({ ver: 18, conf: "", models: "", decks: "", dconf: "", tags: "" });
    expect(dumpLegacyModel(d)).toEqual(before);
    expect(d.pragma("integrity_check", { simple: true })).toBe("ok");
  });

  it("rejects a corrupt schema-11 file without changing it", () => {
    const c = db();
    downgradeDb(c);
    c.prepare("UPDATE col SET decks = ?").run('{"1": {"id": 1}}');
    expect(() => upgradeDb(c)).toThrow(/deck/);
    expect(readCol(c).ver).toBe(11);
  });
});
