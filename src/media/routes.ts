// The /msync/<method> routes and the media usn reported by /sync/meta.
import type { RouteTable } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { begin } from "./begin.js";
import { mediaChanges } from "./changes.js";
import { mediaSanity } from "./sanity.js";
import { mediaDbOf } from "./connections.js";

async function loadZipHandlers() {
  const [upload, download] = await Promise.all([import("./upload.js"), import("./download.js")]);
  return { uploadChanges: upload.uploadChanges, downloadFiles: download.downloadFiles };
}

let loading: ReturnType<typeof loadZipHandlers> | undefined;

/**
 * Loads the zip reader and writer (the upload and download handlers), not
 * loaded at server start; the app calls this on the first login.
 */
export function preloadMediaHandlers(): ReturnType<typeof loadZipHandlers> {
  loading ??= loadZipHandlers().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

export function mediaRoutes(): RouteTable {
  return {
    begin: { body: "json", allowGet: true, handle: (user, payload, info) => begin(user, payload, info) },
    mediaChanges: { body: "json", handle: (user, payload) => mediaChanges(user, payload) },
    uploadChanges: { body: "file", handle: async (user, file) => (await preloadMediaHandlers()).uploadChanges(user, file) },
    downloadFiles: { body: "json", handle: async (user, payload) => (await preloadMediaHandlers()).downloadFiles(user, payload) },
    mediaSanity: { body: "json", handle: (user, payload) => mediaSanity(user, payload) },
  };
}

/** The user's media last_usn: what `meta` reports as media_usn (clients skip `begin` and trust it). */
export function mediaUsn(user: UserState): number {
  return mediaDbOf(user).lastUsn();
}
