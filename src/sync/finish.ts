// POST /sync/finish: commits the sync. The usn goes up by one and mod/ls are
// stamped with the time returned to the client, so both sides agree.
import { parseJsonObject } from "../protocol/json.js";
import { type Reply, type RequestInfo, jsonReply } from "../protocol/types.js";
import { logger } from "../log.js";
import { runSessionStep } from "./session.js";
import type { UserState } from "../users/user.js";

export async function finish(user: UserState, payload: Buffer, info: RequestInfo): Promise<Reply> {
  parseJsonObject(payload, "finish");
  const now = runSessionStep(user, info.header.sessionKey, (db) => {
    const nowMs = Date.now();
    db.prepare("UPDATE col SET ls = ?, mod = ?, usn = usn + 1 WHERE id = 1").run(nowMs, nowMs);
    return nowMs;
  });
  // Acknowledged only once durable (see commitSession).
  await user.commitSession();
  logger.info("sync committed", { user: user.name });
  return jsonReply(now);
}
