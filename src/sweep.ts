// Start-up sweep: files a request was writing when the process died (kill -9,
// power loss) are useless afterwards, so the server removes every kind before
// it serves: legacy form spool files, `.incoming-*.tmp` uploads, full-download
// copies, media upload and download staging files, and half-built new
// collections. A media batch whose redo log exists (media-pending.json) is not
// touched here: the log owns its staged files and is finished or undone when
// the media DB is next opened.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  COLLECTION_DOWNLOAD_TEMP_PATTERN,
  DOWNLOAD_TEMP_PATTERN,
  INCOMING_TEMP_PATTERN,
  LEGACY_SPOOL_FOLDER,
  MEDIA_PENDING_FILE,
  NEW_COLLECTION_TEMP_PATTERN,
  UPLOAD_TEMP_PATTERN,
} from "./data-folder.js";
import { logger } from "./log.js";

export interface SweepCounts {
  legacySpool: number;
  incoming: number;
  mediaStaging: number;
  newCollection: number;
}

/** Removes every spool file (at start-up none of them belongs to a running request). */
function sweepSpoolDir(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) rmSync(join(dir, name), { force: true, recursive: true });
  return names.length;
}

/** Which kind of leftover a user-folder file is, if any. */
function leftoverKind(name: string, pending: boolean): keyof SweepCounts | undefined {
  if (INCOMING_TEMP_PATTERN.test(name) || COLLECTION_DOWNLOAD_TEMP_PATTERN.test(name)) return "incoming";
  if (!pending && (UPLOAD_TEMP_PATTERN.test(name) || DOWNLOAD_TEMP_PATTERN.test(name))) return "mediaStaging";
  if (NEW_COLLECTION_TEMP_PATTERN.test(name)) return "newCollection";
  return undefined;
}

export function sweepLeftovers(base: string): SweepCounts {
  const counts: SweepCounts = { legacySpool: sweepSpoolDir(join(base, LEGACY_SPOOL_FOLDER)), incoming: 0, mediaStaging: 0, newCollection: 0 };
  let entries;
  try {
    entries = readdirSync(base, { withFileTypes: true });
  } catch {
    return counts;
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const dir = join(base, entry.name);
    const pending = existsSync(join(dir, MEDIA_PENDING_FILE));
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const kind = leftoverKind(name, pending);
      if (kind === undefined) continue;
      rmSync(join(dir, name), { force: true });
      counts[kind]++;
    }
  }
  const total = counts.legacySpool + counts.incoming + counts.mediaStaging + counts.newCollection;
  if (total > 0) logger.warn("removed files left by an interrupted run", { ...counts });
  return counts;
}
