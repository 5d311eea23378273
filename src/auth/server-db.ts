// The server's own small database (host keys, later the user store), kept in
// the data folder beside the users' folders. A leading dot keeps it from ever
// colliding with a user folder: user names may not start with a dot.
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SERVER_DB_FILE } from "../data-folder.js";

/**
 * Host-key and password hashes live here: owner-only whatever the umask.
 * SQLite gives the -wal and -shm files the database file's mode, so the
 * database is created 0600 before SQLite opens it (an empty file is a new
 * database), and an existing one is narrowed to 0600.
 */
function ownerOnly(path: string): void {
  closeSync(openSync(path, "a", 0o600));
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    try {
      chmodSync(path + suffix, 0o600);
    } catch {
      // not there
    }
  }
}

export function openServerDb(base: string): Database.Database {
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const path = join(base, SERVER_DB_FILE);
  ownerOnly(path);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  return db;
}
