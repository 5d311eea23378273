import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MediaDb, addedEntry, removedEntry, replacedEntry } from "../../../src/media/db.js";
import { tempUserDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempUserDir()));
afterEach(() => cleanup());

const sha = (n: number) => Buffer.alloc(20, n);

describe("server media database", () => {
  it("creates the official layout: media.db at schema 4 and a media/ folder", () => {
    MediaDb.open(dir).close();
    expect(existsSync(join(dir, "media"))).toBe(true);
    const db = new Database(join(dir, "media.db"), { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(4);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const cols = (t: string) => (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string; type: string; notnull: number; pk: number }[]).map((c) => [c.name, c.type, c.notnull, c.pk]);
    expect(cols("media")).toEqual([
      ["fname", "TEXT", 1, 1],
      ["csum", "BLOB", 1, 0],
      ["size", "INT", 1, 0],
      ["usn", "INT", 1, 0],
      ["mtime", "INT", 1, 0],
    ]);
    expect(cols("meta")).toEqual([
      ["last_usn", "INT", 1, 0],
      ["total_bytes", "INT", 1, 0],
      ["total_nonempty_files", "INT", 1, 0],
    ]);
    expect(db.prepare("SELECT * FROM meta").all()).toEqual([{ last_usn: 0, total_bytes: 0, total_nonempty_files: 0 }]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'ix_usn'").get()).toBeTruthy();
    db.close();
  });

  it("upgrades a version 3 database the way the official server does", () => {
    const raw = new Database(join(dir, "media.db"));
    raw.exec(`
      CREATE TABLE media (fname text NOT NULL PRIMARY KEY, csum blob, sz int NOT NULL, usn int NOT NULL, deleted int NOT NULL);
      CREATE INDEX ix_usn ON media (usn);
      CREATE TABLE meta (usn int NOT NULL, sz int NOT NULL);
      INSERT INTO meta VALUES (3, 15);
      PRAGMA user_version = 3;
    `);
    const ins = raw.prepare("INSERT INTO media VALUES (?, ?, ?, ?, ?)");
    ins.run("a.jpg", sha(1), 10, 1, 0);
    ins.run("b.jpg", sha(2), 5, 2, 0);
    ins.run("gone.jpg", null, 0, 3, 1);
    raw.close();
    const db = MediaDb.open(dir);
    try {
      expect(db.meta()).toEqual({ lastUsn: 2, totalBytes: 15, totalNonemptyFiles: 2 });
      expect(db.entry("gone.jpg")).toBeUndefined();
      expect(db.entry("a.jpg")).toMatchObject({ size: 10, usn: 1, mtime: 0 });
      expect(db.db.pragma("user_version", { simple: true })).toBe(4);
    } finally {
      db.close();
    }
  });

  it("refuses a newer schema", () => {
    const raw = new Database(join(dir, "media.db"));
    raw.pragma("user_version = 5");
    raw.close();
    expect(() => MediaDb.open(dir)).toThrow(/schema version 5/);
  });

  it("lists changes in usn order, deletions with an empty sha1, up to the limit", () => {
    const db = MediaDb.open(dir);
    try {
      db.transaction((meta) => {
        // inserted out of name order so that rowid order differs from usn order
        db.setEntry(addedEntry(meta, "z.jpg", sha(1), 3));
        db.setEntry(addedEntry(meta, "a.jpg", sha(2), 4));
        db.setEntry(addedEntry(meta, "m.jpg", sha(3), 5));
      });
      db.transaction((meta) => {
        const z = db.nonemptyEntry("z.jpg")!;
        db.setEntry(replacedEntry(meta, z, sha(9), 7));
        db.setEntry(removedEntry(meta, db.nonemptyEntry("a.jpg")!));
      });
      expect(db.changesAfter(0, 1000)).toEqual([
        ["m.jpg", 3, "03".repeat(20)],
        ["z.jpg", 4, "09".repeat(20)],
        ["a.jpg", 5, ""],
      ]);
      expect(db.changesAfter(3, 1)).toEqual([["z.jpg", 4, "09".repeat(20)]]);
      expect(db.changesAfter(5, 1000)).toEqual([]);
      expect(db.meta()).toEqual({ lastUsn: 5, totalBytes: 12, totalNonemptyFiles: 2 });
      // a deletion keeps its row and its checksum
      expect(db.entry("a.jpg")).toMatchObject({ size: 0, usn: 5, sha1: sha(2) });
      expect(db.nonemptyEntry("a.jpg")).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it("forgets a row without a usn or a deletion record", () => {
    const db = MediaDb.open(dir);
    try {
      db.transaction((meta) => {
        db.setEntry(addedEntry(meta, "a.jpg", sha(1), 3));
        db.setEntry(addedEntry(meta, "b.jpg", sha(2), 4));
      });
      db.forget(db.nonemptyEntry("a.jpg")!);
      expect(db.entry("a.jpg")).toBeUndefined();
      expect(db.meta()).toEqual({ lastUsn: 2, totalBytes: 4, totalNonemptyFiles: 1 });
      expect(db.changesAfter(0, 10)).toEqual([["b.jpg", 2, "02".repeat(20)]]);
    } finally {
      db.close();
    }
  });

  it("rolls a failed transaction back completely", () => {
    const db = MediaDb.open(dir);
    try {
      expect(() =>
        db.transaction((meta) => {
          db.setEntry(addedEntry(meta, "a.jpg", sha(1), 3));
          throw new Error("boom");
        }),
      ).toThrow("boom");
      expect(db.meta()).toEqual({ lastUsn: 0, totalBytes: 0, totalNonemptyFiles: 0 });
      expect(db.entry("a.jpg")).toBeUndefined();
    } finally {
      db.close();
    }
  });
});
