// Legacy (schema 11) deck JSON <-> stored deck row (schema 18).
// Rules: 04-legacy-json-conversion.md §2, checked against rslib's
// decks/schema11.rs (the source wins where they differ).
import { create } from "@bufbuild/protobuf";
import {
  Deck_CommonSchema,
  Deck_FilteredSchema,
  Deck_Filtered_SearchTermSchema,
  Deck_KindContainerSchema,
  Deck_NormalSchema,
  Deck_Normal_DayLimitSchema,
  type Deck_Common,
  type Deck_Filtered,
  type Deck_Filtered_SearchTerm,
  type Deck_Normal,
  type Deck_Normal_DayLimit,
} from "../messages.js";
import type { StoredDeck } from "../storage/decks.js";
import { hasKey, isJsonObject, newJsonObject, setKey, type JsonObject, type JsonValue } from "./json.js";
import { f32, f32ToJson, castF32ToU32, wrapI32 } from "./numbers.js";
import { humanDeckName, nativeDeckName } from "./names.js";
import { appendOther, otherToBytes, parseOther, unknownKeys } from "./other.js";
import {
  I32,
  LegacyJsonError,
  U32,
  arrayOf,
  bool,
  boolish,
  def,
  describe,
  expectObject,
  field,
  int,
  inv,
  nullable,
  num,
  numOrString,
  required,
  safeInt,
  str,
} from "./read.js";

const COMMON_KEYS = [
  "id", "mod", "name", "usn", "lrnToday", "revToday", "newToday", "timeToday",
  "collapsed", "browserCollapsed", "desc", "md", "dyn",
];
const NORMAL_KEYS = new Set([
  ...COMMON_KEYS, "conf", "extendNew", "extendRev", "reviewLimit", "newLimit",
  "reviewLimitToday", "newLimitToday", "desiredRetention",
]);
const FILTERED_KEYS = new Set([
  ...COMMON_KEYS, "resched", "terms", "separate", "delays", "previewDelay",
  "previewAgainSecs", "previewHardSecs", "previewGoodSecs",
]);
/** Keys dropped from a stored `other` when emitting (rslib's reserved list). */
const RESERVED_DECK_KEYS = new Set([
  "usn", "revToday", "newLimit", "dyn", "reviewLimit", "newToday", "timeToday",
  "reviewLimitToday", "extendNew", "mod", "newLimitToday", "desc", "name",
  "lrnToday", "conf", "browserCollapsed", "extendRev", "id", "collapsed",
  "desiredRetention",
]);

interface TodayAmount {
  day: number;
  amount: number;
}

/** `[day, amount]`: the last element is the amount, the one before it the day. */
function todayAmount(v: JsonValue): TodayAmount | undefined {
  if (!Array.isArray(v)) return undefined;
  const asI64 = (x: JsonValue | undefined): number => {
    if (typeof x === "number" && Number.isInteger(x)) return x;
    if (typeof x === "bigint" && x >= -(2n ** 63n) && x < 2n ** 63n) return Number(BigInt.asIntN(32, x));
    return 0;
  };
  const amount = asI64(v[v.length - 1]);
  const day = v.length >= 2 ? asI64(v[v.length - 2]) : 0;
  // rslib casts both with `as i32`
  return { day: wrapI32(day), amount: wrapI32(amount) };
}

/** `dyn`: bool, or a number (1 = filtered); anything else rejects the deck. */
function isFiltered(obj: JsonObject, what: string): boolean {
  if (!hasKey(obj, "dyn")) throw new LegacyJsonError(`${what}: missing key "dyn"`);
  const v = obj.dyn as JsonValue;
  if (typeof v === "boolean") return v;
  if (typeof v === "number" || typeof v === "bigint") {
    // rslib then reads the value as u8 for the chosen shape, so other
    // numbers must still be integers in 0..=255
    if (int(0, 255)(v) === undefined) {
      throw new LegacyJsonError(`${what}: key "dyn" must be 0 or 1, found ${describe(v)}`);
    }
    return Number(v) === 1;
  }
  throw new LegacyJsonError(`${what}: key "dyn" must be 0/1 or a boolean, found ${describe(v)}`);
}

function dayLimit(v: JsonValue): Deck_Normal_DayLimit | null | undefined {
  if (v === null) return null;
  if (!isJsonObject(v)) return undefined;
  const limit = hasKey(v, "limit") ? U32(v.limit as JsonValue) : undefined;
  const today = hasKey(v, "today") ? U32(v.today as JsonValue) : undefined;
  if (limit === undefined || today === undefined) return undefined;
  return create(Deck_Normal_DayLimitSchema, { limit, today });
}

function searchTerm(v: JsonValue): Deck_Filtered_SearchTerm | undefined {
  let search: JsonValue | undefined;
  let limit: JsonValue | undefined;
  let order: JsonValue | undefined;
  if (Array.isArray(v)) {
    if (v.length !== 3) return undefined;
    [search, limit, order] = v;
  } else if (isJsonObject(v)) {
    search = v.search;
    limit = v.limit;
    order = v.order;
  } else {
    return undefined;
  }
  if (search === undefined || limit === undefined || order === undefined) return undefined;
  const s = str(search);
  const l = numOrString(I32)(limit);
  const o = I32(order);
  if (s === undefined || l === undefined || o === undefined) return undefined;
  return create(Deck_Filtered_SearchTermSchema, { search: s, limit: Math.max(0, l), order: o });
}

/**
 * Converts one legacy deck object into its stored form. Throws
 * LegacyJsonError naming the deck and key when rslib would reject it.
 */
export function deckFromLegacy(value: JsonValue): StoredDeck {
  const input = expectObject(value, "deck");
  const idGuess = typeof input.id === "number" || typeof input.id === "string" ? String(input.id) : "?";
  const what = `deck ${idGuess}`;
  // rslib drops this obsolete key before anything else
  const obj = newJsonObject();
  for (const key of Object.keys(input)) if (key !== "return") setKey(obj, key, input[key]!);

  const filtered = isFiltered(obj, what);
  const id = field(obj, "id", what, numOrString(safeInt), required, "an integer");
  const mtimeSecs = field(obj, "mod", what, numOrString(safeInt), def(0), "an integer");
  const name = field(obj, "name", what, str, required, "a string");
  const usn = field(obj, "usn", what, I32, required, "an i32");
  const today = (key: string): TodayAmount => field(obj, key, what, todayAmount, required, "an array [day, amount]");
  const lrn = today("lrnToday");
  const rev = today("revToday");
  const nw = today("newToday");
  const time = today("timeToday");
  const studyCollapsed = field(obj, "collapsed", what, bool, required, "a boolean");
  const browserCollapsed = field(obj, "browserCollapsed", what, bool, def(false), "a boolean");
  const desc = field(obj, "desc", what, str, def(""), "a string");
  const md = field(obj, "md", what, bool, def(false), "a boolean");

  // Only amounts from the latest day survive the merge into one day value.
  const maxDay = Math.max(time.day, nw.day, rev.day);
  const common: Deck_Common = create(Deck_CommonSchema, {
    studyCollapsed,
    browserCollapsed,
    lastDayStudied: maxDay >>> 0,
    newStudied: nw.day === maxDay ? nw.amount : 0,
    reviewStudied: rev.day === maxDay ? rev.amount : 0,
    learningStudied: lrn.day === maxDay ? lrn.amount : 0,
    millisecondsStudied: time.amount,
    other: otherToBytes(unknownKeys(obj, filtered ? FILTERED_KEYS : NORMAL_KEYS)),
  });

  const kind = create(Deck_KindContainerSchema, {
    kind: filtered
      ? { case: "filtered", value: filteredFromLegacy(obj, what) }
      : { case: "normal", value: normalFromLegacy(obj, what, desc, md) },
  });
  return { id, name: nativeDeckName(name), mtimeSecs, usn, common, kind };
}

function normalFromLegacy(obj: JsonObject, what: string, desc: string, md: boolean): Deck_Normal {
  const configId = field(obj, "conf", what, numOrString(safeInt), required, "an integer");
  const extendNew = field(obj, "extendNew", what, I32, inv(0), "an i32");
  const extendRev = field(obj, "extendRev", what, I32, inv(0), "an i32");
  const reviewLimit = field(obj, "reviewLimit", what, nullable(U32), inv(null), "");
  const newLimit = field(obj, "newLimit", what, nullable(U32), inv(null), "");
  const reviewLimitToday = field(obj, "reviewLimitToday", what, dayLimit, inv(null), "");
  const newLimitToday = field(obj, "newLimitToday", what, dayLimit, inv(null), "");
  const desiredRetention = field(obj, "desiredRetention", what, nullable(U32), inv(null), "");
  return create(Deck_NormalSchema, {
    configId: BigInt(configId),
    extendNew: Math.max(0, extendNew),
    extendReview: Math.max(0, extendRev),
    description: desc,
    markdownDescription: md,
    ...(reviewLimit === null ? {} : { reviewLimit }),
    ...(newLimit === null ? {} : { newLimit }),
    ...(reviewLimitToday === null ? {} : { reviewLimitToday }),
    ...(newLimitToday === null ? {} : { newLimitToday }),
    // integer percent -> fraction, in f32 like rslib
    ...(desiredRetention === null ? {} : { desiredRetention: f32(f32(desiredRetention) / 100) }),
  });
}

function filteredFromLegacy(obj: JsonObject, what: string): Deck_Filtered {
  const reschedule = field(obj, "resched", what, boolish, required, "a boolean");
  const terms = field(obj, "terms", what, arrayOf(searchTerm), required, "an array of [search, limit, order]");
  // "separate" is read (and must be a bool if present) but not stored
  field(obj, "separate", what, bool, def(false), "a boolean");
  const delays = field(obj, "delays", what, nullable(arrayOf(num)), inv(null), "");
  const u32 = (key: string): number => field(obj, key, what, U32, def(0), "a u32");
  return create(Deck_FilteredSchema, {
    reschedule,
    searchTerms: terms,
    delays: (delays ?? []).map(f32),
    previewDelay: u32("previewDelay"),
    previewAgainSecs: u32("previewAgainSecs"),
    previewHardSecs: u32("previewHardSecs"),
    previewGoodSecs: u32("previewGoodSecs"),
  });
}

function dayLimitJson(d: Deck_Normal_DayLimit | undefined): JsonValue {
  if (d === undefined) return null;
  const o = newJsonObject();
  o.limit = d.limit;
  o.today = d.today;
  return o;
}

/** Converts a stored deck into the legacy JSON rslib would emit for it. */
export function deckToLegacy(deck: StoredDeck): JsonObject {
  const c = deck.common;
  const k = deck.kind.kind;
  if (k.case === undefined) throw new Error(`deck ${deck.id}: kind is neither normal nor filtered`);
  const day = wrapI32(c.lastDayStudied);
  const out = newJsonObject();
  out.id = deck.id;
  out.mod = deck.mtimeSecs;
  out.name = humanDeckName(deck.name);
  out.usn = deck.usn;
  out.lrnToday = [day, c.learningStudied];
  out.revToday = [day, c.reviewStudied];
  out.newToday = [day, c.newStudied];
  out.timeToday = [day, c.millisecondsStudied];
  out.collapsed = c.studyCollapsed;
  out.browserCollapsed = c.browserCollapsed;
  out.desc = k.case === "normal" ? k.value.description : "";
  if (k.case === "normal" && k.value.markdownDescription) out.md = true;
  out.dyn = k.case === "filtered" ? 1 : 0;
  if (k.case === "normal") {
    const n = k.value;
    out.conf = Number(n.configId);
    out.extendNew = wrapI32(n.extendNew);
    out.extendRev = wrapI32(n.extendReview);
    out.reviewLimit = n.reviewLimit ?? null;
    out.newLimit = n.newLimit ?? null;
    out.reviewLimitToday = dayLimitJson(n.reviewLimitToday);
    out.newLimitToday = dayLimitJson(n.newLimitToday);
    out.desiredRetention =
      n.desiredRetention === undefined ? null : castF32ToU32(f32(f32(n.desiredRetention) * 100));
  } else {
    const f = k.value;
    out.resched = f.reschedule;
    out.terms = f.searchTerms.map((t) => [t.search, wrapI32(t.limit), t.order]);
    out.separate = true;
    out.delays = f.delays.length === 0 ? null : f.delays.map(f32ToJson);
    out.previewDelay = f.previewDelay;
    out.previewAgainSecs = f.previewAgainSecs;
    out.previewHardSecs = f.previewHardSecs;
    out.previewGoodSecs = f.previewGoodSecs;
  }
  return appendOther(out, parseOther(c.other, RESERVED_DECK_KEYS));
}
