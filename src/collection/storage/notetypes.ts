// Rows of `notetypes`, `fields` and `templates` (schema 18). A notetype is
// always written as a whole: its core row is replaced and all its field and
// template rows are deleted and re-inserted with ord = list position, as
// rslib does (the unique (name, ntid) indexes would otherwise trip over
// renamed or reordered entries).
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import {
  Notetype_ConfigSchema,
  Notetype_Field_ConfigSchema,
  Notetype_Template_ConfigSchema,
  decodeMessage,
  encodeMessage,
  type Notetype_Config,
  type Notetype_Field_Config,
  type Notetype_Template_Config,
} from "../messages.js";
import { asInt, asText } from "./values.js";

export interface StoredField {
  name: string;
  config: Notetype_Field_Config;
}

export interface StoredTemplate {
  name: string;
  mtimeSecs: number;
  usn: number;
  config: Notetype_Template_Config;
}

export interface StoredNotetype {
  id: number;
  name: string;
  mtimeSecs: number;
  usn: number;
  config: Notetype_Config;
  /** In ord order; a field's ord is its index. */
  fields: StoredField[];
  /** In ord order; a template's ord is its index. */
  templates: StoredTemplate[];
}

/** Inserts or replaces a notetype with its fields and templates. Caller owns the transaction. */
export function writeNotetype(db: CollectionDb, nt: StoredNotetype): void {
  if (nt.fields.length === 0) throw new Error(`notetype ${nt.id} (${nt.name}): at least one field is required`);
  if (nt.templates.length === 0) throw new Error(`notetype ${nt.id} (${nt.name}): at least one template is required`);
  prepareCached(db, 
    "INSERT OR REPLACE INTO notetypes (id, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?)",
  ).run(nt.id, nt.name, nt.mtimeSecs, nt.usn, encodeMessage(Notetype_ConfigSchema, nt.config));
  prepareCached(db, "DELETE FROM fields WHERE ntid = ?").run(nt.id);
  const addField = prepareCached(db, "INSERT INTO fields (ntid, ord, name, config) VALUES (?, ?, ?, ?)");
  nt.fields.forEach((f, ord) => {
    addField.run(nt.id, ord, f.name, encodeMessage(Notetype_Field_ConfigSchema, f.config));
  });
  prepareCached(db, "DELETE FROM templates WHERE ntid = ?").run(nt.id);
  const addTemplate = prepareCached(db, 
    "INSERT INTO templates (ntid, ord, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?, ?)",
  );
  nt.templates.forEach((t, ord) => {
    addTemplate.run(nt.id, ord, t.name, t.mtimeSecs, t.usn, encodeMessage(Notetype_Template_ConfigSchema, t.config));
  });
}

/** Removes a notetype and its fields and templates (not its notes). */
export function deleteNotetype(db: CollectionDb, id: number): void {
  prepareCached(db, "DELETE FROM notetypes WHERE id = ?").run(id);
  prepareCached(db, "DELETE FROM fields WHERE ntid = ?").run(id);
  prepareCached(db, "DELETE FROM templates WHERE ntid = ?").run(id);
}

type Row = Record<string, unknown>;

function readFields(db: CollectionDb, ntid: number): StoredField[] {
  const rows = prepareCached(db, "SELECT ord, name, config FROM fields WHERE ntid = ? ORDER BY ord").all(ntid) as Row[];
  return rows.map((r) => ({
    name: asText(r.name, `notetype ${ntid} field name`),
    config: decodeMessage(Notetype_Field_ConfigSchema, r.config, `notetype ${ntid} field ${String(r.ord)} config`),
  }));
}

function readTemplates(db: CollectionDb, ntid: number): StoredTemplate[] {
  const rows = prepareCached(db, "SELECT ord, name, mtime_secs, usn, config FROM templates WHERE ntid = ? ORDER BY ord")
    .all(ntid) as Row[];
  return rows.map((r) => {
    const what = `notetype ${ntid} template ${String(r.ord)}`;
    return {
      name: asText(r.name, `${what} name`),
      mtimeSecs: asInt(r.mtime_secs, `${what} mtime_secs`),
      usn: asInt(r.usn, `${what} usn`),
      config: decodeMessage(Notetype_Template_ConfigSchema, r.config, `${what} config`),
    };
  });
}

function rowToNotetype(db: CollectionDb, r: Row): StoredNotetype {
  const id = asInt(r.id, "notetype id");
  return {
    id,
    name: asText(r.name, `notetype ${id} name`),
    mtimeSecs: asInt(r.mtime_secs, `notetype ${id} mtime_secs`),
    usn: asInt(r.usn, `notetype ${id} usn`),
    config: decodeMessage(Notetype_ConfigSchema, r.config, `notetype ${id} config`),
    fields: readFields(db, id),
    templates: readTemplates(db, id),
  };
}

export function readNotetype(db: CollectionDb, id: number): StoredNotetype | undefined {
  const row = prepareCached(db, "SELECT id, name, mtime_secs, usn, config FROM notetypes WHERE id = ?").get(id) as
    | Row
    | undefined;
  return row === undefined ? undefined : rowToNotetype(db, row);
}

/** All notetypes in id order. */
export function readAllNotetypes(db: CollectionDb): StoredNotetype[] {
  const rows = prepareCached(db, "SELECT id, name, mtime_secs, usn, config FROM notetypes ORDER BY id").all() as Row[];
  return rows.map((r) => rowToNotetype(db, r));
}

/** Notetypes changed since a client's last sync (usn >= minUsn), in id order. */
export function readNotetypesSince(db: CollectionDb, minUsn: number): StoredNotetype[] {
  const rows = prepareCached(db, "SELECT id, name, mtime_secs, usn, config FROM notetypes WHERE usn >= ? ORDER BY id")
    .all(minUsn) as Row[];
  return rows.map((r) => rowToNotetype(db, r));
}

/** Id of the notetype with this name under unicase comparison, if any. */
export function notetypeIdByName(db: CollectionDb, name: string): number | undefined {
  const row = prepareCached(db, "SELECT id FROM notetypes WHERE name = ?").get(name) as Row | undefined;
  return row === undefined ? undefined : asInt(row.id, "notetype id");
}
