// POST /sync/applyChanges: notetypes, decks, deck options, tags and (from the
// newer side) the whole config map and crt. The server collects its own
// changes first, then merges the client's with Anki's rules (collection/legacy/merge.ts).
import { readConfigMap, replaceConfigMap } from "../collection/legacy/config.js";
import { type JsonObject, type JsonValue, isJsonObject, newJsonObject, parseJson, setKey, stringifyJson } from "../collection/legacy/json.js";
import { mergeDeckConfigs, mergeDecks, mergeNotetypes, mergeTags, type MergeContext } from "../collection/legacy/merge.js";
import { legacyChangesSince } from "../collection/legacy/model.js";
import type { CollectionDb } from "../collection/open.js";
import { readTagsSince } from "../collection/storage/tags.js";
import { badRequest } from "../protocol/errors.js";
import type { Reply, RequestInfo } from "../protocol/types.js";
import type { SyncSession } from "../users/session.js";
import { runSessionStep } from "./session.js";
import type { UserState } from "../users/user.js";

interface IncomingChanges {
  models: JsonValue;
  decks: JsonValue;
  deckConfigs: JsonValue;
  tags: JsonValue;
  conf: JsonObject | undefined;
  crt: number | undefined;
}

/** Checks the request's shape; the objects themselves are validated as they are converted. */
export function parseIncomingChanges(payload: Buffer): IncomingChanges {
  let request: JsonValue;
  try {
    request = parseJson(payload.toString("utf8"));
  } catch {
    throw badRequest("applyChanges: invalid json");
  }
  if (!isJsonObject(request) || !isJsonObject(request.changes)) throw badRequest('applyChanges: "changes" must be an object');
  const changes = request.changes;
  const list = (value: JsonValue | undefined, what: string): JsonValue[] => {
    if (!Array.isArray(value)) throw badRequest(`applyChanges: "${what}" must be an array`);
    return value;
  };
  // models, decks and tags are required, as rslib requires them. decks is
  // normally [decks, deckConfigs]; rslib also reads it as {decks, config}.
  let decks: JsonValue[];
  if (isJsonObject(changes.decks)) {
    decks = [list(changes.decks.decks, "decks.decks"), list(changes.decks.config, "decks.config")];
  } else {
    decks = list(changes.decks, "decks");
    if (decks.length !== 2) throw badRequest('applyChanges: "decks" must be [decks, deckConfigs]');
  }
  const conf = changes.conf;
  if (conf !== undefined && conf !== null && !isJsonObject(conf)) throw badRequest('applyChanges: "conf" must be an object');
  const crt = changes.crt;
  if (crt !== undefined && crt !== null && (typeof crt !== "number" || !Number.isInteger(crt))) {
    throw badRequest('applyChanges: "crt" must be an integer');
  }
  return {
    models: list(changes.models, "models"),
    decks: list(decks[0], "decks[0]"),
    deckConfigs: list(decks[1], "decks[1]"),
    tags: list(changes.tags, "tags"),
    conf: isJsonObject(conf) ? conf : undefined,
    crt: typeof crt === "number" ? crt : undefined,
  };
}

/** Everything the client has not seen yet; conf and crt only when the server side is newer (ties too). */
function collectServerChanges(db: CollectionDb, session: SyncSession): JsonObject {
  const changed = legacyChangesSince(db, session.clientUsn);
  const out = newJsonObject();
  setKey(out, "models", changed.models);
  setKey(out, "decks", [changed.decks, changed.dconf]);
  setKey(out, "tags", readTagsSince(db, session.clientUsn).map((t) => t.tag));
  if (!session.clientIsNewer) {
    setKey(out, "conf", readConfigMap(db));
    setKey(out, "crt", db.prepare("SELECT crt FROM col").pluck().get() as number);
  }
  return out;
}

export function applyChanges(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const incoming = parseIncomingChanges(payload);
  const reply = runSessionStep(user, info.header.sessionKey, (db, session) => {
    const serverChanges = collectServerChanges(db, session);
    const nowSecs = Math.floor(Date.now() / 1000);
    const ctx: MergeContext = { usn: session.serverUsn, nowSecs, stampUsn: true };
    mergeNotetypes(db, incoming.models, ctx);
    session.notetypeShapes.clear();
    mergeDecks(db, incoming.decks, ctx);
    mergeDeckConfigs(db, incoming.deckConfigs, ctx);
    mergeTags(db, incoming.tags, ctx);
    if (incoming.crt !== undefined) db.prepare("UPDATE col SET crt = ?").run(incoming.crt);
    if (incoming.conf !== undefined) replaceConfigMap(db, incoming.conf, session.serverUsn, nowSecs);
    return serverChanges;
  });
  return { kind: "payload", data: Buffer.from(stringifyJson(reply), "utf8") };
}
