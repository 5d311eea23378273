// Rows of `tags` (schema >= 17). The primary key uses the unicase collation,
// so "Foo" and "foo" are one tag; the stored spelling is the first seen.
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { asInt, asText } from "./values.js";

export interface TagRow {
  tag: string;
  usn: number;
  collapsed: boolean;
}

/** Inserts or replaces a tag row (config is never written, as in rslib). */
export function writeTag(db: CollectionDb, t: TagRow): void {
  // better-sqlite3 cannot bind booleans; rslib stores 0/1
  prepareCached(db, "INSERT OR REPLACE INTO tags (tag, usn, collapsed) VALUES (?, ?, ?)").run(t.tag, t.usn, t.collapsed ? 1 : 0);
}

type Row = Record<string, unknown>;

function rowToTag(r: Row): TagRow {
  const tag = asText(r.tag, "tag name");
  return { tag, usn: asInt(r.usn, `tag ${tag} usn`), collapsed: asInt(r.collapsed, `tag ${tag} collapsed`) !== 0 };
}

/** The stored tag equal to `name` under unicase, if any. */
export function readTag(db: CollectionDb, name: string): TagRow | undefined {
  const r = prepareCached(db, "SELECT tag, usn, collapsed FROM tags WHERE tag = ?").get(name) as Row | undefined;
  return r === undefined ? undefined : rowToTag(r);
}

/** All tags in unicase order. */
export function readAllTags(db: CollectionDb): TagRow[] {
  return (prepareCached(db, "SELECT tag, usn, collapsed FROM tags ORDER BY tag").all() as Row[]).map(rowToTag);
}

export function readTagsSince(db: CollectionDb, minUsn: number): TagRow[] {
  return (prepareCached(db, "SELECT tag, usn, collapsed FROM tags WHERE usn >= ? ORDER BY tag").all(minUsn) as Row[]).map(
    rowToTag,
  );
}

export function deleteAllTags(db: CollectionDb): void {
  prepareCached(db, "DELETE FROM tags").run();
}
