// Rows of `decks` (schema 18). Names are stored in native form: components
// joined by U+001F, not "::". Both protobuf columns are always written, the
// kind container with its oneof set (rslib rejects an empty kind).
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import {
  Deck_CommonSchema,
  Deck_KindContainerSchema,
  decodeMessage,
  encodeMessage,
  type Deck_Common,
  type Deck_KindContainer,
} from "../messages.js";
import { asInt, asText } from "./values.js";

export interface StoredDeck {
  id: number;
  /** Native name: components separated by "\x1f". */
  name: string;
  mtimeSecs: number;
  usn: number;
  common: Deck_Common;
  kind: Deck_KindContainer;
}

const COLUMNS = "id, name, mtime_secs, usn, common, kind";

/** Inserts or replaces a deck row. */
export function writeDeck(db: CollectionDb, deck: StoredDeck): void {
  if (deck.kind.kind.case === undefined) {
    throw new Error(`deck ${deck.id} (${deck.name}): kind must be normal or filtered`);
  }
  prepareCached(db, `INSERT OR REPLACE INTO decks (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`).run(
    deck.id,
    deck.name,
    deck.mtimeSecs,
    deck.usn,
    encodeMessage(Deck_CommonSchema, deck.common),
    encodeMessage(Deck_KindContainerSchema, deck.kind),
  );
}

export function deleteDeck(db: CollectionDb, id: number): void {
  prepareCached(db, "DELETE FROM decks WHERE id = ?").run(id);
}

type Row = Record<string, unknown>;

function rowToDeck(r: Row): StoredDeck {
  const id = asInt(r.id, "deck id");
  const kind = decodeMessage(Deck_KindContainerSchema, r.kind, `deck ${id} kind`);
  if (kind.kind.case === undefined) throw new Error(`deck ${id} kind: neither normal nor filtered`);
  return {
    id,
    name: asText(r.name, `deck ${id} name`),
    mtimeSecs: asInt(r.mtime_secs, `deck ${id} mtime_secs`),
    usn: asInt(r.usn, `deck ${id} usn`),
    common: decodeMessage(Deck_CommonSchema, r.common, `deck ${id} common`),
    kind,
  };
}

/** All decks in id order. */
export function readAllDecks(db: CollectionDb): StoredDeck[] {
  return (prepareCached(db, `SELECT ${COLUMNS} FROM decks ORDER BY id`).all() as Row[]).map(rowToDeck);
}

/** Decks with usn >= minUsn, in id order. */
export function readDecksSince(db: CollectionDb, minUsn: number): StoredDeck[] {
  return (prepareCached(db, `SELECT ${COLUMNS} FROM decks WHERE usn >= ? ORDER BY id`).all(minUsn) as Row[]).map(rowToDeck);
}

/** Id of the deck whose native name equals `name` under unicase, if any. */
export function deckIdByName(db: CollectionDb, nativeName: string): number | undefined {
  const row = prepareCached(db, "SELECT id FROM decks WHERE name = ?").get(nativeName) as Row | undefined;
  return row === undefined ? undefined : asInt(row.id, "deck id");
}

export function deckMtime(db: CollectionDb, id: number): number | undefined {
  const row = prepareCached(db, "SELECT mtime_secs FROM decks WHERE id = ?").get(id) as Row | undefined;
  return row === undefined ? undefined : asInt(row.mtime_secs, `deck ${id} mtime_secs`);
}
