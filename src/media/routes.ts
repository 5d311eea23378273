// The /msync/<method> routes and the media usn reported by /sync/meta.
import type { RouteTable } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { begin } from "./begin.js";
import { mediaChanges } from "./changes.js";
import { downloadFiles } from "./download.js";
import { mediaSanity } from "./sanity.js";
import { uploadChanges } from "./upload.js";
import { mediaDbOf } from "./connections.js";

export function mediaRoutes(): RouteTable {
  return {
    begin: { body: "json", allowGet: true, handle: (user, payload, info) => begin(user, payload, info) },
    mediaChanges: { body: "json", handle: (user, payload) => mediaChanges(user, payload) },
    uploadChanges: { body: "file", handle: (user, file) => uploadChanges(user, file) },
    downloadFiles: { body: "json", handle: (user, payload) => downloadFiles(user, payload) },
    mediaSanity: { body: "json", handle: (user, payload) => mediaSanity(user, payload) },
  };
}

/** The user's media last_usn: what `meta` reports as media_usn (clients skip `begin` and trust it). */
export function mediaUsn(user: UserState): number {
  return mediaDbOf(user).lastUsn();
}
