// The note sort field and first-field checksum that the server computes when
// it writes a note, as Anki does: HTML stripped (media file names kept),
// entities decoded, SHA-1 of field 0 cut to a big-endian u32.
import { createHash } from "node:crypto";

// Media tags with a src/data attribute become " filename ".
const MEDIA_TAG =
  /<\b(?:img|audio|video|object|source)\b(?:[^>]|"[^"]+?"|'[^']+?')+?\b(?:src|data)\b=(?:"([^"]+?)"[^>]*>|'([^']+?)'[^>]*>|([^ >]+?)(?: [^>]*>|>))/gis;
// Comments, style and script blocks, then any other tag.
const HTML = /(<!--.*?-->)|(<style.*?>.*?<\/style>)|(<script.*?>.*?<\/script>)|(<.*?>)/gis;

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0",
  ndash: "\u2013", mdash: "\u2014", hellip: "\u2026", copy: "\u00a9", reg: "\u00ae",
  laquo: "\u00ab", raquo: "\u00bb", lsquo: "\u2018", rsquo: "\u2019", ldquo: "\u201c", rdquo: "\u201d",
  times: "\u00d7", divide: "\u00f7", deg: "\u00b0", middot: "\u00b7", bull: "\u2022", euro: "\u20ac",
  shy: "\u00ad", zwj: "\u200d", zwnj: "\u200c", ensp: "\u2002", emsp: "\u2003", thinsp: "\u2009",
};

/**
 * Decodes character references. Like the decoder Anki uses, any `&` that does
 * not start a reference we can decode leaves the whole text undecoded.
 */
function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  let failed = false;
  const decoded = text.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?|&/g, (match, body: string | undefined) => {
    if (body === undefined || !match.endsWith(";")) {
      failed = true;
      return match;
    }
    if (body.startsWith("#")) {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!Number.isFinite(code) || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        failed = true;
        return match;
      }
      return String.fromCodePoint(code);
    }
    const named = NAMED_ENTITIES[body];
    if (named === undefined) {
      failed = true;
      return match;
    }
    return named;
  });
  return failed ? text : decoded.replace(/\u00a0/g, " ");
}

export function stripHtmlPreservingMediaFilenames(html: string): string {
  const withNames = html.replace(MEDIA_TAG, (_m, a?: string, b?: string, c?: string) => ` ${a ?? ""}${b ?? ""}${c ?? ""} `);
  return decodeEntities(withNames.replace(HTML, ""));
}

export function fieldChecksum(strippedFirstField: string): number {
  return createHash("sha1").update(strippedFirstField, "utf8").digest().readUInt32BE(0);
}

/** Removes ASCII control characters except newline and tab, as Anki does on every save. */
export function normalizeField(field: string): string {
  return field.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
}

/** Canonical stored tag string: single spaces, one leading and trailing, "" when empty. */
export function joinTags(tags: string): string {
  const parts = tags.split(/[ \u3000]+/).filter((t) => t.length > 0);
  return parts.length === 0 ? "" : ` ${parts.join(" ")} `;
}

export interface NoteDerived {
  fields: string[];
  sortField: string;
  checksum: number;
}

export function deriveNoteColumns(fields: string[], sortFieldIdx: number): NoteDerived {
  const clean = fields.map(normalizeField);
  const first = stripHtmlPreservingMediaFilenames(clean[0] ?? "");
  const sortField = sortFieldIdx === 0 ? first : stripHtmlPreservingMediaFilenames(clean[sortFieldIdx] ?? "");
  return { fields: clean, sortField, checksum: fieldChecksum(first) };
}
