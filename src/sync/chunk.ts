// POST /sync/chunk: the server's changed revlog, notes and cards, about 250
// rows a call. The ids are captured on the first call, before the client's
// rows arrive, so nothing the client sent is echoed back.
import type { CollectionDb } from "../collection/open.js";
import { readCard } from "../collection/storage/cards.js";
import { readNote } from "../collection/storage/notes.js";
import { readRevlog } from "../collection/storage/revlog.js";
import { cardEntryToJson } from "../collection/sync-rows/cards.js";
import { noteEntryToJson } from "../collection/sync-rows/notes.js";
import { revlogEntryToJson } from "../collection/sync-rows/revlog.js";
import { parseJsonObject } from "../protocol/json.js";
import { type Reply, type RequestInfo, jsonReply } from "../protocol/types.js";
import type { ChunkIds } from "../users/session.js";
import { runSessionStep } from "./session.js";
import type { UserState } from "../users/user.js";

export const CHUNK_SIZE = 250;

function idsSince(db: CollectionDb, table: "revlog" | "cards" | "notes", minUsn: number): number[] {
  return db.prepare(`SELECT id FROM ${table} WHERE usn >= ?`).pluck().all(minUsn) as number[];
}

export interface ChunkJson {
  done: boolean;
  revlog?: unknown[];
  cards?: unknown[];
  notes?: unknown[];
}

/** Takes one chunk's worth of ids, one of each kind per round, as Anki does (up to 252). */
export function takeChunk(ids: ChunkIds): { revlog: number[]; notes: number[]; cards: number[]; done: boolean } {
  let budget = CHUNK_SIZE;
  const taken = { revlog: [] as number[], notes: [] as number[], cards: [] as number[] };
  while (budget > 0) {
    const before = budget;
    const r = ids.revlog.pop();
    if (r !== undefined) (taken.revlog.push(r), budget--);
    const n = ids.notes.pop();
    if (n !== undefined) (taken.notes.push(n), budget--);
    const c = ids.cards.pop();
    if (c !== undefined) (taken.cards.push(c), budget--);
    if (budget === before) break;
  }
  return { ...taken, done: budget > 0 };
}

export function chunk(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  parseJsonObject(payload, "chunk");
  const result = runSessionStep(user, info.header.sessionKey, (db, session) => {
    session.chunkIds ??= {
      revlog: idsSince(db, "revlog", session.clientUsn),
      cards: idsSince(db, "cards", session.clientUsn),
      notes: idsSince(db, "notes", session.clientUsn),
    };
    const taken = takeChunk(session.chunkIds);
    const out: ChunkJson = { done: taken.done };
    const present = <T>(row: T | undefined): row is T => row !== undefined;
    if (taken.revlog.length > 0) out.revlog = taken.revlog.map((id) => readRevlog(db, id)).filter(present).map(revlogEntryToJson);
    if (taken.cards.length > 0) out.cards = taken.cards.map((id) => readCard(db, id)).filter(present).map(cardEntryToJson);
    if (taken.notes.length > 0) out.notes = taken.notes.map((id) => readNote(db, id)).filter(present).map(noteEntryToJson);
    return out;
  });
  return jsonReply(result);
}
