// The server media database, in the official server's format
// (<user>/media.db, user_version 4) so a user folder can move between the
// official server and this one in either direction.
//
//   media(fname text primary key, csum blob, size int, usn int, mtime int)
//     one row per name ever synced; size 0 marks a deletion (csum is kept)
//   meta(last_usn, total_bytes, total_nonempty_files)  exactly one row
//
// Media usns only grow: every effective change (add, replace, delete) takes
// last_usn + 1; no-ops take nothing.
import { mkdirSync } from "node:fs";
import Database from "better-sqlite3";
import { recoverPending } from "./pending.js";
import { mediaDbPath, mediaFolder } from "./paths.js";

export const MEDIA_SCHEMA_VERSION = 4;

export interface MediaMeta {
  lastUsn: number;
  totalBytes: number;
  totalNonemptyFiles: number;
}

export interface MediaEntry {
  fname: string;
  /** Raw 20-byte SHA-1 of the content (kept after deletion). */
  sha1: Buffer;
  /** Byte length; 0 means deleted. */
  size: number;
  usn: number;
  /** Server time in seconds of the last change. */
  mtime: number;
}

export type MediaChange = [fname: string, usn: number, sha1: string];

export class MediaSchemaError extends Error {}

// Version 3, as older official servers created it (kept so that their data
// can be adopted through the same upgrade path the official server uses).
function createV3(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS media (
      fname text NOT NULL PRIMARY KEY,
      csum blob,
      sz int NOT NULL,
      usn int NOT NULL,
      deleted int NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ix_usn ON media (usn);
    CREATE TABLE IF NOT EXISTS meta (usn int NOT NULL, sz int NOT NULL);
    INSERT INTO meta (usn, sz) VALUES (0, 0);
    PRAGMA user_version = 3;
  `);
}

// 3 -> 4: rows without a checksum are dropped, sz becomes size, the old
// `deleted` column's values carry over as mtime, and meta is rebuilt with a
// count of non-deleted files.
function upgradeV3toV4(db: Database.Database): void {
  db.exec(`
    ALTER TABLE media RENAME TO media_v3;
    DROP INDEX ix_usn;
    CREATE TABLE media (
      fname text NOT NULL PRIMARY KEY,
      csum blob NOT NULL,
      size int NOT NULL,
      usn int NOT NULL,
      mtime int NOT NULL
    );
    INSERT INTO media (fname, csum, size, usn, mtime)
      SELECT fname, csum, sz, usn, deleted FROM media_v3 WHERE csum IS NOT NULL;
    DROP TABLE media_v3;
    CREATE INDEX ix_usn ON media (usn);
    DROP TABLE meta;
    CREATE TABLE meta (
      last_usn int NOT NULL,
      total_bytes int NOT NULL,
      total_nonempty_files int NOT NULL
    );
    INSERT INTO meta (last_usn, total_bytes, total_nonempty_files)
      SELECT coalesce(max(usn), 0), coalesce(sum(size), 0), (SELECT count(*) FROM media WHERE size > 0) FROM media;
    PRAGMA user_version = 4;
  `);
}

function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MEDIA_SCHEMA_VERSION) {
    throw new MediaSchemaError(`media.db has schema version ${version}; this server knows up to ${MEDIA_SCHEMA_VERSION}`);
  }
  if (version === MEDIA_SCHEMA_VERSION) return;
  db.transaction(() => {
    if (version < 3) createV3(db);
    upgradeV3toV4(db);
  }).exclusive();
  db.exec("VACUUM");
}

interface EntryRow {
  fname: string;
  csum: Buffer;
  size: number;
  usn: number;
  mtime: number;
}

export class MediaDb {
  readonly folder: string;
  /** Prepared once per connection: the DB stays open between requests. */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly db: Database.Database,
    readonly userDir: string,
  ) {
    this.folder = mediaFolder(userDir);
  }

  /**
   * Opens (creating or upgrading) <userDir>/media.db and its media/ folder,
   * and finishes any upload a crash interrupted. Close it when done.
   */
  static open(userDir: string): MediaDb {
    mkdirSync(mediaFolder(userDir), { recursive: true, mode: 0o700 });
    const db = new Database(mediaDbPath(userDir));
    try {
      db.pragma("busy_timeout = 5000");
      db.pragma("journal_mode = WAL");
      // An acknowledged upload must survive power loss.
      db.pragma("synchronous = FULL");
      migrate(db);
      const media = new MediaDb(db, userDir);
      recoverPending(userDir, media.meta().lastUsn);
      return media;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Reads an existing <userDir>/media.db without creating, upgrading or
   * recovering anything (for metrics and maintenance commands). Throws when
   * there is none or it cannot be read.
   */
  private static inspect<T>(userDir: string, read: (db: Database.Database) => T, busyTimeoutMs = 0): T {
    // Only reads; not opened read-only, which would leave -wal/-shm files behind.
    const db = new Database(mediaDbPath(userDir), { fileMustExist: true });
    try {
      if (busyTimeoutMs > 0) db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      return read(db);
    } finally {
      db.close();
    }
  }

  /** Bytes and count of the user's media files, as the meta row counts them ({0, 0} without one). */
  static readTotals(userDir: string): { bytes: number; files: number } {
    return MediaDb.inspect(userDir, (db) => {
      const row = db.prepare("SELECT total_bytes AS bytes, total_nonempty_files AS files FROM meta").get() as { bytes: number; files: number } | undefined;
      return row ?? { bytes: 0, files: 0 };
    });
  }

  /** The highest media usn an existing media.db handed out: the meta row's or any entry's, whichever is higher. */
  static readHighestUsn(userDir: string): number {
    return MediaDb.inspect(
      userDir,
      (db) => {
        let best = 0;
        try {
          best = Math.max(best, (db.prepare("SELECT last_usn FROM meta").pluck().get() as number | undefined) ?? 0);
        } catch {
          // an old or damaged meta table: the rows still tell
        }
        return Math.max(best, (db.prepare("SELECT coalesce(max(usn), 0) FROM media").pluck().get() as number | undefined) ?? 0);
      },
      5000,
    );
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  meta(): MediaMeta {
    const row = this.statement("SELECT last_usn, total_bytes, total_nonempty_files FROM meta").get() as
      | { last_usn: number; total_bytes: number; total_nonempty_files: number }
      | undefined;
    if (!row) throw new MediaSchemaError("media.db has no meta row");
    return { lastUsn: row.last_usn, totalBytes: row.total_bytes, totalNonemptyFiles: row.total_nonempty_files };
  }

  lastUsn(): number {
    return this.meta().lastUsn;
  }

  private setMeta(meta: MediaMeta): void {
    this.statement("UPDATE meta SET last_usn = ?, total_bytes = ?, total_nonempty_files = ?").run(meta.lastUsn, meta.totalBytes, meta.totalNonemptyFiles);
  }

  /** The row for `fname`, deletion records included. */
  entry(fname: string): MediaEntry | undefined {
    const row = this.statement("SELECT fname, csum, size, usn, mtime FROM media WHERE fname = ?").get(fname) as EntryRow | undefined;
    return row && { fname: row.fname, sha1: row.csum, size: row.size, usn: row.usn, mtime: row.mtime };
  }

  /** The row for `fname` unless it is missing or a deletion. */
  nonemptyEntry(fname: string): MediaEntry | undefined {
    const entry = this.entry(fname);
    return entry && entry.size > 0 ? entry : undefined;
  }

  /** Saves a row, replacing any with the same name. */
  setEntry(entry: MediaEntry): void {
    this
      .statement("INSERT OR REPLACE INTO media (fname, csum, size, usn, mtime) VALUES (?, ?, ?, ?, ?)")
      .run(entry.fname, entry.sha1, entry.size, entry.usn, entry.mtime);
  }

  /** Rows changed after `afterUsn`, oldest first: [name, usn, lowercase hex sha1 or "" for a deletion]. */
  changesAfter(afterUsn: number, limit: number): MediaChange[] {
    const rows = this
      .statement("SELECT fname, usn, CASE WHEN size > 0 THEN lower(hex(csum)) ELSE '' END AS sha1 FROM media WHERE usn > ? ORDER BY usn LIMIT ?")
      .all(afterUsn, limit) as { fname: string; usn: number; sha1: string }[];
    return rows.map((r) => [r.fname, r.usn, r.sha1]);
  }

  /**
   * Runs `op` in one exclusive transaction with the meta row loaded; the
   * (possibly changed) meta is written back before the commit. Returns what
   * `op` returns; on a throw nothing is kept.
   */
  transaction<T>(op: (meta: MediaMeta) => T): T {
    return this.db
      .transaction(() => {
        const meta = this.meta();
        const result = op(meta);
        this.setMeta(meta);
        return result;
      })
      .exclusive();
  }

  /**
   * Drops a row without leaving a deletion record and without a usn, so that
   * no client deletes its copy (the official server's answer to a file that
   * is in the DB but not on disk).
   */
  forget(entry: MediaEntry): void {
    this.transaction((meta) => {
      this.statement("DELETE FROM media WHERE fname = ?").run(entry.fname);
      if (entry.size > 0) {
        meta.totalBytes = Math.max(0, meta.totalBytes - entry.size);
        meta.totalNonemptyFiles = Math.max(0, meta.totalNonemptyFiles - 1);
      }
    });
  }

  /** Every non-deleted row (for the operator tool). */
  nonemptyEntries(): MediaEntry[] {
    const rows = this.db.prepare("SELECT fname, csum, size, usn, mtime FROM media WHERE size > 0 ORDER BY fname").all() as EntryRow[];
    return rows.map((row) => ({ fname: row.fname, sha1: row.csum, size: row.size, usn: row.usn, mtime: row.mtime }));
  }
}

/** Opens the user's media DB for the duration of `op`. */
export function withMediaDb<T>(userDir: string, op: (db: MediaDb) => T): T {
  const db = MediaDb.open(userDir);
  try {
    return op(db);
  } finally {
    db.close();
  }
}

// Bookkeeping for one effective change, mirroring the official server's: each
// takes the next usn and the current time; totals follow the sizes.

export const nowSecs = () => Math.floor(Date.now() / 1000);

function nextUsn(meta: MediaMeta): number {
  meta.lastUsn += 1;
  return meta.lastUsn;
}

export function addedEntry(meta: MediaMeta, fname: string, sha1: Buffer, size: number): MediaEntry {
  meta.totalBytes += size;
  meta.totalNonemptyFiles += 1;
  return { fname, sha1, size, usn: nextUsn(meta), mtime: nowSecs() };
}

export function replacedEntry(meta: MediaMeta, old: MediaEntry, sha1: Buffer, size: number): MediaEntry {
  meta.totalBytes = Math.max(0, meta.totalBytes - old.size) + size;
  return { fname: old.fname, sha1, size, usn: nextUsn(meta), mtime: nowSecs() };
}

export function removedEntry(meta: MediaMeta, old: MediaEntry): MediaEntry {
  meta.totalBytes = Math.max(0, meta.totalBytes - old.size);
  meta.totalNonemptyFiles = Math.max(0, meta.totalNonemptyFiles - 1);
  return { fname: old.fname, sha1: old.sha1, size: 0, usn: nextUsn(meta), mtime: nowSecs() };
}
