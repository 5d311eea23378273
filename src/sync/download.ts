// POST /sync/download: the client replaces its collection with the server's.
// As the official server does, usn and mod are bumped first so both sides agree
// afterwards; the connection is closed so the WAL is folded into the file that
// is streamed out (the user's lock is held until the last byte is sent). The
// bump, the checkpoint and a legacy copy's downgrade run in the user's worker
// thread.
//
// Legacy clients (protocol 8-10) get a schema-11 file in DELETE journal mode.
// The official server downgrades its own file in place (and re-upgrades it on
// the next open, a lossy round trip); here a copy taken after the bump is
// downgraded and served, and the live collection is never touched.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { newCollectionDownloadTempName } from "../data-folder.js";
import { type Reply, type RequestInfo, isLegacyProtocol } from "../protocol/types.js";
import type { UserState } from "../users/user.js";

function removeWithJournals(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
}

export async function download(user: UserState, info?: Pick<RequestInfo, "protocol">): Promise<Reply> {
  user.abortActiveSession();
  // Creates the collection if the user has none yet, then lets the worker have the file.
  user.collection();
  user.closeCollection();
  if (info === undefined || !isLegacyProtocol(info.protocol)) {
    const size = await user.inWorker("prepareDownload", user.collectionPath, Date.now(), null);
    return { kind: "file", path: user.collectionPath, size };
  }
  const copy = join(user.dir, newCollectionDownloadTempName());
  try {
    const size = await user.inWorker("prepareDownload", user.collectionPath, Date.now(), copy);
    return { kind: "file", path: copy, size, cleanup: () => removeWithJournals(copy) };
  } catch (err) {
    removeWithJournals(copy);
    throw err;
  }
}
