// The SQLite layout of an Anki collection at schema version 18, as a file
// created by rslib ends up after its 11 -> 18 upgrade chain. Column types,
// WITHOUT ROWID and COLLATE unicase must match exactly: the client runs
// `PRAGMA integrity_check` on every downloaded file and keeps inserting into
// these b-trees, so any difference in keys or collations corrupts its indexes.
//
// The `unicase` collation must be registered on the connection (see
// open.ts) before these statements run.
import type { CollectionDb } from "./open.js";

export const SCHEMA_VERSION = 18;

/** Tables of a schema-18 collection, in the order rslib creates them. */
const TABLES: readonly string[] = [
  `CREATE TABLE col (
  id integer PRIMARY KEY,
  crt integer NOT NULL,
  mod integer NOT NULL,
  scm integer NOT NULL,
  ver integer NOT NULL,
  dty integer NOT NULL,
  usn integer NOT NULL,
  ls integer NOT NULL,
  conf text NOT NULL,
  models text NOT NULL,
  decks text NOT NULL,
  dconf text NOT NULL,
  tags text NOT NULL
)`,
  // sfld is declared integer on purpose: numeric sort fields then sort
  // numerically (the value is still written as text).
  `CREATE TABLE notes (
  id integer PRIMARY KEY,
  guid text NOT NULL,
  mid integer NOT NULL,
  mod integer NOT NULL,
  usn integer NOT NULL,
  tags text NOT NULL,
  flds text NOT NULL,
  sfld integer NOT NULL,
  csum integer NOT NULL,
  flags integer NOT NULL,
  data text NOT NULL
)`,
  `CREATE TABLE cards (
  id integer PRIMARY KEY,
  nid integer NOT NULL,
  did integer NOT NULL,
  ord integer NOT NULL,
  mod integer NOT NULL,
  usn integer NOT NULL,
  type integer NOT NULL,
  queue integer NOT NULL,
  due integer NOT NULL,
  ivl integer NOT NULL,
  factor integer NOT NULL,
  reps integer NOT NULL,
  lapses integer NOT NULL,
  left integer NOT NULL,
  odue integer NOT NULL,
  odid integer NOT NULL,
  flags integer NOT NULL,
  data text NOT NULL
)`,
  `CREATE TABLE revlog (
  id integer PRIMARY KEY,
  cid integer NOT NULL,
  usn integer NOT NULL,
  ease integer NOT NULL,
  ivl integer NOT NULL,
  lastIvl integer NOT NULL,
  factor integer NOT NULL,
  time integer NOT NULL,
  type integer NOT NULL
)`,
  `CREATE TABLE deck_config (
  id integer PRIMARY KEY NOT NULL,
  name text NOT NULL COLLATE unicase,
  mtime_secs integer NOT NULL,
  usn integer NOT NULL,
  config blob NOT NULL
)`,
  // config.KEY uses the default binary collation: keys are case-sensitive.
  `CREATE TABLE config (
  KEY text NOT NULL PRIMARY KEY,
  usn integer NOT NULL,
  mtime_secs integer NOT NULL,
  val blob NOT NULL
) WITHOUT ROWID`,
  `CREATE TABLE fields (
  ntid integer NOT NULL,
  ord integer NOT NULL,
  name text NOT NULL COLLATE unicase,
  config blob NOT NULL,
  PRIMARY KEY (ntid, ord)
) WITHOUT ROWID`,
  `CREATE TABLE templates (
  ntid integer NOT NULL,
  ord integer NOT NULL,
  name text NOT NULL COLLATE unicase,
  mtime_secs integer NOT NULL,
  usn integer NOT NULL,
  config blob NOT NULL,
  PRIMARY KEY (ntid, ord)
) WITHOUT ROWID`,
  `CREATE TABLE notetypes (
  id integer NOT NULL PRIMARY KEY,
  name text NOT NULL COLLATE unicase,
  mtime_secs integer NOT NULL,
  usn integer NOT NULL,
  config blob NOT NULL
)`,
  `CREATE TABLE decks (
  id integer PRIMARY KEY NOT NULL,
  name text NOT NULL COLLATE unicase,
  mtime_secs integer NOT NULL,
  usn integer NOT NULL,
  common blob NOT NULL,
  kind blob NOT NULL
)`,
  // the schema-17 form of tags (collapsed + config columns)
  `CREATE TABLE tags (
  tag text NOT NULL PRIMARY KEY COLLATE unicase,
  usn integer NOT NULL,
  collapsed boolean NOT NULL,
  config blob NULL
) WITHOUT ROWID`,
  // the schema-18 form of graves: one row per (oid, type)
  `CREATE TABLE graves (
  oid integer NOT NULL,
  type integer NOT NULL,
  usn integer NOT NULL,
  PRIMARY KEY (oid, type)
) WITHOUT ROWID`,
];

/** Indexes of schema 11 that every later version keeps. */
export const SCHEMA11_INDEXES: readonly string[] = [
  "CREATE INDEX ix_notes_usn ON notes (usn)",
  "CREATE INDEX ix_cards_usn ON cards (usn)",
  "CREATE INDEX ix_revlog_usn ON revlog (usn)",
  "CREATE INDEX ix_cards_nid ON cards (nid)",
  "CREATE INDEX ix_cards_sched ON cards (did, queue, due)",
  "CREATE INDEX ix_revlog_cid ON revlog (cid)",
  "CREATE INDEX ix_notes_csum ON notes (csum)",
];

/** Indexes added by schema 15 (notetypes/decks) and 18 (graves). */
const LATER_INDEXES: readonly string[] = [
  "CREATE UNIQUE INDEX idx_fields_name_ntid ON fields (name, ntid)",
  "CREATE UNIQUE INDEX idx_templates_name_ntid ON templates (name, ntid)",
  "CREATE INDEX idx_templates_usn ON templates (usn)",
  "CREATE UNIQUE INDEX idx_notetypes_name ON notetypes (name)",
  "CREATE INDEX idx_notetypes_usn ON notetypes (usn)",
  "CREATE UNIQUE INDEX idx_decks_name ON decks (name)",
  "CREATE INDEX idx_notes_mid ON notes (mid)",
  // partial index: only cards currently in a filtered deck
  "CREATE INDEX idx_cards_odid ON cards (odid) WHERE odid != 0",
  "CREATE INDEX idx_graves_pending ON graves (usn)",
];

/** Every DDL statement of a schema-18 collection (tables first). */
export const SCHEMA18_DDL: readonly string[] = [...TABLES, ...SCHEMA11_INDEXES, ...LATER_INDEXES];

/** The name of the table or index a DDL statement above creates. */
export function ddlObjectName(sql: string): string {
  const m = /^CREATE (?:UNIQUE )?(?:TABLE|INDEX) (\w+)/.exec(sql);
  if (m === null || m[1] === undefined) throw new Error(`schema18: unexpected DDL ${sql.slice(0, 40)}`);
  return m[1];
}

/**
 * Creates the schema-18 tables and indexes that do not exist yet (used when
 * upgrading a schema-11 file, which already has col/notes/cards/revlog).
 */
export function createMissingSchema18(db: CollectionDb): void {
  const existing = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')").all() as Array<{ name: string }>).map(
      (r) => r.name,
    ),
  );
  for (const sql of SCHEMA18_DDL) if (!existing.has(ddlObjectName(sql))) db.exec(sql);
  db.exec("ANALYZE");
}

/**
 * Creates all schema-18 tables and indexes on an empty database. The caller
 * owns the transaction. Also runs ANALYZE, as rslib's schema-15 step does, so
 * the file carries the same sqlite_stat tables as one made by Anki.
 */
export function applySchema18(db: CollectionDb): void {
  for (const sql of SCHEMA18_DDL) db.exec(sql);
  db.exec("ANALYZE");
}
