// The route table: every `/sync/<method>` and `/msync/<method>` name and the
// module that answers it. Start here to find any route's handler.
import type { Config } from "../config.js";
import { download } from "../sync/download.js";
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
    upload: { body: "file", handle: (user, file) => upload(user, file) },
    download: { body: "json", handle: (user) => download(user) },
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
