// The heavy SQLite jobs that run in a worker thread (pool.ts), by name. Each
// takes and returns plain data (structured-cloneable); they work on files by
// path with their own connections, never on a connection of the main thread.
import { CorruptUploadError, type VerifiedUpload, verifyUploadedCollection } from "../collection/fullsync/verify-upload.js";

export type VerifyOutcome = { ok: true; verified: VerifiedUpload } | { ok: false; corrupt: string };

export const TASKS = {
  /** The full-upload checks (integrity check, schema upgrade, pending rows) on the uploaded temp file. */
  verifyUpload(path: string): VerifyOutcome {
    try {
      return { ok: true, verified: verifyUploadedCollection(path) };
    } catch (err) {
      if (err instanceof CorruptUploadError) return { ok: false, corrupt: err.message };
      throw err;
    }
  },
} satisfies Record<string, (...args: never[]) => unknown>;

export type TaskName = keyof typeof TASKS;
export type TaskArgs<N extends TaskName> = Parameters<(typeof TASKS)[N]>;
export type TaskResult<N extends TaskName> = ReturnType<(typeof TASKS)[N]>;
