// POST /msync/begin (and the legacy GET form, routed here by the server):
// the media usn, and the host key handed back as the old "session key" for
// clients that still send it on later calls. No side effects.
import { badRequest } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import type { Reply, RequestInfo } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { mediaDbOf } from "./connections.js";
import { mediaResult } from "./result.js";

export function begin(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const request = parseJsonObject(payload, "msync/begin");
  const version = request.v ?? "";
  if (typeof version !== "string") throw badRequest("msync/begin: \"v\" must be a string");
  if (version === "") throw badRequest("msync/begin: missing client version");
  const usn = mediaDbOf(user).lastUsn();
  return mediaResult({ usn, sk: info.header.hostKey });
}
