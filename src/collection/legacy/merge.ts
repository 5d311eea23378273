// Applying objects received in a normal sync's applyChanges, with rslib's
// merge rules (02-collection-sync.md §4.4, rslib sync/collection/changes.rs):
// the incoming object wins unless the stored one is strictly newer; names
// clashing (unicase) with another object get "+" appended and the object is
// stamped modified. Incoming usns are stored as received, as rslib does.
// Every object is converted before anything is written; the caller wraps
// the whole applyChanges in one transaction.
import type { CollectionDb } from "../open.js";
import { deckConfigMtime, writeDeckConfig } from "../storage/deckconfig.js";
import { deckIdByName, deckMtime, writeDeck, type StoredDeck } from "../storage/decks.js";
import { notetypeIdByName, readNotetype, writeNotetype, type StoredNotetype } from "../storage/notetypes.js";
import { deckConfigFromLegacy } from "./deckconfig.js";
import { deckFromLegacy } from "./decks.js";
import type { JsonValue } from "./json.js";
import { notetypeFromLegacy } from "./notetypes.js";
import { LegacyJsonError } from "./read.js";
import { registerTag } from "./tags.js";

/** rslib answers this with a sync error that makes the client do a full sync. */
export class NotetypeSchemaChangedError extends Error {
  constructor(readonly notetypeId: number) {
    super(`notetype ${notetypeId}: notetype schema changed (field or template count differs)`);
    this.name = "NotetypeSchemaChangedError";
  }
}

export interface MergeContext {
  /** the server usn of this sync (stamped on renamed objects and new tags) */
  usn: number;
  /** "now" in seconds (mtime of renamed objects) */
  nowSecs: number;
  /**
   * Store `usn` on every merged object instead of the usn it arrived with.
   * The server sets this: if another device finished a sync between this
   * client's meta and start, the client's usn is stale and other devices
   * would never fetch those objects.
   */
  stampUsn?: boolean;
}

function ensureNotetypeNameUnique(db: CollectionDb, nt: StoredNotetype, ctx: MergeContext): void {
  for (;;) {
    const holder = notetypeIdByName(db, nt.name);
    if (holder === undefined || holder === nt.id) return;
    nt.name += "+";
    nt.mtimeSecs = ctx.nowSecs;
    nt.usn = ctx.usn;
  }
}

function ensureDeckNameUnique(db: CollectionDb, deck: StoredDeck, ctx: MergeContext): void {
  for (;;) {
    const holder = deckIdByName(db, deck.name);
    if (holder === undefined || holder === deck.id) return;
    deck.name += "+";
    deck.mtimeSecs = ctx.nowSecs;
    deck.usn = ctx.usn;
  }
}

function list(v: JsonValue, what: string): JsonValue[] {
  if (!Array.isArray(v)) throw new LegacyJsonError(`${what}: expected an array`);
  return v;
}

/** Merges incoming notetypes (legacy JSON array). */
export function mergeNotetypes(db: CollectionDb, models: JsonValue, ctx: MergeContext): void {
  const incoming = list(models, "models").map(notetypeFromLegacy);
  for (const nt of incoming) {
    const existing = readNotetype(db, nt.id);
    if (existing !== undefined) {
      if (existing.mtimeSecs > nt.mtimeSecs) continue;
      if (existing.fields.length !== nt.fields.length || existing.templates.length !== nt.templates.length) {
        throw new NotetypeSchemaChangedError(nt.id);
      }
    }
    if (ctx.stampUsn) nt.usn = ctx.usn;
    ensureNotetypeNameUnique(db, nt, ctx);
    writeNotetype(db, nt);
  }
}

/** Merges incoming decks (legacy JSON array). A deck with id 0 is rejected. */
export function mergeDecks(db: CollectionDb, decks: JsonValue, ctx: MergeContext): void {
  const incoming = list(decks, "decks").map(deckFromLegacy);
  for (const deck of incoming) {
    if (deck.id === 0) throw new LegacyJsonError("deck 0: a deck id of 0 is invalid");
    const mtime = deckMtime(db, deck.id);
    if (mtime !== undefined && mtime > deck.mtimeSecs) continue;
    if (ctx.stampUsn) deck.usn = ctx.usn;
    ensureDeckNameUnique(db, deck, ctx);
    writeDeck(db, deck);
  }
}

/** Merges incoming deck option presets (legacy JSON array). */
export function mergeDeckConfigs(db: CollectionDb, dconf: JsonValue, ctx?: MergeContext): void {
  const incoming = list(dconf, "dconf").map(deckConfigFromLegacy);
  for (const dc of incoming) {
    if (dc.id === 0) throw new LegacyJsonError("deck config 0: a preset id of 0 is invalid");
    const mtime = deckConfigMtime(db, dc.id);
    if (mtime !== undefined && mtime > dc.mtimeSecs) continue;
    if (ctx?.stampUsn) dc.usn = ctx.usn;
    writeDeckConfig(db, dc);
  }
}

/** Registers incoming tag names (existing tags keep their spelling and usn). */
export function mergeTags(db: CollectionDb, tags: JsonValue, ctx: MergeContext): void {
  for (const t of list(tags, "tags")) {
    if (typeof t !== "string") throw new LegacyJsonError("tags: every tag must be a string");
    registerTag(db, t, ctx.usn);
  }
}
