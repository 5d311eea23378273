// Rows of `config` (schema >= 14): one row per key, val = the value's JSON
// text stored as a BLOB. rslib reads val with a blob accessor, so binding a
// string (TEXT) would make its get_all_config fail.
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asBlob, asInt, asText } from "./values.js";

export interface StoredConfigEntry {
  key: string;
  usn: number;
  mtimeSecs: number;
  /** UTF-8 JSON text of the value. */
  value: Buffer;
}

/** Inserts or replaces one entry. `json` is the value's JSON text. */
export function writeConfigEntry(db: CollectionDb, key: string, json: string, usn: number, mtimeSecs: number): void {
  prepareCached(db, "INSERT OR REPLACE INTO config (KEY, usn, mtime_secs, val) VALUES (?, ?, ?, ?)").run(
    key,
    usn,
    mtimeSecs,
    Buffer.from(json, "utf8"),
  );
}

/** Deletes every entry; used when a sync peer sends its whole config map. */
export function deleteAllConfig(db: CollectionDb): void {
  prepareCached(db, "DELETE FROM config").run();
}

type Row = Record<string, unknown>;

function rowToEntry(r: Row): StoredConfigEntry {
  const key = asText(r.KEY, "config key");
  return {
    key,
    usn: asInt(r.usn, `config ${key} usn`),
    mtimeSecs: asInt(r.mtime_secs, `config ${key} mtime_secs`),
    value: asBlob(r.val, `config ${key} val`),
  };
}

export function readConfigEntry(db: CollectionDb, key: string): StoredConfigEntry | undefined {
  const row = prepareCached(db, "SELECT KEY, usn, mtime_secs, val FROM config WHERE KEY = ?").get(key) as Row | undefined;
  return row === undefined ? undefined : rowToEntry(row);
}

/** All entries in key order. */
export function readAllConfig(db: CollectionDb): StoredConfigEntry[] {
  return (prepareCached(db, "SELECT KEY, usn, mtime_secs, val FROM config ORDER BY KEY").all() as Row[]).map(rowToEntry);
}
