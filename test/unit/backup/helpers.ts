// A data folder with real users for the backup tests: collections made the
// way the server makes them, media.db entries the way uploads record them.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createEmptyCollection } from "../../../src/collection/create.js";
import { addedEntry, MediaDb } from "../../../src/media/db.js";
import { setLogLevel } from "../../../src/log.js";

setLogLevel("error");

export function tempRoot(): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), "anki-backup-test-"));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Adds a user with a fresh collection (given header values) and media files. */
export function makeUser(base: string, name: string, media: Record<string, Buffer>, col: { scm?: number; mod?: number; usn?: number } = {}): string {
  const dir = join(base, name);
  mkdirSync(join(dir, "media"), { recursive: true });
  const path = join(dir, "collection.anki2");
  createEmptyCollection(path);
  setCol(path, col);
  addMedia(dir, media);
  return dir;
}

export function setCol(path: string, col: { scm?: number; mod?: number; usn?: number }): void {
  const db = new Database(path);
  try {
    for (const [k, v] of Object.entries(col)) if (v !== undefined) db.prepare(`UPDATE col SET ${k} = ?`).run(v);
  } finally {
    db.close();
  }
}

export function readCol(path: string): { scm: number; mod: number; usn: number } {
  const db = new Database(path);
  try {
    return db.prepare("SELECT scm, mod, usn FROM col").get() as { scm: number; mod: number; usn: number };
  } finally {
    db.close();
  }
}

export function addMedia(userDir: string, media: Record<string, Buffer>): void {
  const db = MediaDb.open(userDir);
  try {
    db.transaction((meta) => {
      for (const [fname, data] of Object.entries(media)) {
        writeFileSync(join(userDir, "media", fname), data);
        db.setEntry(addedEntry(meta, fname, createHash("sha1").update(data).digest(), data.length));
      }
    });
  } finally {
    db.close();
  }
}

export function mediaRows(userDir: string): { fname: string; usn: number; size: number }[] {
  const db = new Database(join(userDir, "media.db"));
  try {
    return db.prepare("SELECT fname, usn, size FROM media ORDER BY usn").all() as { fname: string; usn: number; size: number }[];
  } finally {
    db.close();
  }
}

export function mediaMeta(userDir: string): { last_usn: number; total_bytes: number; total_nonempty_files: number } {
  const db = new Database(join(userDir, "media.db"));
  try {
    return db.prepare("SELECT * FROM meta").get() as { last_usn: number; total_bytes: number; total_nonempty_files: number };
  } finally {
    db.close();
  }
}
