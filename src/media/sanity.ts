// POST /msync/mediaSanity {"local": n}: "OK" when the client's count of files
// it holds equals the server's count of non-deleted entries, else
// "mediaSanity" (the client then wipes its media sync state and starts over
// on the next sync). Only the counts are compared.
import { badRequest } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import type { Reply } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { logger } from "../log.js";
import { mediaDbOf } from "./connections.js";
import { mediaResult } from "./result.js";

export function mediaSanity(user: UserState, payload: Buffer): Reply {
  const request = parseJsonObject(payload, "msync/mediaSanity");
  const local = request.local;
  if (typeof local !== "number" || !Number.isInteger(local) || local < 0 || local > 0xffffffff) {
    throw badRequest("msync/mediaSanity: \"local\" must be an unsigned 32-bit integer");
  }
  const server = mediaDbOf(user).meta().totalNonemptyFiles;
  if (server === local) return mediaResult("OK");
  logger.warn("media sanity check failed", { user: user.name, client: local, server });
  return mediaResult("mediaSanity");
}
