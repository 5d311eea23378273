// The per-user state of a normal sync between `start` and `finish`, and the
// rules every stateful step shares: the session key must match (else 409), and
// a step that fails after that check rolls the whole sync back (400).
import { HttpError, badRequest, conflict } from "../http/errors.js";
import type { CollectionDb } from "../collection/open.js";
import type { NotetypeShape } from "../collection/sync-rows/notes.js";
import { logger } from "../log.js";
import type { UserState } from "./user.js";

export interface ChunkIds {
  revlog: number[];
  cards: number[];
  notes: number[];
}

export class SyncSession {
  /** Ids of the rows the server still has to send, taken at the first `chunk`. */
  chunkIds: ChunkIds | undefined;
  /** Set when a sanity check failed: the changes are gone, the record stays until `abort`. */
  rolledBack = false;
  lastUsed = Date.now();
  /** Field count and sort field of notetypes, looked up once per sync. */
  readonly notetypeShapes = new Map<number, NotetypeShape | undefined>();

  constructor(
    readonly key: string,
    /** The server usn when the sync started: stamped on everything this sync stores. */
    readonly serverUsn: number,
    /** The client's `minUsn`: server rows with usn >= this are new to the client. */
    readonly clientUsn: number,
    /** `lnewer`: the client's config and crt win. */
    readonly clientIsNewer: boolean,
  ) {}
}

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
    throw badRequest(`sync step failed: ${(err as Error).message}`);
  }
}
