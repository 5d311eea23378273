// The rules every stateful step of a normal sync shares: the session key must
// match (else 409), and a step that fails after that check rolls the whole sync
// back (400). The session's state itself lives with the user (src/users/session.ts).
import { HttpError, asHttpError, badRequest, conflict } from "../protocol/errors.js";
import type { CollectionDb } from "../collection/open.js";
import { logger } from "../log.js";
import type { SyncSession } from "../users/session.js";
import type { UserState } from "../users/user.js";

export function requireSessionKey(sessionKey: string): string {
  if (sessionKey.length === 0) throw badRequest("missing session key");
  return sessionKey;
}

/**
 * Runs one stateful step inside the user's open sync. Parsing of the request
 * happens before this, so a malformed body leaves the session intact, as with
 * the official server.
 */
export function runSessionStep<T>(user: UserState, sessionKey: string, step: (db: CollectionDb, session: SyncSession) => T): T {
  requireSessionKey(sessionKey);
  const session = user.session;
  if (!session) throw conflict("no active sync");
  if (session.key !== sessionKey) throw conflict("active sync with different key");
  if (session.rolledBack) {
    // The official server has already dropped the changes; any further step fails as a failed step does.
    user.abortActiveSession();
    throw badRequest("sync was rolled back after a failed sanity check");
  }
  session.lastUsed = Date.now();
  try {
    return step(user.collection(), session);
  } catch (err) {
    user.abortActiveSession();
    if (err instanceof HttpError) throw err;
    logger.warn("sync step failed; rolled back", { user: user.name, reason: (err as Error).message });
    throw asHttpError("sync step failed", err);
  }
}
