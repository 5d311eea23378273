// Card rows as chunks carry them: 18-element arrays in column order.
import type { CollectionDb } from "../open.js";
import { expectArray, expectInt, expectRange, expectString } from "./parse.js";

export interface CardRow {
  id: number;
  nid: number;
  did: number;
  ord: number;
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

export function parseCardRow(value: unknown, what: string): CardRow {
  const a = expectArray(value, 18, what);
  const int = (i: number, name: string, lenient = false) => expectInt(a[i], `${what} ${name}`, lenient);
  return {
    id: int(0, "id"),
    nid: int(1, "nid"),
    did: int(2, "did"),
    ord: expectRange(int(3, "ord"), 0, 65535, `${what} ord`),
    mod: int(4, "mod", true),
    usn: int(5, "usn"),
    type: expectRange(int(6, "type"), 0, 3, `${what} type`),
    queue: expectRange(int(7, "queue"), -3, 4, `${what} queue`),
    due: int(8, "due", true),
    ivl: Math.max(0, int(9, "ivl", true)),
    factor: expectRange(int(10, "factor"), 0, 65535, `${what} factor`),
    reps: expectRange(int(11, "reps"), 0, 2 ** 32 - 1, `${what} reps`),
    lapses: expectRange(int(12, "lapses"), 0, 2 ** 32 - 1, `${what} lapses`),
    left: expectRange(int(13, "left"), 0, 2 ** 32 - 1, `${what} left`),
    odue: int(14, "odue", true),
    odid: int(15, "odid"),
    flags: expectRange(int(16, "flags"), 0, 255, `${what} flags`),
    data: expectString(a[17], `${what} data`),
  };
}

export function cardRowToJson(r: CardRow): unknown[] {
  return [r.id, r.nid, r.did, r.ord, r.mod, r.usn, r.type, r.queue, r.due, r.ivl, r.factor, r.reps, r.lapses, r.left, r.odue, r.odid, r.flags, r.data];
}

export function readCardRow(db: CollectionDb, id: number): CardRow | undefined {
  return db.prepare(`SELECT ${COLUMNS} FROM cards WHERE id = ?`).get(id) as CardRow | undefined;
}

export function cardUsnAndMod(db: CollectionDb, id: number): { usn: number; mod: number } | undefined {
  return db.prepare("SELECT usn, mod FROM cards WHERE id = ?").get(id) as { usn: number; mod: number } | undefined;
}

export function writeCardRow(db: CollectionDb, r: CardRow, usn: number): void {
  db.prepare(`INSERT OR REPLACE INTO cards (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    r.id, r.nid, r.did, r.ord, r.mod, usn, r.type, r.queue, r.due, r.ivl, r.factor, r.reps, r.lapses, r.left, r.odue, r.odid, r.flags, r.data,
  );
}
