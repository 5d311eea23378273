// The few collection-wide values that `meta` and full sync need beyond the col row.
import type { CollectionDb } from "../open.js";
import { readConfigEntry } from "../storage/config.js";

/** `empty` in meta: the collection has no cards (decides which full-sync directions the client offers). */
export function hasNoCards(db: CollectionDb): boolean {
  return db.prepare("SELECT NOT EXISTS (SELECT 1 FROM cards) AS empty").pluck().get() === 1;
}

/** A config value parsed from its JSON bytes; undefined when absent or unparsable. */
export function readConfigJson(db: CollectionDb, key: string): unknown {
  const entry = readConfigEntry(db, key);
  if (entry === undefined) return undefined;
  try {
    return JSON.parse(entry.value.toString("utf8"));
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
