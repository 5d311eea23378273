// `restore`: puts users' data from a snapshot back into the data folder.
//
// What a client's next sync must be afterwards. The restored collection is
// older than what devices that synced after the snapshot have. If it kept its
// `scm`, such a device would do a *normal* sync: it asks for server changes
// with usn >= its own (larger) usn and gets none, sends only its pending
// local changes, and from then on the server and that device silently
// disagree about everything between the snapshot and its last sync. So the
// restored collection gets a new `scm` (now, in ms; and above both the
// snapshot's and the replaced collection's) and a new `mod` (likewise): every
// device sees "schema changed" and must do a full sync, where the user
// chooses download (take the restored collection) or upload (replace it with
// the device's). `mod` changes too because clients compare `mod` before
// `scm`: a device whose `mod` happened to equal the snapshot's would
// otherwise see "no changes". `usn` is kept: after a full sync every device
// takes the usns of whichever side won. Media usns are moved above every usn
// the replaced media.db handed out (media-usn.ts).
//
// The files are staged in the data folder, then, with the user held
// exclusively by the running server (its sync rolled back, its files closed,
// new requests answered 503) or with no server running, the user's folder is
// swapped for the staged one by two renames.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openCollectionDb } from "../collection/open.js";
import { logger } from "../log.js";
import { MediaDb } from "../media/db.js";
import { Coordinator } from "./coordinate.js";
import { copyWithSha1, fsyncDir, matchOwner, removeTree } from "./files.js";
import { COLLECTION_FILE, MEDIA_DB_FILE, MEDIA_FOLDER, RESTORE_STAGING_PREFIX, userDir } from "../data-folder.js";
import { SNAPSHOT_DATA } from "./layout.js";
import { createMediaDbAbove, currentMediaUsn, renumberMediaDb } from "./media-usn.js";
import type { ProgressReporter } from "./snapshot.js";
import { verifySnapshot } from "./verify.js";
import { OperatorError } from "../errors.js";


export class RestoreRefused extends OperatorError {}

export interface RestoreOptions {
  base: string;
  /** The snapshot folder (the one holding manifest.json). */
  from: string;
  users?: string[];
  holdTimeoutMs?: number;
  progress?: ProgressReporter;
  now?: () => number;
}

export interface RestoredUser {
  name: string;
  scm: number | null;
  mod: number | null;
  usn: number | null;
  mediaLastUsn: number;
  mediaFiles: number;
}

export interface RestoreResult {
  users: RestoredUser[];
  serverRunning: boolean;
  warnings: string[];
}

function readLiveCol(userDir: string): { scm: number; mod: number } | undefined {
  const path = join(userDir, COLLECTION_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const db = new Database(path, { fileMustExist: true });
    try {
      return db.prepare("SELECT scm, mod FROM col WHERE id = 1").get() as { scm: number; mod: number } | undefined;
    } finally {
      db.close();
    }
  } catch {
    return undefined; // a broken collection is a reason to restore; nothing to learn from it
  }
}

/** Copies one user's files out of the snapshot into `stage`. */
async function stageUser(snapshotUserDir: string, stage: string, progress: ProgressReporter, user: string): Promise<number> {
  mkdirSync(join(stage, MEDIA_FOLDER), { recursive: true, mode: 0o700 });
  for (const file of [COLLECTION_FILE, MEDIA_DB_FILE]) {
    const src = join(snapshotUserDir, file);
    if (existsSync(src)) await copyWithSha1(src, join(stage, file));
  }
  const names = existsSync(join(snapshotUserDir, MEDIA_FOLDER)) ? readdirSync(join(snapshotUserDir, MEDIA_FOLDER)) : [];
  let n = 0;
  for (const name of names) {
    if (++n % 100 === 0) progress.status(`${user}: copying media ${n}/${names.length}`);
    await copyWithSha1(join(snapshotUserDir, MEDIA_FOLDER, name), join(stage, MEDIA_FOLDER, name));
  }
  fsyncDir(join(stage, MEDIA_FOLDER));
  return names.length;
}

/**
 * With the user's files out of use: gives the staged collection its new
 * scm/mod and the staged media.db its new usns, then swaps the folders.
 * Returns the folder the old data was moved to (to delete afterwards).
 */
function swapIn(base: string, user: string, stage: string, nowMs: number, result: RestoredUser): string | undefined {
  const live = userDir(base, user);
  const liveExists = existsSync(live);

  const stagedCol = join(stage, COLLECTION_FILE);
  if (existsSync(stagedCol)) {
    const old = liveExists ? readLiveCol(live) : undefined;
    const db = openCollectionDb(stagedCol, { mustExist: true });
    try {
      const snap = db.prepare("SELECT scm, mod, usn FROM col WHERE id = 1").get() as { scm: number; mod: number; usn: number };
      const scm = Math.max(nowMs, snap.scm + 1, (old?.scm ?? 0) + 1);
      const mod = Math.max(nowMs, snap.mod + 1, (old?.mod ?? 0) + 1);
      db.prepare("UPDATE col SET scm = ?, mod = ? WHERE id = 1").run(scm, mod);
      Object.assign(result, { scm, mod, usn: snap.usn });
    } finally {
      db.close();
    }
  }

  const floor = liveExists ? currentMediaUsn(live) : 0;
  const stagedMedia = join(stage, MEDIA_DB_FILE);
  if (existsSync(stagedMedia)) {
    // Bring an old-format media.db up to date first (and check it opens).
    MediaDb.open(stage).close();
    result.mediaLastUsn = renumberMediaDb(stagedMedia, Math.max(floor, readLastUsn(stagedMedia)));
  } else {
    result.mediaLastUsn = createMediaDbAbove(stage, floor);
  }

  matchOwner(stage, base);
  let moved: string | undefined;
  if (liveExists) {
    moved = join(base, `${RESTORE_STAGING_PREFIX}old-${user}-${randomBytes(4).toString("hex")}`);
    renameSync(live, moved);
  }
  renameSync(stage, live);
  fsyncDir(base);
  return moved;
}

function readLastUsn(mediaDbPath: string): number {
  const db = new Database(mediaDbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT last_usn FROM meta").pluck().get() as number | undefined) ?? 0;
  } finally {
    db.close();
  }
}

export async function restoreSnapshot(options: RestoreOptions): Promise<RestoreResult> {
  const progress = options.progress ?? { status: () => {} };
  if (!existsSync(options.from) || !statSync(options.from).isDirectory()) throw new RestoreRefused(`${options.from} is not a snapshot folder`);
  progress.status("verifying the snapshot");
  const report = await verifySnapshot(options.from, { users: options.users, progress });
  if (report.problems.length > 0) {
    throw new RestoreRefused(`the snapshot failed verification, nothing was restored:\n  ${report.problems.join("\n  ")}`);
  }
  const users = [...new Set(report.users)].sort();
  if (users.length === 0) throw new RestoreRefused("the snapshot holds no users");

  mkdirSync(options.base, { recursive: true, mode: 0o700 });
  const coordinator = await Coordinator.open(options.base, "exclusive");
  const restored: RestoredUser[] = [];
  try {
    for (const user of users) {
      const stage = join(options.base, `${RESTORE_STAGING_PREFIX}new-${user}-${randomBytes(4).toString("hex")}`);
      const result: RestoredUser = { name: user, scm: null, mod: null, usn: null, mediaLastUsn: 0, mediaFiles: 0 };
      let moved: string | undefined;
      try {
        result.mediaFiles = await stageUser(join(options.from, SNAPSHOT_DATA, user), stage, progress, user);
        progress.status(`${user}: waiting for the server to close the user's files`);
        moved = await coordinator.withUser(user, "exclusive", options.holdTimeoutMs ?? 120_000, () =>
          swapIn(options.base, user, stage, (options.now ?? Date.now)(), result),
        );
      } finally {
        removeTree(stage);
      }
      if (moved) removeTree(moved);
      restored.push(result);
      logger.info("user restored", {
        user,
        snapshot: report.manifest.name,
        scm: result.scm,
        mod: result.mod,
        mediaUsn: result.mediaLastUsn,
        mediaFiles: result.mediaFiles,
      });
    }
    return { users: restored, serverRunning: coordinator.serverRunning, warnings: report.warnings };
  } finally {
    await coordinator.close();
  }
}
