// Whole-collection views in legacy JSON: what the sync layer sends in
// applyChanges and what the schema-11 downgrade writes into the col row.
// Writers convert every object first and only then touch the database, in
// one transaction, so malformed input never leaves half-written rows.
import type { CollectionDb } from "../open.js";
import { readAllDeckConfigs, readDeckConfigsSince, writeDeckConfig, deleteDeckConfig } from "../storage/deckconfig.js";
import { readAllDecks, readDecksSince, writeDeck, deleteDeck } from "../storage/decks.js";
import { readAllNotetypes, readNotetypesSince, writeNotetype, deleteNotetype } from "../storage/notetypes.js";
import { deleteAllTags, writeTag } from "../storage/tags.js";
import { deckConfigFromLegacy, deckConfigToLegacy } from "./deckconfig.js";
import { deckFromLegacy, deckToLegacy } from "./decks.js";
import { isJsonObject, type JsonObject, type JsonValue } from "./json.js";
import { notetypeFromLegacy, notetypeToLegacy } from "./notetypes.js";
import { readConfigMap, replaceConfigMap } from "./config.js";
import { tagsToLegacy } from "./tags.js";
import { LegacyJsonError, describe, I32 } from "./read.js";

/** Input of replaceLegacyModel: values are checked while converting. */
export interface LegacyModelInput {
  models?: JsonValue;
  decks?: JsonValue;
  dconf?: JsonValue;
  conf?: JsonValue;
  tags?: JsonValue;
}

export interface LegacyModel {
  models: JsonObject[];
  decks: JsonObject[];
  dconf: JsonObject[];
  conf: JsonObject;
  /** tag -> usn */
  tags: JsonObject;
}

/** Every notetype, deck, preset, config value and tag, as legacy JSON. */
export function dumpLegacyModel(db: CollectionDb): LegacyModel {
  return {
    models: readAllNotetypes(db).map(notetypeToLegacy),
    decks: readAllDecks(db).map(deckToLegacy),
    dconf: readAllDeckConfigs(db).map((c) => deckConfigToLegacy(c)),
    conf: readConfigMap(db),
    tags: tagsToLegacy(db),
  };
}

/** Objects changed since a client's last sync (usn >= minUsn), for applyChanges. */
export function legacyChangesSince(db: CollectionDb, minUsn: number): Pick<LegacyModel, "models" | "decks" | "dconf"> {
  return {
    models: readNotetypesSince(db, minUsn).map(notetypeToLegacy),
    decks: readDecksSince(db, minUsn).map(deckToLegacy),
    dconf: readDeckConfigsSince(db, minUsn).map((c) => deckConfigToLegacy(c)),
  };
}

function arrayOfObjects(v: JsonValue | undefined, what: string): JsonValue[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new LegacyJsonError(`${what}: expected an array, found ${describe(v)}`);
  return v;
}

/**
 * Replaces all notetypes, decks, presets (and, when given, the config and
 * tags) with the given legacy objects. Used to load a collection's model
 * wholesale (tests, schema-11 upgrade). Each object is stored as given
 * (ids, mtimes and usns kept).
 */
export function replaceLegacyModel(db: CollectionDb, model: LegacyModelInput): void {
  const notetypes = arrayOfObjects(model.models, "models").map(notetypeFromLegacy);
  const decks = arrayOfObjects(model.decks, "decks").map(deckFromLegacy);
  const dconfs = arrayOfObjects(model.dconf, "dconf").map(deckConfigFromLegacy);
  const tags: Array<[string, number]> = [];
  if (model.tags !== undefined) {
    if (!isJsonObject(model.tags)) throw new LegacyJsonError("tags: expected an object of tag -> usn");
    for (const [tag, usn] of Object.entries(model.tags)) {
      const n = I32(usn);
      if (n === undefined) throw new LegacyJsonError(`tag ${JSON.stringify(tag)}: usn must be an i32, found ${describe(usn)}`);
      tags.push([tag, n]);
    }
  }
  db.transaction(() => {
    for (const nt of readAllNotetypes(db)) deleteNotetype(db, nt.id);
    for (const d of readAllDecks(db)) deleteDeck(db, d.id);
    for (const c of readAllDeckConfigs(db)) deleteDeckConfig(db, c.id);
    for (const nt of notetypes) writeNotetype(db, nt);
    for (const d of decks) writeDeck(db, d);
    for (const c of dconfs) writeDeckConfig(db, c);
    if (model.conf !== undefined) replaceConfigMap(db, model.conf, 0, 0);
    if (model.tags !== undefined) {
      deleteAllTags(db);
      for (const [tag, usn] of tags) writeTag(db, { tag, usn, collapsed: true });
    }
  })();
}
