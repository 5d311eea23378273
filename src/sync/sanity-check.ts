// POST /sync/sanityCheck2: both sides count their rows; a mismatch rolls the
// sync back and the client falls back to a full sync next time.
import type { CollectionDb } from "../collection/open.js";
import { badRequest } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import { type Reply, type RequestInfo, jsonReply } from "../protocol/types.js";
import { logger } from "../log.js";
import { runSessionStep } from "./session.js";
import type { UserState } from "../users/user.js";

/** [[new, learn, review], cards, notes, revlog, graves, notetypes, decks, deck_config] */
export type SanityCounts = [[number, number, number], number, number, number, number, number, number, number];

const USN_TABLES = ["cards", "notes", "revlog", "graves", "decks", "deck_config", "tags", "notetypes"];

export function parseSanityCounts(value: unknown): SanityCounts {
  const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (!Array.isArray(value) || value.length !== 8) throw badRequest("sanityCheck2: client counts must be an 8-element array");
  const due = value[0] as unknown;
  if (!Array.isArray(due) || due.length !== 3 || !due.every(isCount)) throw badRequest("sanityCheck2: due counts must be three integers");
  if (!value.slice(1).every(isCount)) throw badRequest("sanityCheck2: counts must be non-negative integers");
  return value as SanityCounts;
}

function serverCounts(db: CollectionDb): SanityCounts | undefined {
  for (const table of USN_TABLES) {
    if (db.prepare(`SELECT 1 FROM ${table} WHERE usn = -1 LIMIT 1`).get()) return undefined;
  }
  const count = (table: string) => db.prepare(`SELECT count() FROM ${table}`).pluck().get() as number;
  return [[0, 0, 0], count("cards"), count("notes"), count("revlog"), 0, count("notetypes"), count("decks"), count("deck_config")];
}

export function sanityCheck(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const request = parseJsonObject(payload, "sanityCheck2");
  const client = parseSanityCounts(request.client);
  const result = runSessionStep(user, info.header.sessionKey, (db, session) => {
    const server = serverCounts(db);
    // Due counts and graves are not compared (older clients count them differently).
    const normalized: SanityCounts = [[0, 0, 0], client[1], client[2], client[3], 0, client[5], client[6], client[7]];
    const ok = server !== undefined && JSON.stringify(server) === JSON.stringify(normalized);
    if (!ok) {
      logger.warn("sanity check failed; sync rolled back", { user: user.name, client: JSON.stringify(normalized), server: JSON.stringify(server ?? null) });
      user.rollBackSessionChanges();
      session.rolledBack = true;
      return { status: "bad", c: server === undefined ? client : normalized, s: server ?? null };
    }
    return { status: "ok", c: normalized, s: server };
  });
  return jsonReply(result);
}
