// POST /sync/download: the client replaces its collection with the server's.
// As the official server does, usn and mod are bumped first so both sides agree
// afterwards; the connection is closed so the WAL is folded into the file that
// is streamed out (the user's lock is held until the last byte is sent). A
// legacy client's copy is downgraded in the user's worker thread; for current
// clients the bump and checkpoint stay here: they take milliseconds, and
// starting a worker for them cost more CPU than it saved (bench, 100 MB).
//
// Legacy clients (protocol 8-10) get a schema-11 file in DELETE journal mode.
// The official server downgrades its own file in place (and re-upgrades it on
// the next open, a lossy round trip); here a copy taken after the bump is
// downgraded and served, and the live collection is never touched.
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { bumpForDownload } from "../collection/fullsync/header.js";
import { newCollectionDownloadTempName } from "../data-folder.js";
import { type Reply, type RequestInfo, isLegacyProtocol } from "../protocol/types.js";
import type { UserState } from "../users/user.js";

function removeWithJournals(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
}

export async function download(user: UserState, info?: Pick<RequestInfo, "protocol">): Promise<Reply> {
  user.abortActiveSession();
  if (info === undefined || !isLegacyProtocol(info.protocol)) {
    const db = user.collection();
    db.transaction(() => bumpForDownload(db, Date.now()))();
    user.closeCollection();
    return { kind: "file", path: user.collectionPath, size: statSync(user.collectionPath).size };
  }
  // Creates the collection if the user has none yet, then lets the worker have the file.
  user.collection();
  user.closeCollection();
  const copy = join(user.dir, newCollectionDownloadTempName());
  try {
    const size = await user.inWorker("prepareDownload", user.collectionPath, Date.now(), copy);
    return { kind: "file", path: copy, size, cleanup: () => removeWithJournals(copy) };
  } catch (err) {
    removeWithJournals(copy);
    throw err;
  }
}
