// Default objects every collection starts with: deck options preset 1,
// deck 1 and the schema-11 core config keys. Values follow rslib's
// DeckConfig::default(), Deck::new_normal() and schema11_config_as_string().
import { create } from "@bufbuild/protobuf";
import {
  DeckConfig_ConfigSchema,
  Deck_CommonSchema,
  Deck_KindContainerSchema,
  Deck_NormalSchema,
  type DeckConfig_Config,
  type Deck_Common,
  type Deck_KindContainer,
} from "./messages.js";
import { DeckConfig_Config_LeechAction } from "./proto/gen/anki/deck_config_pb.js";

export const DEFAULT_DECK_ID = 1;
export const DEFAULT_DECK_CONFIG_ID = 1;
/** English name rslib gives both deck 1 and preset 1. */
export const DEFAULT_NAME = "Default";

/**
 * The preset of a new collection. Every float goes through Math.fround when
 * encoded; the literals here are exactly what rslib writes as f32.
 */
export function defaultDeckConfig(): DeckConfig_Config {
  return create(DeckConfig_ConfigSchema, {
    learnSteps: [1, 10],
    relearnSteps: [10],
    newPerDay: 20,
    reviewsPerDay: 200,
    newPerDayMinimum: 0,
    initialEase: 2.5,
    easyMultiplier: 1.3,
    hardMultiplier: 1.2,
    lapseMultiplier: 0,
    intervalMultiplier: 1,
    maximumReviewInterval: 36500,
    minimumLapseInterval: 1,
    graduatingIntervalGood: 1,
    graduatingIntervalEasy: 4,
    leechAction: DeckConfig_Config_LeechAction.TAG_ONLY,
    leechThreshold: 8,
    capAnswerTimeToSecs: 60,
    waitForAudio: true,
    desiredRetention: 0.9,
    historicalRetention: 0.9,
    easyDaysPercentages: [1, 1, 1, 1, 1, 1, 1],
  });
}

/** Common part of a new deck: collapsed in both the deck list and browser. */
export function newDeckCommon(): Deck_Common {
  return create(Deck_CommonSchema, { studyCollapsed: true, browserCollapsed: true });
}

/** Kind of a new normal deck using preset `configId`. */
export function newNormalDeckKind(configId: number | bigint = DEFAULT_DECK_CONFIG_ID): Deck_KindContainer {
  return create(Deck_KindContainerSchema, {
    kind: { case: "normal", value: create(Deck_NormalSchema, { configId: BigInt(configId) }) },
  });
}

/**
 * Config keys a new collection has, as JSON text. `curModel` is null here and
 * set to the first stock notetype's id once it exists. `creationOffset` is
 * null because a server-created collection has no local timezone.
 */
export function defaultConfigEntries(): Array<[key: string, json: string]> {
  return [
    ["activeDecks", "[1]"],
    ["curDeck", "1"],
    ["newSpread", "0"],
    ["collapseTime", "1200"],
    ["timeLim", "0"],
    ["estTimes", "true"],
    ["dueCounts", "true"],
    ["curModel", "null"],
    ["nextPos", "1"],
    ["sortType", '"noteFld"'],
    ["sortBackwards", "false"],
    ["addToCur", "true"],
    ["dayLearnFirst", "false"],
    ["schedVer", "2"],
    ["creationOffset", "null"],
    ["sched2021", "true"],
  ];
}
