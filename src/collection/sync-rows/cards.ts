// Card rows as chunks carry them: 18-element arrays in column order.
import type { CardRow } from "../storage/cards.js";
import { expectArray, expectInt, expectRange, expectString } from "./parse.js";

export function parseCardEntry(value: unknown, what: string): CardRow {
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
    // Anki reads negative intervals as 0.
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

export function cardEntryToJson(r: CardRow): unknown[] {
  return [r.id, r.nid, r.did, r.ord, r.mod, r.usn, r.type, r.queue, r.due, r.ivl, r.factor, r.reps, r.lapses, r.left, r.odue, r.odid, r.flags, r.data];
}
