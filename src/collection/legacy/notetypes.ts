// Legacy (schema 11) notetype JSON <-> stored notetype with fields and
// templates. Rules: 04-legacy-json-conversion.md §4, checked against rslib's
// notetype/schema11.rs. Field/template ids are exact 64-bit integers.
import { create } from "@bufbuild/protobuf";
import {
  Notetype_ConfigSchema,
  Notetype_Config_CardRequirementSchema,
  Notetype_Field_ConfigSchema,
  Notetype_Template_ConfigSchema,
  type Notetype_Config_CardRequirement,
} from "../messages.js";
import type { StoredField, StoredNotetype, StoredTemplate } from "../storage/notetypes.js";
import { isJsonObject, newJsonObject, type JsonObject, type JsonValue } from "./json.js";
import { wrapU16, wrapU8 } from "./numbers.js";
import { appendOther, otherToBytes, parseOther, unknownKeys } from "./other.js";
import {
  I32,
  U16,
  U32,
  U8,
  arrayOf,
  bool,
  boolish,
  def,
  expectObject,
  field,
  i64,
  int,
  inv,
  keyReqInv,
  nullable,
  numOrString,
  object,
  required,
  safeInt,
  str,
  type Parse,
} from "./read.js";

const NOTETYPE_KEYS = new Set([
  "id", "name", "type", "mod", "usn", "sortf", "did", "tmpls", "flds", "css", "latexPre", "latexPost",
  "latexsvg", "req", "originalStockKind", "originalId",
]);
const FIELD_KEYS = new Set([
  "name", "ord", "sticky", "rtl", "font", "size", "description", "plainText", "collapsed",
  "excludeFromSearch", "id", "tag", "preventDeletion",
]);
const TEMPLATE_KEYS = new Set(["name", "ord", "qfmt", "afmt", "bqfmt", "bafmt", "did", "bfont", "bsize", "id"]);
// rslib's reserved lists equal the named-key sets for notetypes
const RESERVED_NOTETYPE_KEYS = NOTETYPE_KEYS;
const RESERVED_FIELD_KEYS = FIELD_KEYS;
const RESERVED_TEMPLATE_KEYS = TEMPLATE_KEYS;

const REQ_KIND: Record<string, number> = { none: 0, any: 1, all: 2 };
const REQ_NAME = ["none", "any", "all"] as const;

/** One `[card_ord, "any"|"all"|"none", [field_ords]]` (or the object form). */
const requirement: Parse<Notetype_Config_CardRequirement> = (v) => {
  let ord: JsonValue | undefined;
  let kind: JsonValue | undefined;
  let ords: JsonValue | undefined;
  if (Array.isArray(v)) {
    if (v.length !== 3) return undefined;
    [ord, kind, ords] = v;
  } else if (isJsonObject(v)) {
    ({ card_ord: ord, kind, field_ords: ords } = v);
  } else {
    return undefined;
  }
  const o = ord === undefined ? undefined : U16(ord);
  const k = typeof kind === "string" ? REQ_KIND[kind] : undefined;
  const f = ords === undefined ? undefined : arrayOf(U16)(ords);
  if (o === undefined || k === undefined || f === undefined) return undefined;
  return create(Notetype_Config_CardRequirementSchema, { cardOrd: o, kind: k, fieldOrds: f });
};

/** A deck id that may be null; rslib's Option<DeckId>. */
const deckId: Parse<number | null> = nullable(safeInt);

function fieldFromLegacy(v: JsonValue, what: string): StoredField {
  const o = expectObject(v, what);
  field(o, "ord", what, nullable(U16), def(null), "a u16 or null");
  const id = field(o, "id", what, nullable(i64), inv(null), "");
  const tag = field(o, "tag", what, nullable(U32), inv(null), "");
  return {
    name: field(o, "name", what, str, required, "a string"),
    config: create(Notetype_Field_ConfigSchema, {
      sticky: field(o, "sticky", what, boolish, required, "a boolean"),
      rtl: field(o, "rtl", what, boolish, required, "a boolean"),
      fontName: field(o, "font", what, str, required, "a string"),
      fontSize: field(o, "size", what, U16, required, "a u16"),
      description: field(o, "description", what, str, inv(""), ""),
      plainText: field(o, "plainText", what, bool, inv(false), ""),
      collapsed: field(o, "collapsed", what, bool, inv(false), ""),
      excludeFromSearch: field(o, "excludeFromSearch", what, bool, inv(false), ""),
      ...(id === null ? {} : { id }),
      ...(tag === null ? {} : { tag }),
      preventDeletion: field(o, "preventDeletion", what, bool, inv(false), ""),
      other: otherToBytes(unknownKeys(o, FIELD_KEYS)),
    }),
  };
}

function templateFromLegacy(v: JsonValue, what: string): StoredTemplate {
  const o = expectObject(v, what);
  field(o, "ord", what, nullable(U16), def(null), "a u16 or null");
  const id = field(o, "id", what, nullable(i64), inv(null), "");
  const did = field(o, "did", what, deckId, inv(null), "");
  return {
    name: field(o, "name", what, str, required, "a string"),
    // templates carry no mtime/usn in legacy JSON
    mtimeSecs: 0,
    usn: 0,
    config: create(Notetype_Template_ConfigSchema, {
      qFormat: field(o, "qfmt", what, str, required, "a string"),
      aFormat: field(o, "afmt", what, str, def(""), "a string"),
      qFormatBrowser: field(o, "bqfmt", what, str, def(""), "a string"),
      aFormatBrowser: field(o, "bafmt", what, str, def(""), "a string"),
      targetDeckId: BigInt(did ?? 0),
      browserFontName: field(o, "bfont", what, str, inv(""), ""),
      browserFontSize: field(o, "bsize", what, U8, inv(0), ""),
      ...(id === null ? {} : { id }),
      other: otherToBytes(unknownKeys(o, TEMPLATE_KEYS)),
    }),
  };
}

/**
 * Converts one legacy notetype object into its stored form. The `ord` keys
 * inside fields/templates are validated but ignored: list position wins.
 */
export function notetypeFromLegacy(value: JsonValue): StoredNotetype {
  const obj = expectObject(value, "notetype");
  const what = `notetype ${typeof obj.id === "number" || typeof obj.id === "string" ? String(obj.id) : "?"}`;
  const id = field(obj, "id", what, numOrString(safeInt), required, "an integer");
  const name = field(obj, "name", what, str, required, "a string");
  const kind = field(obj, "type", what, int(0, 1), required, "0 or 1");
  const mtimeSecs = field(obj, "mod", what, safeInt, required, "an integer");
  const usn = field(obj, "usn", what, I32, required, "an i32");
  const sortf = field(obj, "sortf", what, U16, required, "a u16");
  const did = field(obj, "did", what, deckId, keyReqInv(null), "");
  const tmpls = field(obj, "tmpls", what, arrayOf(object), required, "an array of objects");
  const flds = field(obj, "flds", what, arrayOf(object), required, "an array of objects");
  const css = field(obj, "css", what, str, keyReqInv(""), "");
  const originalId = field(obj, "originalId", what, nullable(i64), def(null), "an integer or null");
  return {
    id,
    name,
    mtimeSecs,
    usn,
    config: create(Notetype_ConfigSchema, {
      kind,
      sortFieldIdx: sortf,
      css,
      targetDeckIdUnused: BigInt(did ?? 0),
      latexPre: field(obj, "latexPre", what, str, def(""), "a string"),
      latexPost: field(obj, "latexPost", what, str, def(""), "a string"),
      latexSvg: field(obj, "latexsvg", what, bool, inv(false), ""),
      reqs: field(obj, "req", what, arrayOf(requirement), inv<Notetype_Config_CardRequirement[]>([]), ""),
      originalStockKind: field(obj, "originalStockKind", what, I32, def(0), "an i32"),
      ...(originalId === null ? {} : { originalId }),
      other: otherToBytes(unknownKeys(obj, NOTETYPE_KEYS)),
    }),
    fields: flds.map((f, i) => fieldFromLegacy(f, `${what} field ${i}`)),
    templates: tmpls.map((t, i) => templateFromLegacy(t, `${what} template ${i}`)),
  };
}

function fieldToLegacy(f: StoredField, ord: number): JsonObject {
  const c = f.config;
  const out = newJsonObject();
  out.name = f.name;
  out.ord = ord;
  out.sticky = c.sticky;
  out.rtl = c.rtl;
  out.font = c.fontName;
  out.size = wrapU16(c.fontSize);
  out.description = c.description;
  out.plainText = c.plainText;
  out.collapsed = c.collapsed;
  out.excludeFromSearch = c.excludeFromSearch;
  out.id = c.id === undefined ? null : i64Json(c.id);
  out.tag = c.tag ?? null;
  out.preventDeletion = c.preventDeletion;
  return appendOther(out, parseOther(c.other, RESERVED_FIELD_KEYS));
}

function templateToLegacy(t: StoredTemplate, ord: number): JsonObject {
  const c = t.config;
  const out = newJsonObject();
  out.name = t.name;
  out.ord = ord;
  out.qfmt = c.qFormat;
  out.afmt = c.aFormat;
  out.bqfmt = c.qFormatBrowser;
  out.bafmt = c.aFormatBrowser;
  out.did = c.targetDeckId > 0n ? i64Json(c.targetDeckId) : null;
  out.bfont = c.browserFontName;
  out.bsize = wrapU8(c.browserFontSize);
  out.id = c.id === undefined ? null : i64Json(c.id);
  return appendOther(out, parseOther(c.other, RESERVED_TEMPLATE_KEYS));
}

/** bigint -> number when exact, so ordinary ids print like any other number. */
function i64Json(v: bigint): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** Converts a stored notetype into the legacy JSON rslib would emit. */
export function notetypeToLegacy(nt: StoredNotetype): JsonObject {
  const c = nt.config;
  const out = newJsonObject();
  out.id = nt.id;
  out.name = nt.name;
  out.type = c.kind === 1 ? 1 : 0;
  out.mod = nt.mtimeSecs;
  out.usn = nt.usn;
  out.sortf = wrapU16(c.sortFieldIdx);
  out.did = c.targetDeckIdUnused === 0n ? null : i64Json(c.targetDeckIdUnused);
  out.tmpls = nt.templates.map(templateToLegacy);
  out.flds = nt.fields.map(fieldToLegacy);
  out.css = c.css;
  out.latexPre = c.latexPre;
  out.latexPost = c.latexPost;
  out.latexsvg = c.latexSvg;
  out.req = c.reqs.map((r) => [
    wrapU16(r.cardOrd),
    REQ_NAME[r.kind] ?? "none",
    r.fieldOrds.map(wrapU16),
  ]);
  if (c.originalStockKind !== 0) out.originalStockKind = c.originalStockKind;
  if (c.originalId !== undefined) out.originalId = i64Json(c.originalId);
  return appendOther(out, parseOther(c.other, RESERVED_NOTETYPE_KEYS));
}
