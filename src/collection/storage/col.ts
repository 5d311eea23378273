// The single `col` row (id = 1). In schema 18 its five JSON columns are
// empty strings; in schema 11 they hold the legacy JSON maps.
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asInt, asText } from "./values.js";

export interface ColRow {
  /** creation time, seconds */
  crt: number;
  /** last modification, milliseconds */
  mod: number;
  /** schema modification time, milliseconds */
  scm: number;
  ver: number;
  dty: number;
  usn: number;
  /** last sync, milliseconds */
  ls: number;
  conf: string;
  models: string;
  decks: string;
  dconf: string;
  tags: string;
}

export function readCol(db: CollectionDb): ColRow {
  const r = prepareCached(db, "SELECT crt, mod, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags FROM col WHERE id = 1").get() as
    | Record<string, unknown>
    | undefined;
  if (r === undefined) throw new Error("col: the collection has no col row");
  return {
    crt: asInt(r.crt, "col.crt"),
    mod: asInt(r.mod, "col.mod"),
    scm: asInt(r.scm, "col.scm"),
    ver: asInt(r.ver, "col.ver"),
    dty: asInt(r.dty, "col.dty"),
    usn: asInt(r.usn, "col.usn"),
    ls: asInt(r.ls, "col.ls"),
    conf: asText(r.conf, "col.conf"),
    models: asText(r.models, "col.models"),
    decks: asText(r.decks, "col.decks"),
    dconf: asText(r.dconf, "col.dconf"),
    tags: asText(r.tags, "col.tags"),
  };
}

/** Inserts or replaces the col row as a whole. */
export function writeCol(db: CollectionDb, c: ColRow): void {
  prepareCached(db, 
    "INSERT OR REPLACE INTO col (id, crt, mod, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags) " +
      "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  ).run(c.crt, c.mod, c.scm, c.ver, c.dty, c.usn, c.ls, c.conf, c.models, c.decks, c.dconf, c.tags);
}

const HEADER_COLUMNS = ["crt", "mod", "scm", "ver", "usn", "ls"] as const;

/** Updates some header values (the JSON columns are left alone). */
export function updateCol(
  db: CollectionDb,
  changes: Partial<Pick<ColRow, "crt" | "mod" | "scm" | "ver" | "usn" | "ls">>,
): void {
  // only whitelisted column names are interpolated into the SQL
  const keys = HEADER_COLUMNS.filter((k) => changes[k] !== undefined);
  if (keys.length === 0) return;
  const sets = keys.map((k) => `${k} = ?`).join(", ");
  prepareCached(db, `UPDATE col SET ${sets} WHERE id = 1`).run(...keys.map((k) => changes[k]));
}
