// POST /sync/download: the client replaces its collection with the server's.
// As the official server does, usn and mod are bumped first so both sides agree
// afterwards; the connection is closed so the WAL is folded into the file that
// is streamed out (the user's lock is held until the last byte is sent).
import { statSync } from "node:fs";
import { bumpForDownload } from "../collection/fullsync/header.js";
import type { Reply } from "../http/types.js";
import type { UserState } from "./user.js";

export function download(user: UserState): Reply {
  user.abortActiveSession();
  const db = user.collection();
  db.transaction(() => bumpForDownload(db, Date.now()))();
  user.closeCollection();
  return { kind: "file", path: user.collectionPath, size: statSync(user.collectionPath).size };
}
