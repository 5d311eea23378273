// Note rows as chunks carry them: 11-element arrays; sfld and csum travel as
// empty strings (the client rejects numbers there) and are recomputed on write.
import type { CollectionDb } from "../open.js";
import { deriveNoteColumns, joinTags } from "../note-text.js";
import { type NoteRow, writeNote } from "../storage/notes.js";
import { expectArray, expectInt, expectString } from "./parse.js";

/** The columns a note row carries on the wire (sfld, csum, flags and data are not). */
export type NoteEntry = Pick<NoteRow, "id" | "guid" | "mid" | "mod" | "usn" | "tags" | "flds">;

export function parseNoteEntry(value: unknown, what: string): NoteEntry {
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

export function noteEntryToJson(row: NoteEntry): unknown[] {
  return [row.id, row.guid, row.mid, row.mod, row.usn, row.tags, row.flds, "", "", 0, ""];
}

export interface NotetypeShape {
  fieldCount: number;
  sortFieldIdx: number;
}

export class NoteShapeError extends Error {}

/** Writes a note the way Anki's server does: checked against its notetype, fields cleaned, sfld/csum derived. */
export function writeNoteEntry(db: CollectionDb, row: NoteEntry, shape: NotetypeShape | undefined, usn: number): void {
  if (!shape) throw new NoteShapeError(`note ${row.id}: its notetype ${row.mid} does not exist`);
  const fields = row.flds.split("\u001f");
  const expected = Math.max(shape.fieldCount, 1);
  if (fields.length !== expected) {
    throw new NoteShapeError(`note ${row.id}: has ${fields.length} fields, its notetype has ${expected}`);
  }
  const derived = deriveNoteColumns(fields, shape.sortFieldIdx);
  writeNote(db, {
    ...row,
    usn,
    tags: joinTags(row.tags),
    flds: derived.fields.join("\u001f"),
    sfld: derived.sortField,
    csum: derived.checksum,
    flags: 0,
    data: "",
  });
}
