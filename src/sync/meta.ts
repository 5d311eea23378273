// POST /sync/meta: the collection header the client compares with its own to
// decide between "no changes", a normal sync and a full sync.
import { statSync } from "node:fs";
import { hasNoCards, readConfigJson } from "../collection/fullsync/header.js";
import { readCol } from "../collection/storage/col.js";
import { HttpError } from "../protocol/errors.js";
import { parseJsonObject, requireInteger } from "../protocol/json.js";
import { type Reply, jsonReply } from "../protocol/types.js";
import type { UserState } from "../users/user.js";

export interface MetaOptions {
  /** Collections larger than this get a changing `scm`, forcing full syncs, as the official server does. */
  maxCollectionBytes: number;
  mediaUsn: (user: UserState) => number;
}

export function meta(user: UserState, payload: Buffer, options: MetaOptions): Reply {
  const request = parseJsonObject(payload, "meta");
  const version = requireInteger(request, "v", "meta");
  if (version < 8 || version > 11) throw new HttpError(501, `client sync version ${version} is not supported`);
  // A new meta means the client is starting over: whatever sync it had open is gone.
  user.abortActiveSession();
  const db = user.collection();
  const header = readCol(db);
  let scm = header.scm;
  if (statSync(user.collectionPath).size > options.maxCollectionBytes) scm = Date.now();
  let msg = "";
  let cont = true;
  if (readConfigJson(db, "schedVer") === 2 && version < 9) {
    msg = "Your client does not support the v2 scheduler";
    cont = false;
  } else if (typeof readConfigJson(db, "creationOffset") === "number" && version < 10) {
    msg = "Your client does not support the new timezone handling.";
    cont = false;
  }
  return jsonReply({
    mod: header.mod,
    scm,
    usn: header.usn,
    ts: Math.floor(Date.now() / 1000),
    msg,
    cont,
    hostNum: 0,
    empty: hasNoCards(db),
    media_usn: options.mediaUsn(user),
  });
}
