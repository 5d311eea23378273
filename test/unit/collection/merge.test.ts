import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEmptyCollection } from "../../../src/collection/create.js";
import { openCollectionDb, type CollectionDb } from "../../../src/collection/open.js";
import { dumpLegacyModel } from "../../../src/collection/legacy/model.js";
import { mergeDecks, mergeNotetypes, mergeTags, NotetypeSchemaChangedError } from "../../../src/collection/legacy/merge.js";
import { parseJson, stringifyJson, type JsonObject } from "../../../src/collection/legacy/json.js";
import { readAllTags } from "../../../src/collection/storage/tags.js";

let dir: string;
let db: CollectionDb;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "merge-test-"));
  createEmptyCollection(join(dir, "c.anki2"));
  db = openCollectionDb(join(dir, "c.anki2"));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = { usn: 7, nowSecs: 1000 };
const clone = (o: JsonObject): JsonObject => parseJson(stringifyJson(o)) as JsonObject;

describe("sync merge", () => {
  it("renames a clashing notetype with + and stamps it", () => {
    const basic = clone(dumpLegacyModel(db).models[0]!);
    basic.id = 99;
    basic.name = "basic";
    mergeNotetypes(db, [basic], ctx);
    const got = dumpLegacyModel(db).models.find((m) => m.id === 99)!;
    expect(got).toMatchObject({ name: "basic+", mod: 1000, usn: 7 });
  });

  it("keeps a newer stored notetype and rejects a schema change", () => {
    const basic = clone(dumpLegacyModel(db).models[0]!);
    basic.mod = -1;
    basic.name = "Older";
    mergeNotetypes(db, [basic], ctx);
    expect(dumpLegacyModel(db).models[0]!.name).toBe("Basic");
    const changed = clone(dumpLegacyModel(db).models[0]!);
    changed.mod = 5;
    (changed.flds as JsonObject[]).pop();
    expect(() => mergeNotetypes(db, [changed], ctx)).toThrow(NotetypeSchemaChangedError);
  });

  it("normalises and de-duplicates incoming deck names", () => {
    const def = clone(dumpLegacyModel(db).decks[0]!);
    def.id = 50;
    def.name = " default ";
    def.mod = 3;
    mergeDecks(db, [def], ctx);
    const got = dumpLegacyModel(db).decks.find((d) => d.id === 50)!;
    expect(got).toMatchObject({ name: "default+", mod: 1000, usn: 7 });
  });

  it("registers tags with the sync usn", () => {
    mergeTags(db, ["a::b", "A::B", "x y"], ctx);
    expect(readAllTags(db)).toEqual([
      { tag: "a::b", usn: 7, collapsed: true },
      { tag: "xy", usn: 7, collapsed: true },
    ]);
  });
});
