// Note rows as chunks carry them: 11-element arrays; sfld and csum travel as
// empty strings (the client rejects numbers there) and are recomputed on write.
import type { CollectionDb } from "../open.js";
import { deriveNoteColumns, joinTags } from "../note-text.js";
import { expectArray, expectInt, expectString } from "./parse.js";

export interface NoteRow {
  id: number;
  guid: string;
  mid: number;
  mod: number;
  usn: number;
  tags: string;
  flds: string;
}

export type NoteRowJson = [number, string, number, number, number, string, string, "", "", 0, ""];

export function parseNoteRow(value: unknown, what: string): NoteRow {
  const a = expectArray(value, 11, what);
  return {
    id: expectInt(a[0], `${what} id`),
    guid: expectString(a[1], `${what} guid`),
    mid: expectInt(a[2], `${what} mid`),
    mod: expectInt(a[3], `${what} mod`),
    usn: expectInt(a[4], `${what} usn`),
    tags: expectString(a[5], `${what} tags`),
    flds: expectString(a[6], `${what} flds`),
  };
}

export function noteRowToJson(row: NoteRow): NoteRowJson {
  return [row.id, row.guid, row.mid, row.mod, row.usn, row.tags, row.flds, "", "", 0, ""];
}

export function readNoteRow(db: CollectionDb, id: number): NoteRow | undefined {
  return db.prepare("SELECT id, guid, mid, mod, usn, tags, flds FROM notes WHERE id = ?").get(id) as NoteRow | undefined;
}

export function noteUsnAndMod(db: CollectionDb, id: number): { usn: number; mod: number } | undefined {
  return db.prepare("SELECT usn, mod FROM notes WHERE id = ?").get(id) as { usn: number; mod: number } | undefined;
}

export interface NotetypeShape {
  fieldCount: number;
  sortFieldIdx: number;
}

export class NoteShapeError extends Error {}

/** Writes a note the way Anki's server does: checked against its notetype, fields cleaned, sfld/csum derived. */
export function writeNoteRow(db: CollectionDb, row: NoteRow, shape: NotetypeShape | undefined, usn: number): void {
  if (!shape) throw new NoteShapeError(`note ${row.id}: its notetype ${row.mid} does not exist`);
  const fields = row.flds.split("\u001f");
  const expected = Math.max(shape.fieldCount, 1);
  if (fields.length !== expected) {
    throw new NoteShapeError(`note ${row.id}: has ${fields.length} fields, its notetype has ${expected}`);
  }
  const derived = deriveNoteColumns(fields, shape.sortFieldIdx);
  db.prepare(
    "INSERT OR REPLACE INTO notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '')",
  ).run(row.id, row.guid, row.mid, row.mod, usn, joinTags(row.tags), derived.fields.join("\u001f"), derived.sortField, derived.checksum);
}
