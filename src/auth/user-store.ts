// The user store managed by `anki-sync-server user ...`: a table of user names
// and argon2id hashes in the server database (<base>/.anki-sync-server.sqlite3),
// plus a little shared state through which the CLI and a running server talk:
//
//   users_generation  bumped by every CLI change to the users table
//   server            which server process uses this data folder (pid, start time)
//   reload            what that server loaded last: the generation it saw,
//                     whether the reload worked, and its user names and sources
//
// The server notices CLI changes itself (see accounts.ts) and answers through
// `reload`; the CLI waits for that answer to say whether the change is live.
import type Database from "better-sqlite3";

export interface StoredUser {
  name: string;
  /** argon2id (or pbkdf2) PHC string. */
  phc: string;
  created: number;
  updated: number;
}

export interface ServerRecord {
  pid: number;
  started: number;
  /** The server's host name, to tell apart pids from another machine or container. */
  hostname: string;
}

export interface LoadedUser {
  name: string;
  source: string;
}

export interface ReloadRecord {
  pid: number;
  at: number;
  /** The users_generation the server read. */
  generation: number;
  ok: boolean;
  /** Why the reload failed (never holds a secret). */
  error?: string;
  users: LoadedUser[];
}

export class UserExistsError extends Error {}
export class NoSuchUserError extends Error {}

export class UserStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS users (
      name TEXT PRIMARY KEY NOT NULL,
      phc TEXT NOT NULL,
      created INTEGER NOT NULL,
      updated INTEGER NOT NULL
    ) WITHOUT ROWID`);
    db.exec(`CREATE TABLE IF NOT EXISTS server_state (
      key TEXT PRIMARY KEY NOT NULL,
      value TEXT NOT NULL
    ) WITHOUT ROWID`);
  }

  list(): StoredUser[] {
    return this.db.prepare("SELECT name, phc, created, updated FROM users ORDER BY name").all() as StoredUser[];
  }

  get(name: string): StoredUser | undefined {
    return this.db.prepare("SELECT name, phc, created, updated FROM users WHERE name = ?").get(name) as StoredUser | undefined;
  }

  /** The users and the generation they belong to, read in one snapshot. */
  snapshot(): { generation: number; users: StoredUser[] } {
    return this.db.transaction(() => ({ generation: this.generation(), users: this.list() }))();
  }

  add(name: string, phc: string): number {
    return this.db.transaction(() => {
      if (this.get(name)) throw new UserExistsError(`user "${name}" already exists in the user store`);
      const now = Date.now();
      this.db.prepare("INSERT INTO users VALUES (?, ?, ?, ?)").run(name, phc, now, now);
      return this.bumpGeneration();
    })();
  }

  /** Replaces the password hash. Callers revoke the user's host keys in the same transaction. */
  setPassword(name: string, phc: string): number {
    return this.db.transaction(() => {
      const changes = this.db.prepare("UPDATE users SET phc = ?, updated = ? WHERE name = ?").run(phc, Date.now(), name).changes;
      if (changes === 0) throw new NoSuchUserError(`user "${name}" is not in the user store`);
      return this.bumpGeneration();
    })();
  }

  remove(name: string): number {
    return this.db.transaction(() => {
      const changes = this.db.prepare("DELETE FROM users WHERE name = ?").run(name).changes;
      if (changes === 0) throw new NoSuchUserError(`user "${name}" is not in the user store`);
      return this.bumpGeneration();
    })();
  }

  generation(): number {
    return Number(this.getState("users_generation") ?? "0");
  }

  private bumpGeneration(): number {
    const next = this.generation() + 1;
    this.setState("users_generation", String(next));
    return next;
  }

  // -- server <-> CLI --------------------------------------------------------

  registerServer(record: ServerRecord): void {
    this.setState("server", JSON.stringify(record));
  }

  /** Removes the server record if it is still ours. */
  unregisterServer(pid: number): void {
    if (this.server()?.pid === pid) this.db.prepare("DELETE FROM server_state WHERE key = 'server'").run();
  }

  server(): ServerRecord | undefined {
    return this.getJson<ServerRecord>("server");
  }

  recordReload(record: ReloadRecord): void {
    this.setState("reload", JSON.stringify(record));
  }

  lastReload(): ReloadRecord | undefined {
    return this.getJson<ReloadRecord>("reload");
  }

  private getState(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM server_state WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  private getJson<T>(key: string): T | undefined {
    const text = this.getState(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  }

  private setState(key: string, value: string): void {
    this.db.prepare("INSERT INTO server_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }
}
