// Legacy (schema 11) deck options JSON <-> stored DeckConfig.Config.
// Rules: 04-legacy-json-conversion.md §3, checked against rslib's
// deckconfig/schema11.rs and deckconfig/mod.rs.
import { create } from "@bufbuild/protobuf";
import { DeckConfig_ConfigSchema, type DeckConfig_Config } from "../messages.js";
import type { StoredDeckConfig } from "../storage/deckconfig.js";
import { isJsonObject, newJsonObject, setKey, type JsonObject, type JsonValue } from "./json.js";
import { castF32ToU16, f32, f32ToJson, wrapI32, wrapU16 } from "./numbers.js";
import { appendOther, otherToBytes, parseOther, unknownKeys } from "./other.js";
import {
  I32,
  U16,
  U32,
  U8,
  arrayOf,
  bool,
  def,
  expectObject,
  field,
  int,
  inv,
  keyReqInv,
  num,
  numOrString,
  required,
  safeInt,
  str,
  type Parse,
} from "./read.js";

const TOP_KEYS = new Set([
  "id", "mod", "name", "usn", "maxTaken", "autoplay", "timer", "replayq", "new", "rev", "lapse", "dyn",
  "newMix", "newPerDayMinimum", "interdayLearningMix", "reviewOrder", "newSortOrder", "newGatherPriority",
  "buryInterdayLearning", "fsrsWeights", "fsrsParams5", "fsrsParams6", "desiredRetention",
  "ignoreRevlogsBeforeDate", "easyDaysPercentages", "stopTimerOnAnswer", "secondsToShowQuestion",
  "secondsToShowAnswer", "questionAction", "answerAction", "waitForAudio", "sm2Retention", "weightSearch",
]);
const NEW_KEYS = new Set(["bury", "delays", "initialFactor", "ints", "order", "perDay"]);
const REV_KEYS = new Set(["bury", "ease4", "ivlFct", "maxIvl", "perDay", "hardFactor"]);
const LAPSE_KEYS = new Set(["delays", "leechAction", "leechFails", "minInt", "mult"]);

/** Reserved when emitting (everything named except new/rev/lapse, which are split out explicitly). */
const RESERVED_TOP = new Set([...TOP_KEYS].filter((k) => k !== "new" && k !== "rev" && k !== "lapse"));

interface NewConf {
  bury: boolean;
  delays: number[];
  initialFactor: number;
  good: number;
  easy: number;
  /** legacy order: 0 random, 1 due */
  order: number;
  perDay: number;
  other: JsonObject;
}
interface RevConf {
  bury: boolean;
  ease4: number;
  ivlFct: number;
  maxIvl: number;
  perDay: number;
  hardFactor: number;
  other: JsonObject;
}
interface LapseConf {
  delays: number[];
  leechAction: number;
  leechFails: number;
  minInt: number;
  mult: number;
  other: JsonObject;
}

// Defaults used when a whole sub-object is invalid (rslib's schema-11 defaults).
const defaultNew = (): NewConf => ({
  bury: false, delays: [1, 10], initialFactor: 2500, good: 1, easy: 4, order: 1, perDay: 20, other: newJsonObject(),
});
const defaultRev = (): RevConf => ({
  bury: false, ease4: 1.3, ivlFct: 1, maxIvl: 36500, perDay: 200, hardFactor: 1.2, other: newJsonObject(),
});
const defaultLapse = (): LapseConf => ({
  delays: [10], leechAction: 1, leechFails: 8, minInt: 1, mult: 0, other: newJsonObject(),
});

/** A sub-object parser that yields undefined (-> defaults) on any failure. */
function lenient<T>(build: (o: JsonObject) => T): Parse<T> {
  return (v) => {
    if (!isJsonObject(v)) return undefined;
    try {
      return build(v);
    } catch {
      return undefined;
    }
  };
}

/** `new.ints`: at least two u16 values; anything else means (1, 4). */
const newInts: Parse<[number, number]> = (v) => {
  const vals = arrayOf(U16)(v);
  if (vals === undefined || vals.length < 2) return [1, 4];
  return [vals[0]!, vals[1]!];
};

const parseNew = lenient<NewConf>((o) => {
  const w = "deck config new";
  const [good, easy] = field(o, "ints", w, newInts, required, "");
  return {
    bury: field(o, "bury", w, bool, def(false), "a boolean"),
    delays: field(o, "delays", w, arrayOf(num), keyReqInv<number[]>([]), ""),
    initialFactor: field(o, "initialFactor", w, U16, required, "a u16"),
    good,
    easy,
    order: field(o, "order", w, int(0, 1), keyReqInv(1), ""),
    perDay: field(o, "perDay", w, U32, keyReqInv(0), ""),
    other: unknownKeys(o, NEW_KEYS),
  };
});

const parseRev = lenient<RevConf>((o) => {
  const w = "deck config rev";
  return {
    bury: field(o, "bury", w, bool, def(false), "a boolean"),
    ease4: field(o, "ease4", w, num, required, "a number"),
    ivlFct: field(o, "ivlFct", w, num, required, "a number"),
    maxIvl: field(o, "maxIvl", w, U32, required, "a u32"),
    perDay: field(o, "perDay", w, U32, keyReqInv(0), ""),
    hardFactor: field(o, "hardFactor", w, num, def(1.2), "a number"),
    other: unknownKeys(o, REV_KEYS),
  };
});

const parseLapse = lenient<LapseConf>((o) => {
  const w = "deck config lapse";
  return {
    delays: field(o, "delays", w, arrayOf(num), keyReqInv<number[]>([]), ""),
    leechAction: field(o, "leechAction", w, int(0, 1), keyReqInv(1), ""),
    leechFails: field(o, "leechFails", w, U32, required, "a u32"),
    minInt: field(o, "minInt", w, U32, required, "a u32"),
    mult: field(o, "mult", w, num, required, "a number"),
    other: unknownKeys(o, LAPSE_KEYS),
  };
});

/** Converts one legacy deck options object into its stored form. */
export function deckConfigFromLegacy(value: JsonValue): StoredDeckConfig {
  const obj = expectObject(value, "deck config");
  const what = `deck config ${typeof obj.id === "number" || typeof obj.id === "string" ? String(obj.id) : "?"}`;
  const id = field(obj, "id", what, numOrString(safeInt), required, "an integer");
  const mtimeSecs = field(obj, "mod", what, numOrString(safeInt), required, "an integer");
  const name = field(obj, "name", what, str, required, "a string");
  const usn = field(obj, "usn", what, I32, required, "an i32");
  const maxTaken = field(obj, "maxTaken", what, I32, required, "an i32");
  const autoplay = field(obj, "autoplay", what, bool, required, "a boolean");
  const timer = field(obj, "timer", what, U8, keyReqInv(0), "");
  const replayq = field(obj, "replayq", what, bool, def(false), "a boolean");
  const nw = field(obj, "new", what, parseNew, keyReqInv(defaultNew()), "");
  const rev = field(obj, "rev", what, parseRev, keyReqInv(defaultRev()), "");
  const lapse = field(obj, "lapse", what, parseLapse, keyReqInv(defaultLapse()), "");
  field(obj, "dyn", what, bool, inv(false), "");
  const i32 = (key: string): number => field(obj, key, what, I32, def(0), "an i32");
  const floats = (key: string): number[] => field(obj, key, what, arrayOf(num), def<number[]>([]), "an array of numbers");
  const float = (key: string, d: number): number => field(obj, key, what, num, def(d), "a number");
  const boolean = (key: string, d: boolean): boolean => field(obj, key, what, bool, def(d), "a boolean");
  const string = (key: string): string => field(obj, key, what, str, def(""), "a string");

  const other = unknownKeys(obj, TOP_KEYS);
  // unknown keys of the sub-objects travel inside `other` under their name
  if (Object.keys(nw.other).length > 0) setKey(other, "new", nw.other);
  if (Object.keys(rev.other).length > 0) setKey(other, "rev", rev.other);
  if (Object.keys(lapse.other).length > 0) setKey(other, "lapse", lapse.other);

  const config: DeckConfig_Config = create(DeckConfig_ConfigSchema, {
    learnSteps: nw.delays.map(f32),
    relearnSteps: lapse.delays.map(f32),
    newPerDay: nw.perDay,
    reviewsPerDay: rev.perDay,
    newPerDayMinimum: field(obj, "newPerDayMinimum", what, U32, def(0), "a u32"),
    initialEase: f32(f32(nw.initialFactor) / 1000),
    easyMultiplier: f32(rev.ease4),
    hardMultiplier: f32(rev.hardFactor),
    lapseMultiplier: f32(lapse.mult),
    intervalMultiplier: f32(rev.ivlFct),
    maximumReviewInterval: rev.maxIvl,
    minimumLapseInterval: lapse.minInt,
    graduatingIntervalGood: nw.good,
    graduatingIntervalEasy: nw.easy,
    // legacy 0 = random, 1 = due; protobuf DUE = 0, RANDOM = 1
    newCardInsertOrder: nw.order === 0 ? 1 : 0,
    newCardGatherPriority: i32("newGatherPriority"),
    newCardSortOrder: i32("newSortOrder"),
    reviewOrder: i32("reviewOrder"),
    newMix: i32("newMix"),
    interdayLearningMix: i32("interdayLearningMix"),
    leechAction: lapse.leechAction,
    leechThreshold: lapse.leechFails,
    disableAutoplay: !autoplay,
    capAnswerTimeToSecs: Math.max(0, maxTaken),
    showTimer: timer !== 0,
    stopTimerOnAnswer: boolean("stopTimerOnAnswer", false),
    secondsToShowQuestion: f32(float("secondsToShowQuestion", 0)),
    secondsToShowAnswer: f32(float("secondsToShowAnswer", 0)),
    questionAction: field(obj, "questionAction", what, int(0, 1), def(0), "0 or 1"),
    answerAction: field(obj, "answerAction", what, int(0, 4), def(0), "0..4"),
    waitForAudio: boolean("waitForAudio", true),
    skipQuestionWhenReplayingAnswer: !replayq,
    buryNew: nw.bury,
    buryReviews: rev.bury,
    buryInterdayLearning: boolean("buryInterdayLearning", false),
    fsrsParams4: floats("fsrsWeights").map(f32),
    fsrsParams5: floats("fsrsParams5").map(f32),
    fsrsParams6: floats("fsrsParams6").map(f32),
    ignoreRevlogsBeforeDate: string("ignoreRevlogsBeforeDate"),
    easyDaysPercentages: floats("easyDaysPercentages").map(f32),
    desiredRetention: f32(float("desiredRetention", 0)),
    historicalRetention: f32(float("sm2Retention", 0)),
    paramSearch: string("weightSearch"),
    other: otherToBytes(other),
  });
  return { id, name, mtimeSecs, usn, config };
}

function u32InRange(v: number, dflt: number, min: number, max: number): number {
  return v < min || v > max ? dflt : v;
}
function f32InRange(v: number, dflt: number, min: number, max: number): number {
  return Number.isNaN(v) || v < f32(min) || v > f32(max) ? f32(dflt) : v;
}

/**
 * rslib replaces out-of-range values with defaults whenever it reads a
 * preset (sync, downgrade); emitting JSON must do the same. Returns a copy.
 */
export function withValidValues(c: DeckConfig_Config): DeckConfig_Config {
  const v = create(DeckConfig_ConfigSchema, c);
  v.newPerDay = u32InRange(v.newPerDay, 20, 0, 9999);
  v.reviewsPerDay = u32InRange(v.reviewsPerDay, 200, 0, 9999);
  v.newPerDayMinimum = u32InRange(v.newPerDayMinimum, 0, 0, 9999);
  v.initialEase = f32InRange(v.initialEase, 2.5, 1.31, 5.0);
  v.easyMultiplier = f32InRange(v.easyMultiplier, 1.3, 1.0, 5.0);
  v.hardMultiplier = f32InRange(v.hardMultiplier, 1.2, 0.5, 1.3);
  v.lapseMultiplier = f32InRange(v.lapseMultiplier, 0, 0, 1.0);
  v.intervalMultiplier = f32InRange(v.intervalMultiplier, 1.0, 0.5, 2.0);
  v.maximumReviewInterval = u32InRange(v.maximumReviewInterval, 36500, 1, 36500);
  v.minimumLapseInterval = u32InRange(v.minimumLapseInterval, 1, 1, 36500);
  v.graduatingIntervalGood = u32InRange(v.graduatingIntervalGood, 1, 1, 36500);
  v.graduatingIntervalEasy = u32InRange(v.graduatingIntervalEasy, 4, 1, 36500);
  v.leechThreshold = u32InRange(v.leechThreshold, 8, 1, 9999);
  v.capAnswerTimeToSecs = u32InRange(v.capAnswerTimeToSecs, 60, 1, 9999);
  v.desiredRetention = f32InRange(v.desiredRetention, 0.9, 0.7, 0.99);
  v.historicalRetention = f32InRange(v.historicalRetention, 0.9, 0.7, 0.97);
  return v;
}

const floatsJson = (xs: number[]): JsonValue[] => xs.map(f32ToJson);

function subOther(all: JsonObject, key: string, reserved: ReadonlySet<string>): JsonObject {
  const v = all[key];
  delete all[key];
  const out = newJsonObject();
  if (!isJsonObject(v)) return out;
  for (const k of Object.keys(v)) if (!reserved.has(k)) setKey(out, k, v[k]!);
  return out;
}

/**
 * Converts a stored preset into legacy JSON. Values are validated first
 * (as rslib does on every read) unless `validate` is false.
 */
export function deckConfigToLegacy(dc: StoredDeckConfig, validate = true): JsonObject {
  const c = validate ? withValidValues(dc.config) : dc.config;
  const all = parseOther(c.other, new Set());
  const newOther = subOther(all, "new", NEW_KEYS);
  const revOther = subOther(all, "rev", REV_KEYS);
  const lapseOther = subOther(all, "lapse", LAPSE_KEYS);
  for (const k of Object.keys(all)) if (RESERVED_TOP.has(k)) delete all[k];

  const nw = newJsonObject();
  nw.bury = c.buryNew;
  nw.delays = floatsJson(c.learnSteps);
  nw.initialFactor = castF32ToU16(f32(c.initialEase * 1000));
  nw.ints = [wrapU16(c.graduatingIntervalGood), wrapU16(c.graduatingIntervalEasy), 0];
  // protobuf RANDOM (1) -> legacy 0; DUE and unknown values -> legacy 1
  nw.order = c.newCardInsertOrder === 1 ? 0 : 1;
  nw.perDay = c.newPerDay;
  appendOther(nw, newOther);

  const rev = newJsonObject();
  rev.bury = c.buryReviews;
  rev.ease4 = f32ToJson(c.easyMultiplier);
  rev.ivlFct = f32ToJson(c.intervalMultiplier);
  rev.maxIvl = c.maximumReviewInterval;
  rev.perDay = c.reviewsPerDay;
  rev.hardFactor = f32ToJson(c.hardMultiplier);
  appendOther(rev, revOther);

  const lapse = newJsonObject();
  lapse.delays = floatsJson(c.relearnSteps);
  lapse.leechAction = c.leechAction === 1 ? 1 : 0;
  lapse.leechFails = c.leechThreshold;
  lapse.minInt = c.minimumLapseInterval;
  lapse.mult = f32ToJson(c.lapseMultiplier);
  appendOther(lapse, lapseOther);

  const out = newJsonObject();
  out.id = dc.id;
  out.mod = dc.mtimeSecs;
  out.name = dc.name;
  out.usn = dc.usn;
  out.maxTaken = wrapI32(c.capAnswerTimeToSecs);
  out.autoplay = !c.disableAutoplay;
  out.timer = c.showTimer ? 1 : 0;
  out.replayq = !c.skipQuestionWhenReplayingAnswer;
  out.new = nw;
  out.rev = rev;
  out.lapse = lapse;
  out.dyn = false;
  out.newMix = c.newMix;
  out.newPerDayMinimum = c.newPerDayMinimum;
  out.interdayLearningMix = c.interdayLearningMix;
  out.reviewOrder = c.reviewOrder;
  out.newSortOrder = c.newCardSortOrder;
  out.newGatherPriority = c.newCardGatherPriority;
  out.buryInterdayLearning = c.buryInterdayLearning;
  out.fsrsWeights = floatsJson(c.fsrsParams4);
  out.fsrsParams5 = floatsJson(c.fsrsParams5);
  out.fsrsParams6 = floatsJson(c.fsrsParams6);
  out.desiredRetention = f32ToJson(c.desiredRetention);
  out.ignoreRevlogsBeforeDate = c.ignoreRevlogsBeforeDate;
  out.easyDaysPercentages = floatsJson(c.easyDaysPercentages);
  out.stopTimerOnAnswer = c.stopTimerOnAnswer;
  out.secondsToShowQuestion = f32ToJson(c.secondsToShowQuestion);
  out.secondsToShowAnswer = f32ToJson(c.secondsToShowAnswer);
  out.questionAction = c.questionAction === 1 ? 1 : 0;
  out.answerAction = c.answerAction >= 1 && c.answerAction <= 4 ? c.answerAction : 0;
  out.waitForAudio = c.waitForAudio;
  out.sm2Retention = f32ToJson(c.historicalRetention);
  out.weightSearch = c.paramSearch;
  return appendOther(out, all);
}
