// POST /sync/upload: the client replaces the server's collection with its own.
// The body was already streamed to a temp file in the user's folder; here it is
// checked and atomically swapped in. Replies are the bare texts clients expect.
// The checks (an integrity check reads the whole file) run in the user's
// worker thread, so other users' requests go on meanwhile; this user's wait
// on their lock.
import { rmSync, renameSync } from "node:fs";
import { fsyncDir } from "../durable.js";
import { type ReceivedFile, type Reply, textReply } from "../protocol/types.js";
import { logger } from "../log.js";
import type { UserState } from "../users/user.js";

export const UPLOAD_OK = "OK";
export const UPLOAD_CORRUPT = "Your upload was corrupt. Please use Check Database, or restore from backup.";
export const UPLOAD_TOO_LARGE = "collection exceeds size limit";

export async function upload(user: UserState, file: ReceivedFile): Promise<Reply> {
  try {
    user.abortActiveSession();
    if (file.tooLarge) {
      logger.warn("upload refused: too large", { user: user.name, bytes: file.bytes });
      return textReply(UPLOAD_TOO_LARGE);
    }
    const outcome = await user.inWorker("verifyUpload", file.path);
    if (!outcome.ok) {
      logger.warn("upload refused: corrupt", { user: user.name, reason: outcome.corrupt });
      return textReply(UPLOAD_CORRUPT);
    }
    const verified = outcome.verified;
    user.closeCollection();
    // A stale WAL beside the target would be replayed into the new file.
    rmSync(`${user.collectionPath}-wal`, { force: true });
    rmSync(`${user.collectionPath}-shm`, { force: true });
    renameSync(file.path, user.collectionPath);
    fsyncDir(user.dir);
    logger.info("collection replaced by upload", { user: user.name, bytes: file.bytes, notes: verified.notes, cards: verified.cards });
    return textReply(UPLOAD_OK);
  } finally {
    rmSync(file.path, { force: true });
    rmSync(`${file.path}-wal`, { force: true });
    rmSync(`${file.path}-shm`, { force: true });
  }
}
