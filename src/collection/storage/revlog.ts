// Rows of `revlog`. Entries are immutable: sync inserts them with
// "insert or ignore", keeping an existing row with the same id.
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asInt } from "./values.js";

export interface RevlogRow {
  /** review time, ms */
  id: number;
  cid: number;
  usn: number;
  ease: number;
  ivl: number;
  lastIvl: number;
  factor: number;
  /** answer time, ms */
  time: number;
  type: number;
}

const COLUMNS = "id, cid, usn, ease, ivl, lastIvl, factor, time, type";
const INT_COLUMNS = ["cid", "usn", "ease", "ivl", "lastIvl", "factor", "time", "type"] as const;

/** Inserts unless an entry with this id exists. Returns true if inserted. */
export function addRevlog(db: CollectionDb, r: RevlogRow): boolean {
  const info = prepareCached(db, `INSERT OR IGNORE INTO revlog (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    .run(r.id, r.cid, r.usn, r.ease, r.ivl, r.lastIvl, r.factor, r.time, r.type);
  return info.changes > 0;
}

type Row = Record<string, unknown>;

function rowToRevlog(r: Row): RevlogRow {
  const id = asInt(r.id, "revlog id");
  const out = { id } as RevlogRow;
  for (const k of INT_COLUMNS) out[k] = asInt(r[k], `revlog ${id} ${k}`);
  return out;
}

export function readRevlog(db: CollectionDb, id: number): RevlogRow | undefined {
  const r = prepareCached(db, `SELECT ${COLUMNS} FROM revlog WHERE id = ?`).get(id) as Row | undefined;
  return r === undefined ? undefined : rowToRevlog(r);
}

export function readAllRevlog(db: CollectionDb): RevlogRow[] {
  return (prepareCached(db, `SELECT ${COLUMNS} FROM revlog ORDER BY id`).all() as Row[]).map(rowToRevlog);
}
