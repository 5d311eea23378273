// Rows of `graves` (schema 18: primary key (oid, type), WITHOUT ROWID).
// A second grave for the same object keeps the first one's usn, as rslib's
// "insert or ignore" does.
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asInt } from "./values.js";

export const GraveType = { Card: 0, Note: 1, Deck: 2 } as const;
export type GraveType = (typeof GraveType)[keyof typeof GraveType];

export interface GraveRow {
  oid: number;
  type: GraveType;
  usn: number;
}

export function addGrave(db: CollectionDb, oid: number, type: GraveType, usn: number): void {
  prepareCached(db, "INSERT OR IGNORE INTO graves (oid, type, usn) VALUES (?, ?, ?)").run(oid, type, usn);
}

function toType(v: unknown): GraveType {
  const n = asInt(v, "grave type");
  if (n !== 0 && n !== 1 && n !== 2) throw new Error(`grave type: unknown value ${n}`);
  return n;
}

type Row = Record<string, unknown>;

/** Graves with usn >= minUsn, ordered by type then oid. */
export function readGravesSince(db: CollectionDb, minUsn: number): GraveRow[] {
  const rows = prepareCached(db, "SELECT oid, type, usn FROM graves WHERE usn >= ? ORDER BY type, oid").all(minUsn) as Row[];
  return rows.map((r) => ({ oid: asInt(r.oid, "grave oid"), type: toType(r.type), usn: asInt(r.usn, "grave usn") }));
}
