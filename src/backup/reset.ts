// `reset-user`: empties a user's server data so that the user's devices
// rebuild it, the recovery for a broken server copy or a client stuck in
// media sync.
//
// Full reset: the user's folder is replaced by an empty one. The next request
// creates a brand-new collection (new scm, mod 0, no cards): a device with
// changes is told a full sync is needed and, the server being empty, can only
// upload; the first device to upload becomes the new server copy and the
// others must then download (or upload over it).
//
// Media reset (also part of the full reset): an empty media.db whose last usn
// is one above the old one (media-usn.ts). Every device's stored media usn is
// now behind the server's, so it asks for changes (there are none), then the
// file-count check fails if it has any media: the client resets its own media
// state, reports that a media resync is required, and its next media sync
// uploads every file it has. Files only the server had are gone.
//
// Host keys (logins) are kept; nothing outside <base>/<user> is touched.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { checkUserName } from "../auth/username.js";
import { logger } from "../log.js";
import { DOWNLOAD_TEMP_PATTERN, MEDIA_DB_FILE, MEDIA_FOLDER, MEDIA_PENDING_FILE, RESET_TRASH_PREFIX, UPLOAD_TEMP_PATTERN, userDir } from "../data-folder.js";
import { Coordinator } from "./coordinate.js";
import { fsyncDir, matchOwner, removeTree } from "./files.js";
import { createMediaDbAbove, currentMediaUsn } from "./media-usn.js";
import { OperatorError } from "../errors.js";


export class ResetRefused extends OperatorError {}

export interface ResetOptions {
  base: string;
  user: string;
  mediaOnly: boolean;
  holdTimeoutMs?: number;
}

export interface ResetResult {
  /** The media usn the new, empty media.db starts at. */
  mediaLastUsn: number;
  serverRunning: boolean;
}

/** What a media-only reset moves away: the media database, its files and the upload redo log with its temp files. */
function isMediaState(name: string): boolean {
  return (
    name === MEDIA_FOLDER ||
    name === MEDIA_DB_FILE ||
    name === `${MEDIA_DB_FILE}-wal` ||
    name === `${MEDIA_DB_FILE}-shm` ||
    name === `${MEDIA_DB_FILE}-journal` ||
    name === MEDIA_PENDING_FILE ||
    UPLOAD_TEMP_PATTERN.test(name) ||
    DOWNLOAD_TEMP_PATTERN.test(name)
  );
}

function reset(base: string, user: string, mediaOnly: boolean): { trash: string; lastUsn: number } {
  const live = userDir(base, user);
  const floor = currentMediaUsn(live);
  const trash = join(base, `${RESET_TRASH_PREFIX}${user}-${randomBytes(4).toString("hex")}`);
  if (mediaOnly) {
    mkdirSync(trash, { mode: 0o700 });
    for (const name of readdirSync(live)) {
      if (isMediaState(name)) renameSync(join(live, name), join(trash, name));
    }
    fsyncDir(live);
  } else {
    renameSync(live, trash);
    mkdirSync(live, { mode: 0o700 });
  }
  const lastUsn = createMediaDbAbove(live, floor);
  matchOwner(live, base);
  fsyncDir(live);
  fsyncDir(base);
  return { trash, lastUsn };
}

export async function resetUser(options: ResetOptions): Promise<ResetResult> {
  try {
    checkUserName(options.user);
  } catch (err) {
    throw new ResetRefused((err as Error).message);
  }
  const live = userDir(options.base, options.user);
  if (!existsSync(live) || !statSync(live).isDirectory()) {
    throw new ResetRefused(`user ${options.user} has no folder in ${options.base}; nothing to reset`);
  }
  const coordinator = await Coordinator.open(options.base, "exclusive");
  try {
    const { trash, lastUsn } = await coordinator.withUser(options.user, "exclusive", options.holdTimeoutMs ?? 120_000, () =>
      reset(options.base, options.user, options.mediaOnly),
    );
    removeTree(trash);
    logger.info(options.mediaOnly ? "user media reset" : "user reset", { user: options.user, mediaUsn: lastUsn, serverRunning: coordinator.serverRunning });
    return { mediaLastUsn: lastUsn, serverRunning: coordinator.serverRunning };
  } finally {
    await coordinator.close();
  }
}
