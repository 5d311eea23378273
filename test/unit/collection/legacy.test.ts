import { describe, expect, it } from "vitest";
import { toBinary } from "@bufbuild/protobuf";
import { parseJson, stringifyJson, type JsonObject } from "../../../src/collection/legacy/json.js";
import { f32ToJson } from "../../../src/collection/legacy/numbers.js";
import { humanDeckName, nativeDeckName, normalizeTagName } from "../../../src/collection/legacy/names.js";
import { deckFromLegacy, deckToLegacy } from "../../../src/collection/legacy/decks.js";
import { deckConfigFromLegacy, deckConfigToLegacy } from "../../../src/collection/legacy/deckconfig.js";
import { notetypeFromLegacy, notetypeToLegacy } from "../../../src/collection/legacy/notetypes.js";
import { LegacyJsonError } from "../../../src/collection/legacy/read.js";
import {
  Deck_CommonSchema,
  Deck_KindContainerSchema,
  Notetype_ConfigSchema,
  Notetype_Field_ConfigSchema,
  Notetype_Template_ConfigSchema,
} from "../../../src/collection/messages.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (s: string): string => s.replace(/\s+/g, "").toLowerCase();

function baseDeck(extra: Record<string, unknown>): string {
  return JSON.stringify({
    id: 5, mod: 10, name: "A::B", usn: 3, lrnToday: [0, 0], revToday: [0, 0], newToday: [0, 0],
    timeToday: [0, 0], collapsed: false, dyn: 0, conf: 1, ...extra,
  });
}

describe("lossless JSON", () => {
  it("keeps 64-bit integers exact", () => {
    const text = '{"id":-5728374658273645123,"b":9007199254740993,"f":1.5,"n":12}';
    const v = parseJson(text) as JsonObject;
    expect(v.id).toBe(-5728374658273645123n);
    expect(v.n).toBe(12);
    expect(stringifyJson(v)).toBe(text);
  });
});

describe("f32 printing", () => {
  it("prints the shortest decimal that round-trips as f32", () => {
    expect(f32ToJson(Math.fround(0.9))).toBe(0.9);
    expect(f32ToJson(Math.fround(1.2))).toBe(1.2);
    expect(f32ToJson(Math.fround(2.5))).toBe(2.5);
    expect(f32ToJson(Math.fround(0.0069))).toBe(0.0069);
    expect(f32ToJson(Number.NaN)).toBeNull();
  });
});

describe("names", () => {
  it("normalises deck names like rslib", () => {
    expect(nativeDeckName("foo::bar")).toBe("foo\x1fbar");
    expect(nativeDeckName("foo::::baz")).toBe("foo\x1fblank\x1fbaz");
    expect(nativeDeckName("foo:::bar")).toBe("foo\x1fbar");
    expect(nativeDeckName("foo:::bar:baz: ")).toBe("foo\x1fbar:baz");
    expect(nativeDeckName("fo\x1fo::ba\nr")).toBe("foo\x1fbar");
    expect(nativeDeckName("e\u0301")).toBe("\u00e9");
    expect(humanDeckName("a\x1fb")).toBe("a::b");
  });
  it("normalises tags", () => {
    expect(normalizeTagName(" a b::\u3000c ")).toBe("ab::c");
    expect(normalizeTagName("a::::b")).toBe("a::blank::b");
  });
});

describe("decks", () => {
  it("encodes a normal deck like the documented bytes (presence kept)", () => {
    const d = deckFromLegacy(
      parseJson(baseDeck({ reviewLimit: 0, newLimitToday: { limit: 5, today: 100 }, desiredRetention: 85 })),
    );
    expect(hex(toBinary(Deck_KindContainerSchema, d.kind))).toBe(bytes("0A 0F 08 01 30 00 4A 04 08 05 10 64 55 9A 99 59 3F"));
    expect(d.name).toBe("A\x1fB");
    const back = deckToLegacy(d);
    expect(back.reviewLimit).toBe(0);
    expect(back.newLimit).toBeNull();
    expect(back.desiredRetention).toBe(85);
    expect(back.newLimitToday).toEqual({ limit: 5, today: 100 });
  });

  it("encodes a filtered deck and emits the legacy extras", () => {
    const d = deckFromLegacy(
      parseJson(baseDeck({ dyn: 1, resched: true, terms: [["deck:current", 100, 1]], previewAgainSecs: 60, desc: "x", return: true })),
    );
    expect(hex(toBinary(Deck_KindContainerSchema, d.kind))).toBe(
      bytes("12 18 08 01 12 12 0A 0C 64 65 63 6B 3A 63 75 72 72 65 6E 74 10 64 18 01 38 3C"),
    );
    const j = deckToLegacy(d);
    expect(j).toMatchObject({ desc: "", dyn: 1, separate: true, delays: null, previewAgainSecs: 60 });
    expect("return" in j).toBe(false);
    expect("conf" in j).toBe(false);
  });

  it("merges the *Today arrays on the latest day and keeps unknown keys", () => {
    const d = deckFromLegacy(
      parseJson(baseDeck({ lrnToday: [5, 1], revToday: [19000, 4], newToday: [18999, 9], timeToday: [19000, -1], mid: 1234 })),
    );
    expect(d.common.lastDayStudied).toBe(19000);
    expect(d.common.reviewStudied).toBe(4);
    expect(d.common.newStudied).toBe(0);
    expect(d.common.learningStudied).toBe(0);
    expect(d.common.millisecondsStudied).toBe(-1);
    expect(Buffer.from(d.common.other).toString()).toBe('{"mid":1234}');
    const j = deckToLegacy(d);
    expect(j.revToday).toEqual([19000, 4]);
    expect(j.mid).toBe(1234);
  });

  it("encodes the default deck common like rslib", () => {
    const d = deckFromLegacy(parseJson(baseDeck({ collapsed: true, browserCollapsed: true })));
    expect(hex(toBinary(Deck_CommonSchema, d.common))).toBe("08011001");
  });

  it("rejects malformed decks with the object and key named", () => {
    expect(() => deckFromLegacy(parseJson(baseDeck({ collapsed: "yes" })))).toThrow(/deck 5: key "collapsed"/);
    expect(() => deckFromLegacy(parseJson(baseDeck({ dyn: "1" })))).toThrow(LegacyJsonError);
    expect(() => deckFromLegacy(parseJson('{"id":1}'))).toThrow(/deck 1: missing key "dyn"/);
  });

  it("treats invalid optional values as absent", () => {
    const d = deckFromLegacy(parseJson(baseDeck({ reviewLimit: -1, desiredRetention: 0.9, extendNew: -5 })));
    const j = deckToLegacy(d);
    expect(j.reviewLimit).toBeNull();
    expect(j.desiredRetention).toBeNull();
    expect(j.extendNew).toBe(0);
  });
});

describe("deck configs", () => {
  const legacy = {
    id: 1, mod: 0, name: "Default", usn: 0, maxTaken: 60, autoplay: true, timer: 0, replayq: true,
    new: { bury: false, delays: [1.0, 10.0], initialFactor: 2500, ints: [1, 4, 0], order: 1, perDay: 20 },
    rev: { bury: false, ease4: 1.3, ivlFct: 1.0, maxIvl: 36500, perDay: 200, hardFactor: 1.2 },
    lapse: { delays: [10.0], leechAction: 1, leechFails: 8, minInt: 1, mult: 0.0 },
    dyn: false, newMix: 0, newPerDayMinimum: 0, interdayLearningMix: 0, reviewOrder: 0, newSortOrder: 0,
    newGatherPriority: 0, buryInterdayLearning: false, fsrsWeights: [], fsrsParams5: [], fsrsParams6: [],
    desiredRetention: 0.9, ignoreRevlogsBeforeDate: "", easyDaysPercentages: [1, 1, 1, 1, 1, 1, 1],
    stopTimerOnAnswer: false, secondsToShowQuestion: 0, secondsToShowAnswer: 0, questionAction: 0,
    answerAction: 0, waitForAudio: true, sm2Retention: 0.9, weightSearch: "",
  };

  it("round-trips the default preset", () => {
    const dc = deckConfigFromLegacy(parseJson(JSON.stringify(legacy)));
    expect(dc.config.initialEase).toBe(2.5);
    expect(dc.config.newCardInsertOrder).toBe(0);
    expect(deckConfigToLegacy(dc)).toEqual(legacy);
  });

  it("maps inverted and renamed options and keeps nested unknown keys", () => {
    const j = structuredClone(legacy) as Record<string, any>;
    j.autoplay = false;
    j.replayq = false;
    j.timer = 1;
    j.new.order = 0;
    j.new.separate = true;
    j.rev.fuzz = 0.05;
    j.addon = { x: 1 };
    const dc = deckConfigFromLegacy(parseJson(JSON.stringify(j)));
    expect(dc.config.disableAutoplay).toBe(true);
    expect(dc.config.skipQuestionWhenReplayingAnswer).toBe(true);
    expect(dc.config.showTimer).toBe(true);
    expect(dc.config.newCardInsertOrder).toBe(1);
    expect(JSON.parse(Buffer.from(dc.config.other).toString())).toEqual({ addon: { x: 1 }, new: { separate: true }, rev: { fuzz: 0.05 } });
    expect(deckConfigToLegacy(dc)).toEqual(j);
  });

  it("falls back to defaults for invalid sub-objects and values", () => {
    const j = structuredClone(legacy) as Record<string, any>;
    j.new = { initialFactor: 2500, ints: [4], delays: "x", order: 7, perDay: -1, bury: false };
    j.rev = { ease4: 1.3 }; // missing required keys -> whole sub-object default
    j.desiredRetention = 0; // invalid -> 0.9 on read
    j.maxTaken = -5;
    const out = deckConfigToLegacy(deckConfigFromLegacy(parseJson(JSON.stringify(j))));
    expect(out.new).toMatchObject({ ints: [1, 4, 0], delays: [], order: 1, perDay: 0 });
    expect(out.rev).toEqual(legacy.rev);
    expect(out.desiredRetention).toBe(0.9);
    expect(out.maxTaken).toBe(60);
  });

  it("requires the required keys", () => {
    const j = structuredClone(legacy) as Record<string, any>;
    delete j.autoplay;
    expect(() => deckConfigFromLegacy(parseJson(JSON.stringify(j)))).toThrow(/deck config 1: missing key "autoplay"/);
  });
});

describe("notetypes", () => {
  const nt = (): Record<string, any> => ({
    id: 7, name: "N", type: 1, mod: 3, usn: 2, sortf: 0, did: null, css: ".card{}", latexPre: "", latexPost: "",
    latexsvg: false, req: [[0, "any", [0]]], originalStockKind: 5,
    flds: [{
      name: "Text", ord: 0, sticky: false, rtl: false, font: "Arial", size: 20, description: "", plainText: false,
      collapsed: false, excludeFromSearch: false, id: -5728374658273645123n, tag: 0, preventDeletion: true,
    }],
    tmpls: [{ name: "Cloze", ord: 0, qfmt: "{{cloze:Text}}", afmt: "{{cloze:Text}}", bqfmt: "", bafmt: "", did: null, bfont: "", bsize: 0, id: 1 }],
  });
  const parse = (o: Record<string, any>) => parseJson(stringifyJson(o as never));

  it("encodes like the documented bytes", () => {
    const s = notetypeFromLegacy(parse(nt()));
    expect(hex(toBinary(Notetype_Field_ConfigSchema, s.fields[0]!.config))).toBe(
      bytes("1A 05 41 72 69 61 6C 20 14 48 BD DB FF C9 93 B3 AE C0 B0 01 50 00 58 01"),
    );
    expect(hex(toBinary(Notetype_Template_ConfigSchema, s.templates[0]!.config))).toBe(
      bytes("0A 0E 7B 7B 63 6C 6F 7A 65 3A 54 65 78 74 7D 7D 12 0E 7B 7B 63 6C 6F 7A 65 3A 54 65 78 74 7D 7D 40 01"),
    );
    expect(hex(toBinary(Notetype_ConfigSchema, s.config))).toBe(
      bytes("08 01 1A 07 2E 63 61 72 64 7B 7D 42 05 10 01 1A 01 00 48 05"),
    );
  });

  it("round-trips with exact ids and unknown keys", () => {
    const j = nt();
    j.vers = [];
    j.flds[0].media = [];
    j.tmpls[0].extra = { k: 9007199254740993n };
    j.originalId = 0;
    const back = notetypeToLegacy(notetypeFromLegacy(parse(j)));
    expect(back).toEqual(parse(j));
    expect(stringifyJson(back)).toContain("-5728374658273645123");
  });

  it("ignores incoming ords, applies casts and omits defaults", () => {
    const j = nt();
    j.flds[0].ord = 5;
    j.tmpls[0].bsize = 300;
    j.tmpls[0].did = -3;
    j.latexsvg = 1;
    j.originalStockKind = 0;
    const back = notetypeToLegacy(notetypeFromLegacy(parse(j)));
    expect((back.flds as any)[0].ord).toBe(0);
    expect((back.tmpls as any)[0].bsize).toBe(0);
    expect((back.tmpls as any)[0].did).toBeNull();
    expect(back.latexsvg).toBe(false);
    expect("originalStockKind" in back).toBe(false);
    expect("originalId" in back).toBe(false);
  });

  it("rejects bad notetypes naming the key", () => {
    const j = nt();
    j.type = 2;
    expect(() => notetypeFromLegacy(parse(j))).toThrow(/notetype 7: key "type"/);
    const k = nt();
    delete k.flds[0].font;
    expect(() => notetypeFromLegacy(parse(k))).toThrow(/notetype 7 field 0: missing key "font"/);
  });
});
