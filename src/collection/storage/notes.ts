// Rows of `notes`. The writer stores the columns it is given; sort field and
// checksum (sfld, csum) must already be computed by the caller (the sync
// wire format sends them empty; deriveNoteColumns in ../note-text.ts
// computes them as rslib does).
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asInt, asText } from "./values.js";

export interface NoteRow {
  id: number;
  guid: string;
  /** notetype id */
  mid: number;
  /** modification time, seconds */
  mod: number;
  usn: number;
  /** " tag1 tag2 " or "" */
  tags: string;
  /** field values joined with "\x1f" */
  flds: string;
  /** sort field text; integer affinity turns numeric text into a number */
  sfld: string | number;
  csum: number;
  flags: number;
  data: string;
}

const COLUMNS = "id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data";

// An upsert rather than INSERT OR REPLACE (see cards.ts): only the indexes
// whose columns changed are rewritten; the primary key is the only unique constraint.
const UPSERT = `INSERT INTO notes (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET ${COLUMNS.split(", ")
  .slice(1)
  .map((c) => `${c} = excluded.${c}`)
  .join(", ")}`;

export function writeNote(db: CollectionDb, n: NoteRow): void {
  prepareCached(db, UPSERT).run(
    n.id, n.guid, n.mid, n.mod, n.usn, n.tags, n.flds, n.sfld, n.csum, n.flags, n.data,
  );
}

export function deleteNote(db: CollectionDb, id: number): void {
  prepareCached(db, "DELETE FROM notes WHERE id = ?").run(id);
}

type Row = Record<string, unknown>;

function rowToNote(r: Row): NoteRow {
  const id = asInt(r.id, "note id");
  const w = `note ${id}`;
  const sfld = r.sfld;
  return {
    id,
    guid: asText(r.guid, `${w} guid`),
    mid: asInt(r.mid, `${w} mid`),
    mod: asInt(r.mod, `${w} mod`),
    usn: asInt(r.usn, `${w} usn`),
    tags: asText(r.tags, `${w} tags`),
    flds: asText(r.flds, `${w} flds`),
    sfld: typeof sfld === "number" ? sfld : asText(sfld, `${w} sfld`),
    csum: asInt(r.csum, `${w} csum`),
    flags: asInt(r.flags, `${w} flags`),
    data: asText(r.data, `${w} data`),
  };
}

export function readNote(db: CollectionDb, id: number): NoteRow | undefined {
  const r = prepareCached(db, `SELECT ${COLUMNS} FROM notes WHERE id = ?`).get(id) as Row | undefined;
  return r === undefined ? undefined : rowToNote(r);
}

/** Notes with usn >= minUsn (or all with minUsn = -Infinity), in id order. */
export function readNotesSince(db: CollectionDb, minUsn: number): NoteRow[] {
  return (prepareCached(db, `SELECT ${COLUMNS} FROM notes WHERE usn >= ? ORDER BY id`).all(minUsn) as Row[]).map(rowToNote);
}

/** (mtime, usn) of a stored note, for the sync merge rule. */
export function noteMtimeUsn(db: CollectionDb, id: number): { mod: number; usn: number } | undefined {
  const r = prepareCached(db, "SELECT mod, usn FROM notes WHERE id = ?").get(id) as Row | undefined;
  return r === undefined ? undefined : { mod: asInt(r.mod, `note ${id} mod`), usn: asInt(r.usn, `note ${id} usn`) };
}
