// Opening a user's collection file: the one place that knows which pragmas and
// extensions every connection to an Anki collection needs.
import Database from "better-sqlite3";
import { loadUnicase } from "./unicase.js";

export type CollectionDb = Database.Database;

export interface OpenOptions {
  /** Open read-only (used for inspecting uploads and backups). */
  readonly?: boolean;
  /** Fail instead of creating the file when it does not exist. */
  mustExist?: boolean;
}

/**
 * Opens an SQLite collection with the `unicase` collation registered, so that
 * every table Anki declares `COLLATE unicase` can be read, written and checked.
 */
export function openCollectionDb(path: string, options: OpenOptions = {}): CollectionDb {
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    fileMustExist: options.mustExist ?? false,
  });
  try {
    loadUnicase(db);
    // Anki's own connections use a 4 KiB page size and WAL; a sync server has
    // one writer per user, so a short busy timeout only covers backups.
    db.pragma("busy_timeout = 5000");
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
