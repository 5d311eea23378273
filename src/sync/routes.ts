// The route table: every `/sync/<method>` and `/msync/<method>` name and the
// module that answers it. Start here to find any route's handler.
import type { Config } from "../config.js";
import { applyChanges } from "../sync/apply-changes.js";
import { applyChunk } from "../sync/apply-chunk.js";
import { applyGraves } from "../sync/apply-graves.js";
import { chunk } from "../sync/chunk.js";
import { download } from "../sync/download.js";
import { finish } from "../sync/finish.js";
import { sanityCheck } from "../sync/sanity-check.js";
import { start } from "../sync/start.js";
import { meta } from "../sync/meta.js";
import { upload } from "../sync/upload.js";
import type { UserState } from "../sync/user.js";
import { jsonReply, type UserRoute } from "./types.js";

export interface RouteDeps {
  config: Config;
  mediaUsn: (user: UserState) => number;
}

export type RouteTable = Readonly<Record<string, UserRoute>>;

export function collectionRoutes(deps: RouteDeps): RouteTable {
  const maxCollectionBytes = deps.config.maxPayloadBytes * 3;
  return {
    meta: { body: "json", handle: (user, payload) => meta(user, payload, { maxCollectionBytes, mediaUsn: deps.mediaUsn }) },
    start: { body: "json", handle: start },
    applyGraves: { body: "json", handle: applyGraves },
    applyChanges: { body: "json", handle: applyChanges },
    chunk: { body: "json", handle: chunk },
    applyChunk: { body: "json", handle: applyChunk },
    sanityCheck2: { body: "json", handle: sanityCheck },
    finish: { body: "json", handle: finish },
    upload: { body: "file", handle: (user, file) => upload(user, file) },
    download: { body: "json", handle: (user, _payload, info) => download(user, info) },
    // Ends whatever sync the user has open; answered with JSON null whatever the state.
    abort: {
      body: "json",
      handle: (user) => {
        user.abortActiveSession();
        return jsonReply(null);
      },
    },
  };
}
