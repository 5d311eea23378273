// Rows and objects as a client sends them, and a read-only look at the stored
// collection file (what a user would find in it with any SQLite tool).
import Database from "better-sqlite3";
import type { CardRow, Counts, LegacyObject, NoteRow, RevlogRow, ServerChanges } from "./client.js";

const FIELD_SEPARATOR = "\u001f";

export function note(id: number, mid: number, mod: number, fields: string[], tags = ""): NoteRow {
  return [id, `guid${id}`, mid, mod, 0, tags, fields.join(FIELD_SEPARATOR), "", "", 0, ""];
}

/** A new card of a note, in deck `did`. */
export function card(id: number, nid: number, did: number, mod: number, due = 1): CardRow {
  return [id, nid, did, 0, mod, 0, 0, 0, due, 0, 0, 0, 0, 0, 0, 0, 0, "{}"];
}

export function review(id: number, cid: number, ease = 3): RevlogRow {
  return [id, cid, 0, ease, 1, 0, 2500, 6000, 1];
}

/** A normal deck in the legacy JSON shape of applyChanges. */
export function deck(id: number, name: string, mod: number): LegacyObject {
  return {
    id,
    mod,
    name,
    usn: 0,
    lrnToday: [0, 0],
    revToday: [0, 0],
    newToday: [0, 0],
    timeToday: [0, 0],
    collapsed: false,
    browserCollapsed: false,
    desc: "",
    dyn: 0,
    conf: 1,
    extendNew: 0,
    extendRev: 0,
  };
}

/** The id of the server's stock notetype with this name, from an applyChanges reply. */
export function notetypeId(changes: ServerChanges, name: string): number {
  const found = changes.models.find((m) => m.name === name);
  if (!found) throw new Error(`no notetype "${name}" in ${changes.models.map((m) => m.name).join(", ")}`);
  return Number(found.id);
}

/** Counts as sanityCheck2 takes them (due counts and graves are not compared). */
export function counts(c: { cards: number; notes: number; revlog: number; notetypes: number; decks: number; deckConfigs: number }): Counts {
  return [[0, 0, 0], c.cards, c.notes, c.revlog, 0, c.notetypes, c.decks, c.deckConfigs];
}

export interface StoredNote {
  id: number;
  mid: number;
  mod: number;
  usn: number;
  tags: string;
  flds: string;
  sfld: string | number;
  csum: number;
}

/** Reads the stored collection with a separate, read-only connection: only committed data is visible. */
export class StoredCollection {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
  }

  col(): { usn: number; mod: number; ls: number } {
    return this.db.prepare("SELECT usn, mod, ls FROM col").get() as { usn: number; mod: number; ls: number };
  }
  notes(): StoredNote[] {
    return this.db.prepare("SELECT id, mid, mod, usn, tags, flds, sfld, csum FROM notes ORDER BY id").all() as StoredNote[];
  }
  cards(): { id: number; nid: number; did: number; mod: number; usn: number; due: number }[] {
    return this.db.prepare("SELECT id, nid, did, mod, usn, due FROM cards ORDER BY id").all() as { id: number; nid: number; did: number; mod: number; usn: number; due: number }[];
  }
  revlog(): { id: number; cid: number; usn: number; ease: number }[] {
    return this.db.prepare("SELECT id, cid, usn, ease FROM revlog ORDER BY id").all() as { id: number; cid: number; usn: number; ease: number }[];
  }
  graves(): { oid: number; type: number; usn: number }[] {
    return this.db.prepare("SELECT oid, type, usn FROM graves ORDER BY type, oid").all() as { oid: number; type: number; usn: number }[];
  }
  count(table: "notetypes" | "decks" | "deck_config"): number {
    // NOT INDEXED: their indexes use the unicase collation, which this plain connection lacks.
    return this.db.prepare(`SELECT count() FROM ${table} NOT INDEXED`).pluck().get() as number;
  }
  close(): void {
    this.db.close();
  }
}

/** Runs `read` against the stored collection and closes it again. */
export function stored<T>(path: string, read: (col: StoredCollection) => T): T {
  const col = new StoredCollection(path);
  try {
    return read(col);
  } finally {
    col.close();
  }
}
