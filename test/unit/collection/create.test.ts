import { mkdtempSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { createEmptyCollection, CollectionExistsError } from "../../../src/collection/create.js";
import { openCollectionDb, type CollectionDb } from "../../../src/collection/open.js";
import { SCHEMA18_DDL } from "../../../src/collection/schema18.js";
import { creationTimeSecs } from "../../../src/collection/time.js";
import {
  DeckConfig_ConfigSchema,
  Deck_CommonSchema,
  Deck_KindContainerSchema,
  Notetype_ConfigSchema,
  Notetype_Field_ConfigSchema,
  Notetype_Template_ConfigSchema,
} from "../../../src/collection/messages.js";

let dir: string;
let db: CollectionDb | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "create-test-"));
});
afterEach(() => {
  db?.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function fresh(now = new Date("2026-03-10T12:34:56Z")): CollectionDb {
  const path = join(dir, "collection.anki2");
  createEmptyCollection(path, now);
  db = openCollectionDb(path);
  return db;
}

type Row = Record<string, unknown>;

describe("createEmptyCollection", () => {
  it("passes the integrity check and leaves no temp files", () => {
    const c = fresh();
    expect(c.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(readdirSync(dir)).toEqual(["collection.anki2"]);
  });

  it("has every table and index of schema 18", () => {
    const c = fresh();
    const names = (c.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all() as Row[]).map(
      (r) => r.name,
    );
    expect(names.length).toBe(SCHEMA18_DDL.length);
    for (const t of ["col", "notes", "cards", "revlog", "graves", "config", "deck_config", "decks", "notetypes", "fields", "templates", "tags"]) {
      expect(names).toContain(t);
    }
    const withoutRowid = (c.prepare("SELECT name FROM pragma_table_list WHERE wr = 1 ORDER BY name").all() as Row[]).map(
      (r) => r.name,
    );
    expect(withoutRowid).toEqual(["config", "fields", "graves", "tags", "templates"]);
  });

  it("writes the col row like the official server", () => {
    const now = new Date("2026-03-10T12:34:56Z");
    const c = fresh(now);
    const col = c.prepare("SELECT *, typeof(conf) AS tc FROM col").get() as Row;
    expect(col).toMatchObject({
      id: 1,
      mod: 0,
      usn: 0,
      ls: 0,
      dty: 0,
      ver: 18,
      scm: now.getTime(),
      crt: creationTimeSecs(now),
      conf: "",
      models: "",
      decks: "",
      dconf: "",
      tags: "",
      tc: "text",
    });
  });

  it("stores config values as JSON BLOBs", () => {
    const c = fresh();
    const rows = c.prepare("SELECT KEY, usn, typeof(val) AS t, val FROM config ORDER BY KEY").all() as Row[];
    expect(rows.map((r) => r.KEY)).toEqual(
      [
        "activeDecks", "addToCur", "collapseTime", "creationOffset", "curDeck", "curModel", "dayLearnFirst", "dueCounts",
        "estTimes", "newSpread", "nextPos", "sched2021", "schedVer", "sortBackwards", "sortType", "timeLim",
      ],
    );
    for (const r of rows) {
      expect(r.t).toBe("blob");
      expect(r.usn).toBe(0);
      JSON.parse((r.val as Buffer).toString("utf8"));
    }
    const get = (k: string): unknown => JSON.parse((rows.find((r) => r.KEY === k)!.val as Buffer).toString());
    expect(get("activeDecks")).toEqual([1]);
    expect(get("creationOffset")).toBeNull();
    const basic = c.prepare("SELECT id FROM notetypes WHERE name = 'Basic'").get() as Row;
    expect(get("curModel")).toBe(basic.id);
  });

  it("has the default deck and preset", () => {
    const c = fresh();
    const deck = c.prepare("SELECT *, typeof(common) tc, typeof(kind) tk FROM decks").all() as Row[];
    expect(deck).toHaveLength(1);
    expect(deck[0]).toMatchObject({ id: 1, name: "Default", mtime_secs: 0, usn: 0, tc: "blob", tk: "blob" });
    expect([...(deck[0]!.common as Buffer)]).toEqual([0x08, 0x01, 0x10, 0x01]);
    expect([...(deck[0]!.kind as Buffer)]).toEqual([0x0a, 0x02, 0x08, 0x01]);
    const common = fromBinary(Deck_CommonSchema, deck[0]!.common as Buffer);
    expect(common.studyCollapsed && common.browserCollapsed).toBe(true);
    const kind = fromBinary(Deck_KindContainerSchema, deck[0]!.kind as Buffer);
    expect(kind.kind.case).toBe("normal");

    const dc = c.prepare("SELECT *, typeof(config) t FROM deck_config").all() as Row[];
    expect(dc).toHaveLength(1);
    expect(dc[0]).toMatchObject({ id: 1, name: "Default", mtime_secs: 0, usn: 0, t: "blob" });
    const conf = fromBinary(DeckConfig_ConfigSchema, dc[0]!.config as Buffer);
    expect(conf.learnSteps).toEqual([1, 10]);
    expect(conf.newPerDay).toBe(20);
    expect(conf.reviewsPerDay).toBe(200);
    expect(conf.initialEase).toBe(2.5);
    expect(conf.desiredRetention).toBe(Math.fround(0.9));
    expect(conf.easyDaysPercentages).toEqual([1, 1, 1, 1, 1, 1, 1]);
    // the map documents the exact 109-byte encoding of this preset
    expect((dc[0]!.config as Buffer).length).toBe(109);
  });

  it("has the six stock notetypes with fields and templates", () => {
    const now = new Date("2026-03-10T12:34:56Z");
    const c = fresh(now);
    const nts = c.prepare("SELECT *, typeof(config) t FROM notetypes ORDER BY id").all() as Row[];
    expect(nts.map((r) => r.name)).toEqual([
      "Basic",
      "Basic (and reversed card)",
      "Basic (optional reversed card)",
      "Basic (type in the answer)",
      "Cloze",
      "Image Occlusion",
    ]);
    expect(nts.map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5].map((i) => now.getTime() + i));
    for (const nt of nts) {
      expect(nt).toMatchObject({ mtime_secs: 0, usn: 0, t: "blob" });
      const cfg = fromBinary(Notetype_ConfigSchema, nt.config as Buffer);
      expect(cfg.css.length).toBeGreaterThan(0);
      expect(cfg.latexPost).toBe("\\end{document}");
    }
    const cloze = fromBinary(Notetype_ConfigSchema, nts[4]!.config as Buffer);
    expect(cloze.kind).toBe(1);
    expect(cloze.originalStockKind).toBe(5);

    const fields = c.prepare("SELECT ntid, ord, name, typeof(config) t, config FROM fields ORDER BY ntid, ord").all() as Row[];
    expect(fields).toHaveLength(2 + 2 + 3 + 2 + 2 + 5);
    const ids = new Set<bigint>();
    for (const f of fields) {
      expect(f.t).toBe("blob");
      const fc = fromBinary(Notetype_Field_ConfigSchema, f.config as Buffer);
      expect(fc.fontName).toBe("Arial");
      expect(fc.fontSize).toBe(20);
      expect(fc.id).toBeDefined();
      ids.add(fc.id!);
    }
    expect(ids.size).toBe(fields.length);
    const text = fromBinary(Notetype_Field_ConfigSchema, fields.find((f) => f.name === "Text")!.config as Buffer);
    expect(text.tag).toBe(0);
    expect(text.preventDeletion).toBe(true);

    const tmpls = c.prepare("SELECT ntid, ord, name, mtime_secs, usn, typeof(config) t, config FROM templates").all() as Row[];
    expect(tmpls).toHaveLength(1 + 2 + 2 + 1 + 1 + 1);
    for (const t of tmpls) {
      expect(t).toMatchObject({ mtime_secs: 0, usn: 0, t: "blob" });
      const tc = fromBinary(Notetype_Template_ConfigSchema, t.config as Buffer);
      expect(tc.id).toBeDefined();
      expect(tc.qFormat.length).toBeGreaterThan(0);
    }
  });

  it("has no notes, cards, revlog, graves or tags", () => {
    const c = fresh();
    for (const t of ["notes", "cards", "revlog", "graves", "tags"]) {
      expect((c.prepare(`SELECT count(*) n FROM ${t}`).get() as Row).n).toBe(0);
    }
  });

  it("never overwrites an existing file", () => {
    const path = join(dir, "collection.anki2");
    writeFileSync(path, "precious");
    expect(() => createEmptyCollection(path)).toThrow(CollectionExistsError);
    expect(readdirSync(dir)).toEqual(["collection.anki2"]);
  });
});

describe("creationTimeSecs", () => {
  it("is a 04:00 local at or before now, less than a day earlier", () => {
    for (const iso of ["2026-03-10T12:34:56Z", "2026-03-10T02:00:00Z", "2026-01-01T04:00:00Z"]) {
      const now = new Date(iso);
      const crt = creationTimeSecs(now);
      const nowSecs = Math.floor(now.getTime() / 1000);
      expect(crt).toBeLessThanOrEqual(nowSecs);
      expect(nowSecs - crt).toBeLessThan(86400);
      const local = new Date(crt * 1000);
      expect(local.getHours()).toBe(4);
      expect(local.getMinutes()).toBe(0);
    }
  });
});
