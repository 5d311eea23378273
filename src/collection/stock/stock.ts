// Builds the six stock notetypes of a new collection in stored (schema 18)
// form from stock-data.ts, which is captured from the real Anki client so the
// texts match byte for byte. Only ids are generated here: field and template
// ids are random signed 64-bit integers, exactly like rslib's rand::random().
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  Notetype_ConfigSchema,
  Notetype_Config_CardRequirementSchema,
  Notetype_Config_CardRequirement_Kind,
  Notetype_Field_ConfigSchema,
  Notetype_Template_ConfigSchema,
  type Notetype_Config_CardRequirement,
} from "../messages.js";
import type { StoredNotetype } from "../storage/notetypes.js";
import { STOCK_NOTETYPES_RAW, STOCK_TEXTS } from "./stock-data.js";

interface RawField {
  readonly name: string;
  readonly sticky: boolean;
  readonly rtl: boolean;
  readonly font: string;
  readonly size: number;
  readonly description: string;
  readonly plainText: boolean;
  readonly collapsed: boolean;
  readonly excludeFromSearch: boolean;
  readonly tag: number | null;
  readonly preventDeletion: boolean;
}

interface RawTemplate {
  readonly name: string;
  readonly qfmt: number;
  readonly afmt: number;
  readonly bqfmt: string;
  readonly bafmt: string;
  readonly did: number | null;
  readonly bfont: string;
  readonly bsize: number;
}

interface RawNotetype {
  readonly name: string;
  readonly type: number;
  readonly sortf: number;
  readonly did: number | null;
  readonly css: number;
  readonly latexPre: number;
  readonly latexPost: number;
  readonly latexsvg: boolean;
  readonly req: ReadonlyArray<readonly [number, string, ReadonlyArray<number>]>;
  readonly originalStockKind: number;
  readonly flds: readonly RawField[];
  readonly tmpls: readonly RawTemplate[];
}

// Type-checks the generated data against the shape this module relies on.
const RAW: readonly RawNotetype[] = STOCK_NOTETYPES_RAW;

function text(index: number): string {
  const s = STOCK_TEXTS[index];
  if (s === undefined) throw new Error(`stock-data: text #${index} is missing`);
  return s;
}

/** A uniformly random signed 64-bit integer. */
export function randomI64(): bigint {
  return randomBytes(8).readBigInt64LE(0);
}

const REQ_KINDS: Record<string, Notetype_Config_CardRequirement_Kind> = {
  none: Notetype_Config_CardRequirement_Kind.NONE,
  any: Notetype_Config_CardRequirement_Kind.ANY,
  all: Notetype_Config_CardRequirement_Kind.ALL,
};

function requirement([cardOrd, kind, fieldOrds]: readonly [number, string, ReadonlyArray<number>]): Notetype_Config_CardRequirement {
  const k = REQ_KINDS[kind];
  if (k === undefined) throw new Error(`stock-data: unknown requirement kind ${kind}`);
  return create(Notetype_Config_CardRequirementSchema, { cardOrd, kind: k, fieldOrds: [...fieldOrds] });
}

function build(raw: RawNotetype, id: number): StoredNotetype {
  return {
    id,
    name: raw.name,
    mtimeSecs: 0,
    usn: 0,
    config: create(Notetype_ConfigSchema, {
      kind: raw.type,
      sortFieldIdx: raw.sortf,
      css: text(raw.css),
      targetDeckIdUnused: BigInt(raw.did ?? 0),
      latexPre: text(raw.latexPre),
      latexPost: text(raw.latexPost),
      latexSvg: raw.latexsvg,
      reqs: raw.req.map(requirement),
      originalStockKind: raw.originalStockKind,
    }),
    fields: raw.flds.map((f) => ({
      name: f.name,
      config: create(Notetype_Field_ConfigSchema, {
        sticky: f.sticky,
        rtl: f.rtl,
        fontName: f.font,
        fontSize: f.size,
        description: f.description,
        plainText: f.plainText,
        collapsed: f.collapsed,
        excludeFromSearch: f.excludeFromSearch,
        id: randomI64(),
        ...(f.tag === null ? {} : { tag: f.tag }),
        preventDeletion: f.preventDeletion,
      }),
    })),
    templates: raw.tmpls.map((t) => ({
      name: t.name,
      mtimeSecs: 0,
      usn: 0,
      config: create(Notetype_Template_ConfigSchema, {
        qFormat: text(t.qfmt),
        aFormat: text(t.afmt),
        qFormatBrowser: t.bqfmt,
        aFormatBrowser: t.bafmt,
        targetDeckId: BigInt(t.did ?? 0),
        browserFontName: t.bfont,
        browserFontSize: t.bsize,
        id: randomI64(),
      }),
    })),
  };
}

/**
 * The stock notetypes in Anki's order (Basic first), with ids
 * firstId, firstId + 1, …: rslib uses "now in ms", bumped to max(id) + 1
 * when taken, which for a new collection gives consecutive ids.
 */
export function stockNotetypes(firstId: number): StoredNotetype[] {
  return RAW.map((raw, i) => build(raw, firstId + i));
}
