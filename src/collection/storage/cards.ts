// Rows of `cards`. `data` is a JSON object as TEXT (FSRS state, original
// position, custom data); it is stored as given.
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asInt, asText } from "./values.js";

export interface CardRow {
  id: number;
  nid: number;
  did: number;
  ord: number;
  /** modification time, seconds */
  mod: number;
  usn: number;
  type: number;
  queue: number;
  due: number;
  ivl: number;
  factor: number;
  reps: number;
  lapses: number;
  left: number;
  odue: number;
  odid: number;
  flags: number;
  data: string;
}

const COLUMNS = "id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data";
const INT_COLUMNS = [
  "nid", "did", "ord", "mod", "usn", "type", "queue", "due", "ivl", "factor", "reps", "lapses", "left", "odue",
  "odid", "flags",
] as const;

// An upsert rather than INSERT OR REPLACE: REPLACE deletes the old row and
// inserts a new one, rewriting every index entry; the update touches only the
// indexes whose columns changed (a review leaves nid alone, for one). The
// primary key is the table's only unique constraint, so the result is the same.
const UPSERT = `INSERT INTO cards (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET ${COLUMNS.split(", ")
  .slice(1)
  .map((c) => `${c} = excluded.${c}`)
  .join(", ")}`;

export function writeCard(db: CollectionDb, c: CardRow): void {
  prepareCached(db, UPSERT).run(
    c.id, c.nid, c.did, c.ord, c.mod, c.usn, c.type, c.queue, c.due, c.ivl, c.factor, c.reps, c.lapses, c.left,
    c.odue, c.odid, c.flags, c.data,
  );
}

// The same upsert, applied to an existing row only where the sync's conflict
// rule lets the incoming card win: the stored card has not changed since the
// client last synced (usn below the client's), or is older. One statement per
// card instead of a lookup and a write.
const UPSERT_IF_INCOMING_WINS = `${UPSERT} WHERE cards.usn < ? OR cards.mod < excluded.mod`;

/** Writes `c` unless the stored card changed since the client's last sync (usn >= clientUsn) and is at least as new. */
export function writeCardIfIncomingWins(db: CollectionDb, c: CardRow, clientUsn: number): void {
  prepareCached(db, UPSERT_IF_INCOMING_WINS).run(
    c.id, c.nid, c.did, c.ord, c.mod, c.usn, c.type, c.queue, c.due, c.ivl, c.factor, c.reps, c.lapses, c.left,
    c.odue, c.odid, c.flags, c.data, clientUsn,
  );
}

export function deleteCard(db: CollectionDb, id: number): void {
  prepareCached(db, "DELETE FROM cards WHERE id = ?").run(id);
}

type Row = Record<string, unknown>;

function rowToCard(r: Row): CardRow {
  const id = asInt(r.id, "card id");
  const out = { id, data: asText(r.data, `card ${id} data`) } as CardRow;
  for (const k of INT_COLUMNS) out[k] = asInt(r[k], `card ${id} ${k}`);
  return out;
}

export function readCard(db: CollectionDb, id: number): CardRow | undefined {
  const r = prepareCached(db, `SELECT ${COLUMNS} FROM cards WHERE id = ?`).get(id) as Row | undefined;
  return r === undefined ? undefined : rowToCard(r);
}
