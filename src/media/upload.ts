// POST /msync/uploadChanges: a zip of additions, replacements and deletions.
//
// 0. The request body reached us in memory (up to IN_MEMORY_UPLOAD_BODY_BYTES,
//    a typical batch) or in a spool file that is never fsynced (the route is
//    transient): it is read back here and deleted after the reply.
// 1. The zip is validated as a whole and its files are extracted to fsynced
//    temp files (zip-in.ts); any problem refuses the batch with 400 before
//    the media folder or the DB is touched. The temp files are fsynced
//    together once the batch is extracted.
// 2. One exclusive DB transaction applies the changes in `_meta` order, with
//    the official server's bookkeeping: each effective change (add, replace
//    with different content, delete of an existing file) takes the next usn;
//    identical re-uploads and deletions of absent files change nothing.
//    Before it commits, the batch's final disk changes go to the redo log
//    (pending.ts), whose directory fsync also makes the temp files' names
//    durable: files, then the directory, then the database commit.
// 3. After the commit the temp files are renamed into media/ and deleted
//    files are unlinked; then the log is removed.
//
// Reply: [entries processed (always all of them), last usn after the batch].
import { rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { badRequest } from "../protocol/errors.js";
import type { ReceivedFile, Reply } from "../protocol/types.js";
import { logger } from "../log.js";
import type { UserState } from "../users/user.js";
import { type MediaDb, addedEntry, removedEntry, replacedEntry } from "./db.js";
import { type PendingBatch, applyPending, clearPending, writePending } from "./pending.js";
import { mediaConnections, mediaDbOf } from "./connections.js";
import { mediaResult } from "./result.js";
import { MAX_IN_MEMORY_UPLOAD_BYTES, type UploadedChange, readUploadZip } from "./zip-in.js";

export interface UploadOutcome {
  processed: number;
  usn: number;
  added: number;
  replaced: number;
  removed: number;
  unchanged: number;
}

type FinalState = { kind: "write"; temp: string } | { kind: "remove" };

function onDiskWithSize(folder: string, name: string, size: number): boolean {
  try {
    const st = statSync(join(folder, name));
    return st.isFile() && st.size === size;
  } catch {
    return false;
  }
}

function removeTemps(userDir: string, temps: string[]): void {
  for (const temp of temps) rmSync(join(userDir, temp), { force: true });
}

/**
 * Applies validated changes whose files sit in temp files in the user folder.
 * Consumes the temp files (renamed into place or removed), except after a
 * failure past the commit, when the redo log owns them.
 */
export function applyUpload(db: MediaDb, changes: UploadedChange[]): UploadOutcome {
  const userDir = db.userDir;
  const temps = changes.flatMap((c) => (c.kind === "file" ? [c.temp] : []));
  const outcome: UploadOutcome = { processed: changes.length, usn: 0, added: 0, replaced: 0, removed: 0, unchanged: 0 };
  let batch: PendingBatch | undefined;
  try {
    batch = db.transaction((meta) => {
      // Per name, the state the disk must end in (the last change wins).
      const final = new Map<string, FinalState>();
      for (const change of changes) {
        const existing = db.nonemptyEntry(change.name);
        if (change.kind === "delete") {
          if (!existing) {
            outcome.unchanged++;
            continue;
          }
          db.setEntry(removedEntry(meta, existing));
          final.set(change.name, { kind: "remove" });
          outcome.removed++;
        } else if (!existing) {
          db.setEntry(addedEntry(meta, change.name, change.sha1, change.size));
          final.set(change.name, { kind: "write", temp: change.temp });
          outcome.added++;
        } else if (existing.sha1.equals(change.sha1)) {
          outcome.unchanged++;
          // Same content as recorded: nothing to record, but if the file went
          // missing from disk, this upload puts it back.
          if (!final.has(change.name) && !onDiskWithSize(db.folder, change.name, change.size)) {
            final.set(change.name, { kind: "write", temp: change.temp });
          }
        } else {
          db.setEntry(replacedEntry(meta, existing, change.sha1, change.size));
          final.set(change.name, { kind: "write", temp: change.temp });
          outcome.replaced++;
        }
      }
      outcome.usn = meta.lastUsn;
      if (final.size === 0) return undefined;
      const write: [string, string][] = [];
      const remove: string[] = [];
      for (const [name, state] of final) {
        if (state.kind === "write") write.push([state.temp, name]);
        else remove.push(name);
      }
      const used = new Set(write.map(([temp]) => temp));
      const pending: PendingBatch = { usn: meta.lastUsn, write, remove, discard: temps.filter((t) => !used.has(t)) };
      // Durable before the commit: from here a crash is finished by recovery.
      writePending(userDir, pending);
      return pending;
    });
  } catch (err) {
    // Rolled back: whatever log this batch wrote describes nothing.
    try {
      clearPending(userDir);
    } finally {
      removeTemps(userDir, temps);
    }
    throw err;
  }
  if (batch) {
    // Committed. A failure here leaves the log for the next open to finish.
    applyPending(userDir, batch);
    clearPending(userDir, { durable: false });
  } else {
    removeTemps(userDir, temps);
  }
  return outcome;
}

export async function uploadChanges(user: UserState, file: ReceivedFile): Promise<Reply> {
  if (file.tooLarge) throw badRequest("msync/uploadChanges: body exceeds the payload limit");
  // Opening (if not open yet) first finishes any interrupted batch (and sweeps
  // stale temp files) before this batch creates its own.
  const db = mediaDbOf(user);
  // A real batch is small: it arrives in memory (see the route), or is read
  // whole; either way it is parsed from memory.
  const source = file.data ?? (file.bytes <= MAX_IN_MEMORY_UPLOAD_BYTES ? await readFile(file.path) : file.path);
  const changes = await readUploadZip(source, user.dir);
  let outcome: UploadOutcome;
  try {
    outcome = applyUpload(db, changes);
  } catch (err) {
    // Reopening runs the crash recovery, which finishes (or undoes) whatever
    // this batch left half done before the next media request is served.
    mediaConnections.close(user.dir);
    throw err;
  }
  logger.info("media upload", {
    user: user.name,
    entries: outcome.processed,
    added: outcome.added,
    replaced: outcome.replaced,
    removed: outcome.removed,
    unchanged: outcome.unchanged,
    usn: outcome.usn,
  });
  return mediaResult([outcome.processed, outcome.usn]);
}
