// POST /sync/upload: the client replaces the server's collection with its own.
// The body was already streamed to a temp file in the user's folder; here it is
// checked and atomically swapped in. Replies are the bare texts clients expect.
import { rmSync, renameSync } from "node:fs";
import { fsyncDir } from "../durable.js";
import { CorruptUploadError, verifyUploadedCollection } from "../collection/fullsync/verify-upload.js";
import { type ReceivedFile, type Reply, textReply } from "../protocol/types.js";
import { logger } from "../log.js";
import type { UserState } from "../users/user.js";

export const UPLOAD_OK = "OK";
export const UPLOAD_CORRUPT = "Your upload was corrupt. Please use Check Database, or restore from backup.";
export const UPLOAD_TOO_LARGE = "collection exceeds size limit";

export function upload(user: UserState, file: ReceivedFile): Reply {
  try {
    user.abortActiveSession();
    if (file.tooLarge) {
      logger.warn("upload refused: too large", { user: user.name, bytes: file.bytes });
      return textReply(UPLOAD_TOO_LARGE);
    }
    let verified;
    try {
      verified = verifyUploadedCollection(file.path);
    } catch (err) {
      if (!(err instanceof CorruptUploadError)) throw err;
      logger.warn("upload refused: corrupt", { user: user.name, reason: err.message });
      return textReply(UPLOAD_CORRUPT);
    }
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
