// POST /sync/applyChunk: the client's changed revlog, cards and notes.
// Conflicts: the server keeps its row only if it changed since the client last
// synced and is at least as new; reviews are never overwritten.
import { readNotetype } from "../collection/storage/notetypes.js";
import type { CollectionDb } from "../collection/open.js";
import { type CardRow, writeCardIfIncomingWins } from "../collection/storage/cards.js";
import { noteMtimeUsn } from "../collection/storage/notes.js";
import { type RevlogRow, addRevlog } from "../collection/storage/revlog.js";
import { parseCardEntry } from "../collection/sync-rows/cards.js";
import { type NoteEntry, type NotetypeShape, parseNoteEntry, writeNoteEntry } from "../collection/sync-rows/notes.js";
import { parseRevlogEntry } from "../collection/sync-rows/revlog.js";
import { badRequest, orBadRequest } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import { type Reply, type RequestInfo, jsonReply } from "../protocol/types.js";
import type { SyncSession } from "../users/session.js";
import { runSessionStep } from "./session.js";
import type { UserState } from "../users/user.js";

interface IncomingChunk {
  revlog: RevlogRow[];
  cards: CardRow[];
  notes: NoteEntry[];
}

function parseRows<T>(value: unknown, what: string, parse: (v: unknown, what: string) => T): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${what}: expected an array`);
  return value.map((row, i) => parse(row, `${what}[${i}]`));
}

export function parseIncomingChunk(payload: Buffer): IncomingChunk {
  const request = parseJsonObject(payload, "applyChunk");
  const chunk = request.chunk;
  if (typeof chunk !== "object" || chunk === null || Array.isArray(chunk)) throw badRequest('applyChunk: "chunk" must be an object');
  const c = chunk as Record<string, unknown>;
  if (c.done !== undefined && typeof c.done !== "boolean") throw badRequest('applyChunk: "done" must be a boolean');
  return orBadRequest("applyChunk", () => ({
    revlog: parseRows(c.revlog, "revlog", parseRevlogEntry),
    cards: parseRows(c.cards, "cards", parseCardEntry),
    notes: parseRows(c.notes, "notes", parseNoteEntry),
  }));
}

/** Incoming wins unless the server row is pending for this client and at least as new. */
function incomingWins(existing: { usn: number; mod: number } | undefined, incomingMod: number, clientUsn: number): boolean {
  if (!existing) return true;
  return existing.usn < clientUsn || existing.mod < incomingMod;
}

function notetypeShape(db: CollectionDb, session: SyncSession, ntid: number): NotetypeShape | undefined {
  if (!session.notetypeShapes.has(ntid)) {
    const nt = readNotetype(db, ntid);
    session.notetypeShapes.set(ntid, nt && { fieldCount: nt.fields.length, sortFieldIdx: nt.config.sortFieldIdx });
  }
  return session.notetypeShapes.get(ntid);
}

export function mergeChunk(db: CollectionDb, session: SyncSession, chunk: IncomingChunk): void {
  // The parsed rows belong to this request: stamping them in place saves a
  // copy of every row (thousands per chunk).
  for (const entry of chunk.revlog) {
    entry.usn = session.serverUsn;
    addRevlog(db, entry);
  }
  for (const card of chunk.cards) {
    // incomingWins, inside the statement (storage/cards.ts).
    card.usn = session.serverUsn;
    writeCardIfIncomingWins(db, card, session.clientUsn);
  }
  for (const note of chunk.notes) {
    if (incomingWins(noteMtimeUsn(db, note.id), note.mod, session.clientUsn)) {
      writeNoteEntry(db, note, notetypeShape(db, session, note.mid), session.serverUsn);
    }
  }
}

export function applyChunk(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const chunk = parseIncomingChunk(payload);
  runSessionStep(user, info.header.sessionKey, (db, session) => mergeChunk(db, session, chunk));
  return jsonReply(null);
}
