// Keeping media usns moving forward when the server's media state is replaced
// (restore) or emptied (reset-user).
//
// A client stores the media usn it last synced to (lastUsn) and next asks for
// changes with usn > lastUsn; when its lastUsn equals the server's it does not
// even ask. If the server's usns went back to older or smaller numbers, a
// client would skip entries (silent divergence) or see nothing to do. So the
// new state's usns always start above every usn the old state handed out:
//   - restore renumbers every entry of the restored media.db (deletion records
//     too) to old_last_usn+1 ... old_last_usn+N, keeping their order, so every
//     client fetches the whole restored list, downloads what differs, applies
//     the deletions, and then the count check (mediaSanity) catches any files
//     it has that the server does not: the client resets its media state
//     ("resync required") and its next media sync uploads them;
//   - reset-user starts an empty media.db at old_last_usn+1: clients find no
//     changes, fail the count check if they have files, reset and upload
//     everything on their next media sync.
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MediaDb } from "../media/db.js";
import { MEDIA_DB_FILE } from "../data-folder.js";
import { logger } from "../log.js";

/**
 * Used when the old media.db cannot be read at all: far above any usn a real
 * collection reaches, far below the 2^31 clients store usns in.
 */
export const UNKNOWN_MEDIA_USN_FLOOR = 100_000_000;

/**
 * The highest media usn the user's current media.db handed out: 0 without a
 * media.db; UNKNOWN_MEDIA_USN_FLOOR (with a warning) when it cannot be read.
 */
export function currentMediaUsn(userDir: string): number {
  const path = join(userDir, MEDIA_DB_FILE);
  if (!existsSync(path)) return 0;
  try {
    return MediaDb.readHighestUsn(userDir);
  } catch (err) {
    logger.warn("cannot read the old media.db; media usns restart far above any it can have used", {
      path,
      floor: UNKNOWN_MEDIA_USN_FLOOR,
      reason: (err as Error).message,
    });
    return UNKNOWN_MEDIA_USN_FLOOR;
  }
}

/**
 * Renumbers every entry of a (restored, not yet live) media.db above
 * `floor`, in the order of their old usns, fixes the meta row, and returns
 * the new last usn.
 */
export function renumberMediaDb(path: string, floor: number): number {
  const db = new Database(path, { fileMustExist: true });
  try {
    return db
      .transaction(() => {
        db.exec(`
          CREATE TEMP TABLE renumber AS
            SELECT fname, row_number() OVER (ORDER BY usn, fname) AS rn FROM media;
          CREATE UNIQUE INDEX temp.renumber_fname ON renumber (fname);
        `);
        db.prepare("UPDATE media SET usn = ? + (SELECT rn FROM temp.renumber WHERE temp.renumber.fname = media.fname)").run(floor);
        db.exec("DROP TABLE temp.renumber");
        const count = db.prepare("SELECT count(*) FROM media").pluck().get() as number;
        const lastUsn = floor + Math.max(count, 1);
        db.prepare(
          "UPDATE meta SET last_usn = ?, total_bytes = (SELECT coalesce(sum(size), 0) FROM media WHERE size > 0), " +
            "total_nonempty_files = (SELECT count(*) FROM media WHERE size > 0)",
        ).run(lastUsn);
        return lastUsn;
      })
      .immediate();
  } finally {
    db.close();
  }
}

/** Creates an empty media.db (and media/) in `userDir` whose usns continue after `floor`. Returns its last usn. */
export function createMediaDbAbove(userDir: string, floor: number): number {
  const media = MediaDb.open(userDir);
  try {
    const lastUsn = floor > 0 ? floor + 1 : 0;
    media.db.prepare("UPDATE meta SET last_usn = ?").run(lastUsn);
    return lastUsn;
  } finally {
    media.close();
  }
}
