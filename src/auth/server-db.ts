// The server's own small database (host keys, later the user store), kept in
// the data folder beside the users' folders. A leading dot keeps it from ever
// colliding with a user folder: user names may not start with a dot.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SERVER_DB_FILE } from "../data-folder.js";


export function openServerDb(base: string): Database.Database {
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const db = new Database(join(base, SERVER_DB_FILE));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  return db;
}
