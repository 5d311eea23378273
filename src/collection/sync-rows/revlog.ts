// Revlog rows as chunks carry them: 9-element arrays in column order.
import type { RevlogRow } from "../storage/revlog.js";
import { expectArray, expectInt, expectRange } from "./parse.js";

export function parseRevlogEntry(value: unknown, what: string): RevlogRow {
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

export function revlogEntryToJson(r: RevlogRow): unknown[] {
  return [r.id, r.cid, r.usn, r.ease, r.ivl, r.lastIvl, r.factor, r.time, r.type];
}
