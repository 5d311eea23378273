// Revlog rows as chunks carry them: 9-element arrays. Reviews are history:
// an entry that already exists is never overwritten.
import type { CollectionDb } from "../open.js";
import { expectArray, expectInt, expectRange } from "./parse.js";

export interface RevlogRow {
  id: number;
  cid: number;
  usn: number;
  ease: number;
  ivl: number;
  lastIvl: number;
  factor: number;
  time: number;
  type: number;
}

export function parseRevlogRow(value: unknown, what: string): RevlogRow {
  const a = expectArray(value, 9, what);
  const int = (i: number, name: string, lenient = false) => expectInt(a[i], `${what} ${name}`, lenient);
  const type = int(8, "type");
  return {
    id: int(0, "id"),
    cid: int(1, "cid"),
    usn: int(2, "usn"),
    ease: expectRange(int(3, "ease"), 0, 255, `${what} ease`),
    ivl: int(4, "ivl", true),
    lastIvl: int(5, "lastIvl", true),
    factor: Math.max(0, int(6, "factor", true)),
    time: Math.max(0, int(7, "time", true)),
    // Unknown review kinds become manual (0), as Anki reads them.
    type: type >= 0 && type <= 5 ? type : 0,
  };
}

export function revlogRowToJson(r: RevlogRow): unknown[] {
  return [r.id, r.cid, r.usn, r.ease, r.ivl, r.lastIvl, r.factor, r.time, r.type];
}

export function readRevlogRow(db: CollectionDb, id: number): RevlogRow | undefined {
  return db
    .prepare('SELECT id, cid, usn, ease, ivl, lastIvl AS "lastIvl", factor, time, type FROM revlog WHERE id = ?')
    .get(id) as RevlogRow | undefined;
}

export function insertRevlogIfAbsent(db: CollectionDb, r: RevlogRow, usn: number): void {
  db.prepare("INSERT OR IGNORE INTO revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
    r.id, r.cid, usn, r.ease, r.ivl, r.lastIvl, r.factor, r.time, r.type,
  );
}
