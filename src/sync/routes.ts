// The `/sync/<method>` route table: every method name and the module in this
// folder that answers it (the `/msync/` table is src/media/routes.ts).
import { jsonReply, type RouteTable } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { applyChanges } from "./apply-changes.js";
import { applyChunk } from "./apply-chunk.js";
import { applyGraves } from "./apply-graves.js";
import { chunk } from "./chunk.js";
import { download } from "./download.js";
import { finish } from "./finish.js";
import { meta } from "./meta.js";
import { sanityCheck } from "./sanity-check.js";
import { start } from "./start.js";
import { upload } from "./upload.js";

export interface CollectionRouteDeps {
  /** The largest collection a full upload may send (the body limit). */
  maxCollectionBytes: number;
  mediaUsn: (user: UserState) => number;
}

export function collectionRoutes(deps: CollectionRouteDeps): RouteTable {
  const { maxCollectionBytes } = deps;
  return {
    // Login: answered by the HTTP layer with the authenticator (src/http/login.ts).
    hostKey: { body: "login" },
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
