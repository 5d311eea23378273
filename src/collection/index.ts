// Public surface of the collection model, for the sync server. Modules can
// also be imported directly; this file only gathers what callers need.
export { createEmptyCollection, CollectionExistsError } from "./create.js";
export { SCHEMA_VERSION, SCHEMA18_DDL, applySchema18 } from "./schema18.js";
export { readCol, writeCol, updateCol, type ColRow } from "./storage/col.js";
export * from "./storage/notes.js";
export * from "./storage/cards.js";
export * from "./storage/revlog.js";
export * from "./storage/graves.js";
export * from "./storage/tags.js";
export * from "./storage/config.js";
export * from "./storage/decks.js";
export * from "./storage/deckconfig.js";
export * from "./storage/notetypes.js";
export { parseJson, stringifyJson, type JsonValue, type JsonObject } from "./legacy/json.js";
export { LegacyJsonError } from "./legacy/read.js";
export { deckFromLegacy, deckToLegacy } from "./legacy/decks.js";
export { deckConfigFromLegacy, deckConfigToLegacy, withValidValues } from "./legacy/deckconfig.js";
export { notetypeFromLegacy, notetypeToLegacy } from "./legacy/notetypes.js";
export { configToLegacy, configEntriesFromLegacy, readConfigMap, replaceConfigMap } from "./legacy/config.js";
export { registerTag, tagsToLegacy } from "./legacy/tags.js";
export { nativeDeckName, humanDeckName, normalizeTagName } from "./legacy/names.js";
export { dumpLegacyModel, legacyChangesSince, replaceLegacyModel, type LegacyModel } from "./legacy/model.js";
export {
  mergeNotetypes,
  mergeDecks,
  mergeDeckConfigs,
  mergeTags,
  NotetypeSchemaChangedError,
  type MergeContext,
} from "./legacy/merge.js";
export { downgradeDb, downgradeToSchema11 } from "./upgrade/downgrade.js";
export { upgradeDb, upgradeToSchema18 } from "./upgrade/upgrade.js";
