// Deletions: the graves table (schema 18: primary key (oid, type)) and the
// rows they remove. A grave that already exists keeps its original usn.
import type { CollectionDb } from "../open.js";

export interface Graves {
  cards: number[];
  notes: number[];
  decks: number[];
}

const enum GraveKind {
  Card = 0,
  Note = 1,
  Deck = 2,
}

export function gravesSince(db: CollectionDb, minUsn: number): Graves {
  const graves: Graves = { cards: [], notes: [], decks: [] };
  const rows = db.prepare("SELECT oid, type FROM graves WHERE usn >= ?").raw().all(minUsn) as [number, number][];
  for (const [oid, type] of rows) {
    if (type === GraveKind.Card) graves.cards.push(oid);
    else if (type === GraveKind.Note) graves.notes.push(oid);
    else if (type === GraveKind.Deck) graves.decks.push(oid);
  }
  return graves;
}

/** Deletes the objects and records their graves, in the order Anki does: notes, cards, decks. */
export function applyGraves(db: CollectionDb, graves: Graves, usn: number): void {
  const addGrave = db.prepare("INSERT OR IGNORE INTO graves (oid, type, usn) VALUES (?, ?, ?)");
  const deleteNote = db.prepare("DELETE FROM notes WHERE id = ?");
  const deleteCard = db.prepare("DELETE FROM cards WHERE id = ?");
  const deleteDeck = db.prepare("DELETE FROM decks WHERE id = ?");
  for (const id of graves.notes) {
    deleteNote.run(id);
    addGrave.run(id, GraveKind.Note, usn);
  }
  for (const id of graves.cards) {
    deleteCard.run(id);
    addGrave.run(id, GraveKind.Card, usn);
  }
  for (const id of graves.decks) {
    deleteDeck.run(id);
    addGrave.run(id, GraveKind.Deck, usn);
  }
}
