// The redo log that makes an upload batch crash-safe.
//
// An upload first writes every new file to a temp file in the user folder and
// fsyncs it. Then, inside the media DB transaction, the final disk changes of
// the batch are written to <user>/media-pending.json (fsynced), together with
// the media usn the transaction commits. After the commit the temp files are
// renamed into media/, replaced/removed files are unlinked, and the log is
// deleted.
//
// After a crash the log tells what to do: if the DB's last usn equals the
// logged usn, the transaction committed and the disk changes are (re)applied;
// otherwise it rolled back and the temp files are discarded. Either way the
// DB and the folder agree again before the next request is served. Every step
// is idempotent, so a crash during recovery is recovered the same way.
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import { join } from "node:path";
import { logger } from "../log.js";
import { isValidMediaName } from "./names.js";
import { DOWNLOAD_TEMP_PATTERN, UPLOAD_TEMP_PATTERN, fsyncDir, mediaFolder, pendingPath } from "./paths.js";

export interface PendingBatch {
  /** The media last_usn the batch's transaction commits. */
  usn: number;
  /** [temp file name in the user folder, media name]: rename into media/. */
  write: [string, string][];
  /** Media names to unlink from media/. */
  remove: string[];
  /** Temp file names that are not needed (superseded within the batch, or no-ops). */
  discard: string[];
}

function writeSynced(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600 });
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writePending(userDir: string, batch: PendingBatch): void {
  const path = pendingPath(userDir);
  const temp = `${path}.tmp`;
  writeSynced(temp, JSON.stringify(batch));
  renameSync(temp, path);
  fsyncDir(userDir);
}

/**
 * Removes the log. `durable: false` skips the directory fsync: used once the
 * batch is fully applied, because a log that reappears after a power loss is
 * harmless. Recovery re-applies it only while the DB's last usn still equals
 * its usn, i.e. nothing was uploaded since, and re-applying an applied batch
 * changes nothing (its temp files are gone; the names it removed were not
 * added back, or the usn would have moved on). A later batch's log replaces it.
 */
export function clearPending(userDir: string, { durable = true }: { durable?: boolean } = {}): void {
  rmSync(pendingPath(userDir), { force: true });
  rmSync(`${pendingPath(userDir)}.tmp`, { force: true });
  if (durable) fsyncDir(userDir);
}

function unlinkIfPresent(path: string): void {
  rmSync(path, { force: true });
}

/**
 * Puts the batch's files in place. Safe to run again after a partial run.
 * Only media/ is fsynced: the user folder merely loses temp names here, and
 * any a power loss brings back are swept at the next start.
 */
export function applyPending(userDir: string, batch: PendingBatch): void {
  const folder = mediaFolder(userDir);
  for (const [temp, name] of batch.write) {
    const from = join(userDir, temp);
    try {
      renameSync(from, join(folder, name));
    } catch (err) {
      // Already renamed by an earlier (interrupted) run when the temp is gone
      // (asked only then: the common case costs one system call, not two).
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || existsSync(from)) throw err;
    }
  }
  for (const name of batch.remove) unlinkIfPresent(join(folder, name));
  for (const temp of batch.discard) unlinkIfPresent(join(userDir, temp));
  fsyncDir(folder);
}

/** Throws away a batch that never committed. */
export function discardPending(userDir: string, batch: PendingBatch): void {
  for (const [temp] of batch.write) unlinkIfPresent(join(userDir, temp));
  for (const temp of batch.discard) unlinkIfPresent(join(userDir, temp));
  fsyncDir(userDir);
}

function parsePending(text: string): PendingBatch | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { usn, write, remove, discard } = value as Record<string, unknown>;
  if (typeof usn !== "number" || !Array.isArray(write) || !Array.isArray(remove) || !Array.isArray(discard)) return undefined;
  const isTemp = (t: unknown): t is string => typeof t === "string" && UPLOAD_TEMP_PATTERN.test(t);
  const pairs: [string, string][] = [];
  for (const pair of write) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isTemp(pair[0]) || !isValidMediaName(pair[1])) return undefined;
    pairs.push([pair[0], pair[1]]);
  }
  if (!remove.every((n) => isValidMediaName(n)) || !discard.every(isTemp)) return undefined;
  return { usn, write: pairs, remove: remove as string[], discard: discard as string[] };
}

const swept = new Set<string>();

/**
 * Finishes or undoes an upload interrupted by a crash, given the DB's current
 * last usn. The first call per user folder in this process also removes temp
 * files left behind by a crash before any log was written.
 */
export function recoverPending(userDir: string, lastUsn: number): void {
  const path = pendingPath(userDir);
  if (existsSync(path)) {
    const batch = parsePending(readFileSync(path, "utf8"));
    if (!batch) {
      logger.error("media: unreadable pending-upload log; left in place for inspection", { dir: userDir });
      throw new Error(`unreadable ${path}`);
    }
    if (batch.usn === lastUsn) {
      logger.warn("media: completing an upload interrupted after its commit", { dir: userDir, usn: batch.usn, files: batch.write.length, removed: batch.remove.length });
      applyPending(userDir, batch);
    } else {
      logger.warn("media: discarding an upload interrupted before its commit", { dir: userDir, usn: batch.usn, dbUsn: lastUsn });
      discardPending(userDir, batch);
    }
    clearPending(userDir);
  } else if (existsSync(`${path}.tmp`)) {
    rmSync(`${path}.tmp`, { force: true });
  }
  if (!swept.has(userDir)) {
    swept.add(userDir);
    for (const name of readdirSync(userDir)) {
      if (UPLOAD_TEMP_PATTERN.test(name) || DOWNLOAD_TEMP_PATTERN.test(name)) rmSync(join(userDir, name), { force: true });
    }
  }
}
