// The `col` row values that full sync and `meta` need.
import type { CollectionDb } from "../open.js";

export interface ColHeader {
  crt: number;
  mod: number;
  scm: number;
  ver: number;
  usn: number;
  ls: number;
}

export function readColHeader(db: CollectionDb): ColHeader {
  const row = db.prepare("SELECT crt, mod, scm, ver, usn, ls FROM col WHERE id = 1").get() as ColHeader | undefined;
  if (!row) throw new Error("collection has no col row");
  return row;
}

/** `empty` in meta: the collection has no cards (decides which full-sync directions the client offers). */
export function hasNoCards(db: CollectionDb): boolean {
  return db.prepare("SELECT NOT EXISTS (SELECT 1 FROM cards) AS empty").pluck().get() === 1;
}

/** A config value stored as JSON bytes, parsed; undefined when absent or unparsable. */
export function readConfigJson(db: CollectionDb, key: string): unknown {
  const row = db.prepare("SELECT val FROM config WHERE KEY = ?").pluck().get(key) as Buffer | string | undefined;
  if (row === undefined) return undefined;
  try {
    return JSON.parse(typeof row === "string" ? row : row.toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * What the official server does before a full download: the usn goes up by
 * one and `mod` is stamped, so client and server agree afterwards.
 */
export function bumpForDownload(db: CollectionDb, nowMs: number): void {
  db.prepare("UPDATE col SET usn = usn + 1, mod = ? WHERE id = 1").run(nowMs);
}
