// Tag registration as rslib does it for tags received through sync, and the
// legacy `{tag: usn}` map of schema 11.
import type { CollectionDb } from "../open.js";
import { readAllTags, readTag, writeTag } from "../storage/tags.js";
import { newJsonObject, setKey, type JsonObject } from "./json.js";
import { normalizeTagName } from "./names.js";
import { LegacyJsonError } from "./read.js";

/**
 * Registers one tag name: normalised; if it already exists (unicase) nothing
 * changes, not even its usn; otherwise the spelling of the nearest existing
 * ancestor is adopted and the tag is added collapsed with `usn`.
 * Returns the stored spelling and whether it was added.
 */
export function registerTag(db: CollectionDb, name: string, usn: number): { tag: string; added: boolean } {
  const normalized = normalizeTagName(name);
  if (normalized === "") throw new LegacyJsonError(`tag ${JSON.stringify(name)}: empty after normalisation`);
  const existing = readTag(db, normalized);
  if (existing !== undefined) return { tag: existing.tag, added: false };
  const tag = withParentCase(db, normalized);
  writeTag(db, { tag, usn, collapsed: true });
  return { tag, added: true };
}

function withParentCase(db: CollectionDb, tag: string): string {
  const parts = tag.split("::");
  for (let n = parts.length - 1; n >= 1; n--) {
    const parent = readTag(db, parts.slice(0, n).join("::"));
    if (parent !== undefined) return [parent.tag, ...parts.slice(n)].join("::");
  }
  return tag;
}

/** The schema-11 `col.tags` map: tag -> usn. */
export function tagsToLegacy(db: CollectionDb): JsonObject {
  const out = newJsonObject();
  for (const t of readAllTags(db)) setKey(out, t.tag, t.usn);
  return out;
}
