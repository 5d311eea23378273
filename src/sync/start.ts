// POST /sync/start: opens the sync transaction and answers with the server's
// deletions since the client last synced. Deletions the client sends here (the
// old AnkiDroid way) are applied only after those were collected.
import { readCol } from "../collection/storage/col.js";
import { type Graves, applyGraves, gravesSince } from "../collection/sync-rows/graves.js";
import { RowFormatError, expectIdList } from "../collection/sync-rows/parse.js";
import { badRequest, orBadRequest } from "../protocol/errors.js";
import { parseJsonObject, requireInteger } from "../protocol/json.js";
import { type Reply, type RequestInfo, jsonReply } from "../protocol/types.js";
import { SyncSession } from "../users/session.js";
import { requireSessionKey } from "./session.js";
import type { UserState } from "../users/user.js";

/**
 * Reads a graves object. `strict` (applyGraves, as rslib sends it) requires all
 * three lists; the legacy graves in `start` may leave some out.
 */
export function parseGraves(value: unknown, what: string, strict = false): Graves {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new RowFormatError(`${what}: expected an object`);
  const obj = value as Record<string, unknown>;
  if (strict) {
    for (const key of ["cards", "notes", "decks"]) {
      if (!Array.isArray(obj[key])) throw new RowFormatError(`${what}.${key}: expected an array of ids`);
    }
  }
  return {
    cards: expectIdList(obj.cards, `${what}.cards`),
    notes: expectIdList(obj.notes, `${what}.notes`),
    decks: expectIdList(obj.decks, `${what}.decks`),
  };
}

export function start(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const key = requireSessionKey(info.header.sessionKey);
  const request = parseJsonObject(payload, "start");
  const minUsn = requireInteger(request, "minUsn", "start");
  const lnewer = request.lnewer;
  if (typeof lnewer !== "boolean") throw badRequest('start: "lnewer" must be a boolean');
  const legacyGraves: Graves | undefined = orBadRequest("start", () =>
    request.graves === undefined || request.graves === null ? undefined : parseGraves(request.graves, "start.graves"),
  );

  const serverUsn = readCol(user.collection()).usn;
  const db = user.beginSession(new SyncSession(key, serverUsn, minUsn, lnewer));
  try {
    const serverGraves = gravesSince(db, minUsn);
    if (legacyGraves) applyGraves(db, legacyGraves, serverUsn);
    return jsonReply(serverGraves);
  } catch (err) {
    user.abortActiveSession();
    throw badRequest(`start failed: ${(err as Error).message}`, err);
  }
}
