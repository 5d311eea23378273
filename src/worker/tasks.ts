// The heavy SQLite jobs that run in a worker thread (pool.ts), by name. Each
// takes and returns plain data (structured-cloneable); they work on files by
// path with their own connections, never on a connection of the main thread.
import { copyFileSync, rmSync, statSync } from "node:fs";
import { bumpForDownload } from "../collection/fullsync/header.js";
import { CorruptUploadError, type VerifiedUpload, verifyUploadedCollection } from "../collection/fullsync/verify-upload.js";
import { openCollectionDb } from "../collection/open.js";

export type VerifyOutcome = { ok: true; verified: VerifiedUpload } | { ok: false; corrupt: string };

export const TASKS = {
  /** The full-upload checks (integrity check, schema upgrade, pending rows) on the uploaded temp file. */
  async verifyUpload(path: string): Promise<VerifyOutcome> {
    try {
      return { ok: true, verified: await verifyUploadedCollection(path) };
    } catch (err) {
      if (err instanceof CorruptUploadError) return { ok: false, corrupt: err.message };
      throw err;
    }
  },

  /**
   * Full download: bumps usn and mod (durably, as a sync step commits), folds
   * the WAL into the file and closes it. With `legacyCopy`, the bumped file is
   * copied there and the copy downgraded to schema 11. Returns the size of the
   * file to serve. The caller has closed its own connection to `path`.
   */
  async prepareDownload(path: string, nowMs: number, legacyCopy: string | null): Promise<number> {
    const db = openCollectionDb(path, { mustExist: true });
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.transaction(() => bumpForDownload(db, nowMs))();
      db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
    if (legacyCopy === null) return statSync(path).size;
    copyFileSync(path, legacyCopy);
    // Only legacy clients need it: imported on first use, like the upgrade.
    const { downgradeToSchema11 } = await import("../collection/upgrade/downgrade.js");
    downgradeToSchema11(legacyCopy);
    rmSync(`${legacyCopy}-wal`, { force: true });
    rmSync(`${legacyCopy}-shm`, { force: true });
    return statSync(legacyCopy).size;
  },
} satisfies Record<string, (...args: never[]) => unknown>;

export type TaskName = keyof typeof TASKS;
export type TaskArgs<N extends TaskName> = Parameters<(typeof TASKS)[N]>;
export type TaskResult<N extends TaskName> = Awaited<ReturnType<(typeof TASKS)[N]>>;
