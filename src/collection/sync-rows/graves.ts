// Deletions as sync carries them ({cards, notes, decks} id lists), applied
// in the order Anki applies them: notes, cards, decks.
import type { CollectionDb } from "../open.js";
import { deleteCard } from "../storage/cards.js";
import { deleteDeck } from "../storage/decks.js";
import { GraveType, addGrave, readGravesSince } from "../storage/graves.js";
import { deleteNote } from "../storage/notes.js";

export interface Graves {
  cards: number[];
  notes: number[];
  decks: number[];
}

export function gravesSince(db: CollectionDb, minUsn: number): Graves {
  const graves: Graves = { cards: [], notes: [], decks: [] };
  for (const grave of readGravesSince(db, minUsn)) {
    if (grave.type === GraveType.Card) graves.cards.push(grave.oid);
    else if (grave.type === GraveType.Note) graves.notes.push(grave.oid);
    else graves.decks.push(grave.oid);
  }
  return graves;
}

/** Deletes the objects and records their graves; an existing grave keeps its usn. */
export function applyGraves(db: CollectionDb, graves: Graves, usn: number): void {
  for (const id of graves.notes) {
    deleteNote(db, id);
    addGrave(db, id, GraveType.Note, usn);
  }
  for (const id of graves.cards) {
    deleteCard(db, id);
    addGrave(db, id, GraveType.Card, usn);
  }
  for (const id of graves.decks) {
    deleteDeck(db, id);
    addGrave(db, id, GraveType.Deck, usn);
  }
}
