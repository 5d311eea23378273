// POST /sync/download: the client replaces its collection with the server's.
// As the official server does, usn and mod are bumped first so both sides agree
// afterwards; the connection is closed so the WAL is folded into the file that
// is streamed out (the user's lock is held until the last byte is sent).
//
// Legacy clients (protocol 8-10) get a schema-11 file in DELETE journal mode.
// The official server downgrades its own file in place (and re-upgrades it on
// the next open, a lossy round trip); here a copy taken after the bump is
// downgraded and served, and the live collection is never touched.
import { copyFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { bumpForDownload } from "../collection/fullsync/header.js";
import { downgradeToSchema11 } from "../collection/upgrade/downgrade.js";
import { newCollectionDownloadTempName } from "../data-folder.js";
import { type Reply, type RequestInfo, isLegacyProtocol } from "../protocol/types.js";
import type { UserState } from "../users/user.js";

function removeWithJournals(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
}

export function download(user: UserState, info?: Pick<RequestInfo, "protocol">): Reply {
  user.abortActiveSession();
  const db = user.collection();
  db.transaction(() => bumpForDownload(db, Date.now()))();
  user.closeCollection();
  if (info === undefined || !isLegacyProtocol(info.protocol)) {
    return { kind: "file", path: user.collectionPath, size: statSync(user.collectionPath).size };
  }
  const copy = join(user.dir, newCollectionDownloadTempName());
  try {
    copyFileSync(user.collectionPath, copy);
    downgradeToSchema11(copy);
    rmSync(`${copy}-wal`, { force: true });
    rmSync(`${copy}-shm`, { force: true });
    return { kind: "file", path: copy, size: statSync(copy).size, cleanup: () => removeWithJournals(copy) };
  } catch (err) {
    removeWithJournals(copy);
    throw err;
  }
}
