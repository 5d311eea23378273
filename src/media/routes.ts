// The /msync/<method> routes and the media usn reported by /sync/meta.
import { existsSync } from "node:fs";
import type { RouteTable } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import { begin } from "./begin.js";
import { mediaChanges } from "./changes.js";
import { mediaSanity } from "./sanity.js";
import { mediaConnections, mediaDbOf } from "./connections.js";
import { mediaDbPath, pendingPath } from "./paths.js";
import { IN_MEMORY_UPLOAD_BODY_BYTES } from "./limits.js";

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
    // The body is only read (upload.ts makes the media durable itself): a
    // typical batch stays in memory, a larger one goes to an unsynced spool file.
    uploadChanges: {
      body: "file",
      transient: true,
      inMemoryUpTo: IN_MEMORY_UPLOAD_BODY_BYTES,
      handle: async (user, file) => (await preloadMediaHandlers()).uploadChanges(user, file),
    },
    downloadFiles: { body: "json", handle: async (user, payload) => (await preloadMediaHandlers()).downloadFiles(user, payload) },
    mediaSanity: { body: "json", handle: (user, payload) => mediaSanity(user, payload) },
  };
}

/**
 * The user's media last_usn: what `meta` reports as media_usn (clients skip
 * `begin` and trust it). A user who never synced media has no media.db, and an
 * empty one would say 0: that answer needs no file, so a collection-only sync
 * does not create (and fsync) a media DB. An upload log left without a DB
 * still goes through the open, which applies or discards it.
 */
export function mediaUsn(user: UserState): number {
  if (!mediaConnections.isOpen(user.dir) && !existsSync(mediaDbPath(user.dir)) && !existsSync(pendingPath(user.dir))) return 0;
  return mediaDbOf(user).lastUsn();
}
