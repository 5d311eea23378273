// POST /msync/mediaChanges {"lastUsn": n}: up to 1000 [name, usn, sha1] rows
// changed after n, sorted by usn (the client adopts the last row's usn);
// sha1 is "" for a deletion. The client asks until it gets [].
import { badRequest } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import type { Reply } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { MAX_CHANGES_PER_REPLY } from "./limits.js";
import { mediaDbOf } from "./connections.js";
import { mediaResult } from "./result.js";

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

export function mediaChanges(user: UserState, payload: Buffer): Reply {
  const request = parseJsonObject(payload, "msync/mediaChanges");
  const lastUsn = request.lastUsn;
  if (typeof lastUsn !== "number" || !Number.isInteger(lastUsn) || lastUsn < I32_MIN || lastUsn > I32_MAX) {
    throw badRequest("msync/mediaChanges: \"lastUsn\" must be a 32-bit integer");
  }
  return mediaResult(mediaDbOf(user).changesAfter(lastUsn, MAX_CHANGES_PER_REPLY));
}
