// SQLite copies for snapshots: the online backup API (consistent while other
// connections read and write), then the copy is made self-contained
// (rollback journal instead of WAL) and integrity-checked.
import { createHash } from "node:crypto";
import { closeSync, createReadStream, fsyncSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { openCollectionDb } from "../collection/open.js";

/** Pages per backup step when progress is wanted (4 KiB pages: 16 MiB). */
const PAGES_PER_STEP = 4096;
/** "Everything in one step": one read transaction, so concurrent writers never restart it. */
const ALL_PAGES = 0x7fffffff;

export type Progress = (done: number, total: number) => void;

/**
 * Copies the database at `source` to `dest` (which must not exist) with
 * SQLite's online backup API. The source connection only reads (it is not
 * opened read-only so that it can recover a WAL a crash left behind); WAL
 * readers never block the server's writers. With `stepwise` the copy runs in steps
 * (for progress) and restarts if another connection writes in between, so use
 * it only while nobody writes; otherwise everything is copied in one step,
 * which is one consistent read transaction.
 */
export async function onlineBackup(source: string, dest: string, options: { stepwise?: boolean; progress?: Progress } = {}): Promise<void> {
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    const step = options.stepwise ? PAGES_PER_STEP : ALL_PAGES;
    await db.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        options.progress?.(totalPages - remainingPages, totalPages);
        return step;
      },
    });
  } finally {
    db.close();
  }
  fsyncFile(dest);
}

export class IntegrityError extends Error {}

/**
 * Switches a copied database to the rollback journal (a backup copy of a WAL
 * database is itself in WAL mode, which would need -wal/-shm files beside it)
 * and runs the full integrity check. Collections need the unicase collation,
 * so they are opened the way the server opens them.
 */
export function finishCopy(path: string, kind: "collection" | "plain"): void {
  const db = kind === "collection" ? openCollectionDb(path, { mustExist: true }) : new Database(path, { fileMustExist: true });
  try {
    db.pragma("journal_mode = DELETE");
    checkIntegrity(db, path);
  } finally {
    db.close();
  }
  fsyncFile(path);
}

export function checkIntegrity(db: Database.Database, what: string): void {
  const rows = db.pragma("integrity_check") as { integrity_check: string }[];
  const problems = rows.map((r) => r.integrity_check).filter((r) => r !== "ok");
  if (problems.length > 0) {
    throw new IntegrityError(`${what} failed the integrity check: ${problems.slice(0, 5).join("; ")}`);
  }
}

/** Opens a snapshot database read-only and runs the integrity check. */
export function verifyDb(path: string, kind: "collection" | "plain"): void {
  const db = kind === "collection" ? openCollectionDb(path, { mustExist: true, readonly: true }) : new Database(path, { readonly: true, fileMustExist: true });
  try {
    checkIntegrity(db, path);
  } finally {
    db.close();
  }
}

export function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function hashFile(path: string, algorithm: "sha256" | "sha1"): Promise<{ hex: string; bytes: number }> {
  const hash = createHash(algorithm);
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hex: hash.digest("hex"), bytes };
}
