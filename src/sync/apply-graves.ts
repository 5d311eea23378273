// POST /sync/applyGraves: the client's deletions, at most 250 ids a call.
import { applyGraves as deleteAndRecord } from "../collection/sync-rows/graves.js";
import { orBadRequest } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import { type Reply, type RequestInfo, jsonReply } from "../protocol/types.js";
import { runSessionStep } from "./session.js";
import { parseGraves } from "./start.js";
import type { UserState } from "../users/user.js";

export function applyGraves(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const request = parseJsonObject(payload, "applyGraves");
  const graves = orBadRequest("applyGraves", () => parseGraves(request.chunk, "applyGraves.chunk", true));
  runSessionStep(user, info.header.sessionKey, (db, session) => deleteAndRecord(db, graves, session.serverUsn));
  return jsonReply(null);
}
