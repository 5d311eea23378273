// POST /sync/applyChanges: notetypes, decks, deck options, tags and (from the
// newer side) the whole config map and crt. The server collects its own
// changes first, then merges the client's: by mtime for notetypes, decks and
// deck options (incoming wins ties), tags added, config replaced wholesale.
import { type JsonObject, type JsonValue, isJsonObject, newJsonObject, parseJson, parseJsonBytes, setKey, stringifyJson } from "../collection/legacy/json.js";
import { deckFromLegacy, deckToLegacy } from "../collection/legacy/decks.js";
import { deckConfigFromLegacy, deckConfigToLegacy } from "../collection/legacy/deckconfig.js";
import { notetypeFromLegacy, notetypeToLegacy } from "../collection/legacy/notetypes.js";
import { normalizeTagName } from "../collection/legacy/names.js";
import type { CollectionDb } from "../collection/open.js";
import { deleteAllConfig, readAllConfig, writeConfigEntry } from "../collection/storage/config.js";
import { deckConfigMtime, readDeckConfigsSince, writeDeckConfig } from "../collection/storage/deckconfig.js";
import { deckIdByName, deckMtime, readDecksSince, writeDeck } from "../collection/storage/decks.js";
import { notetypeIdByName, notetypeMtime, readNotetype, readNotetypesSince, writeNotetype } from "../collection/storage/notetypes.js";
import { badRequest } from "../http/errors.js";
import type { Reply, RequestInfo } from "../http/types.js";
import { type SyncSession, runSessionStep } from "./session.js";
import type { UserState } from "./user.js";

interface IncomingChanges {
  models: JsonValue[];
  decks: JsonValue[];
  deckConfigs: JsonValue[];
  tags: string[];
  conf: JsonObject | undefined;
  crt: number | undefined;
}

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
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw badRequest(`applyChanges: "${what}" must be an array`);
    return value;
  };
  const decks = list(changes.decks, "decks");
  if (decks.length !== 0 && decks.length !== 2) throw badRequest('applyChanges: "decks" must be [decks, deckConfigs]');
  const tags = list(changes.tags, "tags");
  if (!tags.every((t): t is string => typeof t === "string")) throw badRequest('applyChanges: "tags" must be strings');
  const conf = changes.conf;
  if (conf !== undefined && conf !== null && !isJsonObject(conf)) throw badRequest('applyChanges: "conf" must be an object');
  const crt = changes.crt;
  if (crt !== undefined && crt !== null && (typeof crt !== "number" || !Number.isInteger(crt))) throw badRequest('applyChanges: "crt" must be an integer');
  return {
    models: list(changes.models, "models"),
    decks: list(decks[0], "decks[0]"),
    deckConfigs: list(decks[1], "decks[1]"),
    tags,
    conf: isJsonObject(conf) ? conf : undefined,
    crt: typeof crt === "number" ? crt : undefined,
  };
}

/** What the server sends back: everything changed since the client's last sync. */
function collectServerChanges(db: CollectionDb, session: SyncSession): JsonObject {
  const out = newJsonObject();
  setKey(out, "models", readNotetypesSince(db, session.clientUsn).map((nt) => notetypeToLegacy(nt)));
  setKey(out, "decks", [readDecksSince(db, session.clientUsn).map((d) => deckToLegacy(d)), readDeckConfigsSince(db, session.clientUsn).map((dc) => deckConfigToLegacy(dc))]);
  setKey(out, "tags", db.prepare("SELECT tag FROM tags WHERE usn >= ?").pluck().all(session.clientUsn) as string[]);
  if (!session.clientIsNewer) {
    const conf = newJsonObject();
    for (const entry of readAllConfig(db)) setKey(conf, entry.key, parseJsonBytes(entry.value));
    setKey(out, "conf", conf);
    setKey(out, "crt", db.prepare("SELECT crt FROM col").pluck().get() as number);
  }
  return out;
}

/** Appends "+" until no other object holds the name, as Anki does on merge. */
function uniqueName(name: string, id: number, lookup: (name: string) => number | undefined): { name: string; renamed: boolean } {
  let renamed = false;
  for (;;) {
    const holder = lookup(name);
    if (holder === undefined || holder === id) return { name, renamed };
    name += "+";
    renamed = true;
  }
}

function mergeNotetypes(db: CollectionDb, session: SyncSession, models: JsonValue[]): void {
  const nowSecs = Math.floor(Date.now() / 1000);
  for (const json of models) {
    const incoming = notetypeFromLegacy(json);
    const existingMtime = notetypeMtime(db, incoming.id);
    if (existingMtime !== undefined) {
      if (existingMtime > incoming.mtimeSecs) continue;
      const existing = readNotetype(db, incoming.id);
      if (existing && (existing.fields.length !== incoming.fields.length || existing.templates.length !== incoming.templates.length)) {
        throw new Error(`notetype ${incoming.id} changed its fields or templates; a full sync is required`);
      }
    }
    const unique = uniqueName(incoming.name, incoming.id, (n) => notetypeIdByName(db, n));
    incoming.name = unique.name;
    if (unique.renamed) incoming.mtimeSecs = nowSecs;
    incoming.usn = session.serverUsn;
    writeNotetype(db, incoming);
    session.notetypeShapes.delete(incoming.id);
  }
}

function mergeDecks(db: CollectionDb, session: SyncSession, decks: JsonValue[]): void {
  const nowSecs = Math.floor(Date.now() / 1000);
  for (const json of decks) {
    const incoming = deckFromLegacy(json);
    if (incoming.id === 0) throw new Error("deck with id 0");
    const existingMtime = deckMtime(db, incoming.id);
    if (existingMtime !== undefined && existingMtime > incoming.mtimeSecs) continue;
    const unique = uniqueName(incoming.name, incoming.id, (n) => deckIdByName(db, n));
    incoming.name = unique.name;
    if (unique.renamed) incoming.mtimeSecs = nowSecs;
    incoming.usn = session.serverUsn;
    writeDeck(db, incoming);
  }
}

function mergeDeckConfigs(db: CollectionDb, session: SyncSession, configs: JsonValue[]): void {
  for (const json of configs) {
    const incoming = deckConfigFromLegacy(json);
    if (incoming.id === 0) throw new Error("deck options with id 0");
    const existingMtime = deckConfigMtime(db, incoming.id);
    if (existingMtime !== undefined && existingMtime > incoming.mtimeSecs) continue;
    incoming.usn = session.serverUsn;
    writeDeckConfig(db, incoming);
  }
}

/** Adds tags the server does not know yet (case-insensitively), adopting an existing parent's case. */
function mergeTags(db: CollectionDb, session: SyncSession, tags: string[]): void {
  const find = db.prepare("SELECT tag FROM tags WHERE tag = ?").pluck();
  const add = db.prepare("INSERT OR REPLACE INTO tags (tag, usn, collapsed) VALUES (?, ?, 1)");
  for (const raw of tags) {
    const name = normalizeTagName(raw);
    if (find.get(name) !== undefined) continue;
    let stored = name;
    const parts = name.split("::");
    for (let depth = parts.length - 1; depth >= 1; depth--) {
      const parent = find.get(parts.slice(0, depth).join("::")) as string | undefined;
      if (parent !== undefined) {
        stored = [parent, ...parts.slice(depth)].join("::");
        break;
      }
    }
    add.run(stored, session.serverUsn);
  }
}

function replaceConfig(db: CollectionDb, session: SyncSession, conf: JsonObject): void {
  const nowSecs = Math.floor(Date.now() / 1000);
  deleteAllConfig(db);
  for (const [key, value] of Object.entries(conf)) writeConfigEntry(db, key, stringifyJson(value), session.serverUsn, nowSecs);
}

export function applyChanges(user: UserState, payload: Buffer, info: RequestInfo): Reply {
  const incoming = parseIncomingChanges(payload);
  const reply = runSessionStep(user, info.header.sessionKey, (db, session) => {
    const serverChanges = collectServerChanges(db, session);
    mergeNotetypes(db, session, incoming.models);
    mergeDecks(db, session, incoming.decks);
    mergeDeckConfigs(db, session, incoming.deckConfigs);
    mergeTags(db, session, incoming.tags);
    if (incoming.crt !== undefined) db.prepare("UPDATE col SET crt = ?").run(incoming.crt);
    if (incoming.conf !== undefined) replaceConfig(db, session, incoming.conf);
    return serverChanges;
  });
  return { kind: "payload", data: Buffer.from(stringifyJson(reply), "utf8") };
}
