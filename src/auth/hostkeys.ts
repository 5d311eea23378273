// Host keys: one random key per login (so one per device), kept in the server
// database so they survive restarts. Only a SHA-256 of each key is stored, so
// the database cannot be used to impersonate a device. Each key remembers a
// fingerprint of the credential it was issued under; when the password
// changes the key dies.
//
// Every request looks its key up in the database (a primary-key read), with no
// cache in front: a key revoked by the CLI, from another process, is refused
// on the very next request.
import { createHash, randomBytes } from "node:crypto";
import type Database from "better-sqlite3";

export interface HostKeyRecord {
  user: string;
  credentialFingerprint: string;
  created: number;
  lastUsed: number;
  clientVersion: string;
  address: string;
}

export interface HostKeyInfo extends HostKeyRecord {
  /** First characters of the key's hash: enough to name a device, useless to sign in. */
  id: string;
}

interface HostKeyRow {
  key_hash: string;
  user: string;
  credential_fp: string;
  created: number;
  last_used: number;
  client_version: string;
  address: string;
}

export const HOST_KEY_ID_LENGTH = 12;

/** What the database keeps of a host key (other tables refer to keys by it). */
export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

function toRecord(row: HostKeyRow): HostKeyRecord {
  return {
    user: row.user,
    credentialFingerprint: row.credential_fp,
    created: row.created,
    lastUsed: row.last_used,
    clientVersion: row.client_version,
    address: row.address,
  };
}

/** How often `lastUsed` is written back; saves a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class HostKeyStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS host_keys (
      key_hash TEXT PRIMARY KEY NOT NULL,
      user TEXT NOT NULL,
      credential_fp TEXT NOT NULL,
      created INTEGER NOT NULL,
      last_used INTEGER NOT NULL,
      client_version TEXT NOT NULL,
      address TEXT NOT NULL
    ) WITHOUT ROWID`);
    db.exec("CREATE INDEX IF NOT EXISTS host_keys_user ON host_keys (user)");
  }

  /** Creation times are kept distinct, so sessions list in login order even within one millisecond. */
  private lastCreated = 0;

  issue(user: string, credentialFingerprint: string, clientVersion: string, address: string): string {
    const key = randomBytes(20).toString("hex");
    const now = Math.max(Date.now(), this.lastCreated + 1);
    this.lastCreated = now;
    this.db
      .prepare("INSERT INTO host_keys VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(hashKey(key), user, credentialFingerprint, now, now, clientVersion, address);
    return key;
  }

  /** The record for a key, or undefined. Refreshes `lastUsed` at most once a minute. */
  lookup(key: string, clientVersion: string, address: string): HostKeyRecord | undefined {
    if (key.length === 0 || key.length > 200) return undefined;
    const keyHash = hashKey(key);
    const row = this.db.prepare("SELECT * FROM host_keys WHERE key_hash = ?").get(keyHash) as HostKeyRow | undefined;
    if (!row) return undefined;
    const record = toRecord(row);
    const now = Date.now();
    if (now - record.lastUsed >= LAST_USED_RESOLUTION_MS || record.clientVersion !== clientVersion || record.address !== address) {
      record.lastUsed = now;
      record.clientVersion = clientVersion;
      record.address = address;
      this.db
        .prepare("UPDATE host_keys SET last_used = ?, client_version = ?, address = ? WHERE key_hash = ?")
        .run(now, clientVersion, address, keyHash);
    }
    return record;
  }

  list(user?: string): HostKeyInfo[] {
    const rows = (
      user === undefined
        ? this.db.prepare("SELECT * FROM host_keys ORDER BY user, created").all()
        : this.db.prepare("SELECT * FROM host_keys WHERE user = ? ORDER BY created").all(user)
    ) as HostKeyRow[];
    return rows.map((row) => ({ id: row.key_hash.slice(0, HOST_KEY_ID_LENGTH), ...toRecord(row) }));
  }

  /** Number of keys per user. */
  counts(): Map<string, number> {
    const rows = this.db.prepare("SELECT user, count(*) AS n FROM host_keys GROUP BY user").all() as { user: string; n: number }[];
    return new Map(rows.map((row) => [row.user, row.n]));
  }

  /**
   * Revokes the user's keys whose id starts with `idPrefix` (all of them when
   * omitted). Returns how many were removed.
   */
  revoke(user: string, idPrefix?: string): number {
    if (idPrefix === undefined) return this.db.prepare("DELETE FROM host_keys WHERE user = ?").run(user).changes;
    const prefix = idPrefix.toLowerCase();
    if (!/^[0-9a-f]+$/.test(prefix)) return 0;
    return this.db.prepare("DELETE FROM host_keys WHERE user = ? AND substr(key_hash, 1, ?) = ?").run(user, prefix.length, prefix).changes;
  }

  /** Revokes one key given the key itself (a login that could not be completed). */
  revokeKey(key: string): boolean {
    return this.db.prepare("DELETE FROM host_keys WHERE key_hash = ?").run(hashKey(key)).changes > 0;
  }

  /**
   * Deletes keys issued under a credential the user no longer has (a changed
   * password revokes them for good, even if it is changed back later).
   * `current` maps each user to the fingerprint of their credential. Keys of
   * users missing from `current` are left alone: they are refused while the
   * user is absent, and a user dropped from the configuration by mistake gets
   * their devices back once restored. `user remove` deletes them explicitly.
   */
  prune(current: ReadonlyMap<string, string>): number {
    const rows = this.db.prepare("SELECT key_hash, user, credential_fp FROM host_keys").all() as Pick<HostKeyRow, "key_hash" | "user" | "credential_fp">[];
    const stale = rows.filter((row) => {
      const fingerprint = current.get(row.user);
      return fingerprint !== undefined && fingerprint !== row.credential_fp;
    });
    if (stale.length === 0) return 0;
    const del = this.db.prepare("DELETE FROM host_keys WHERE key_hash = ?");
    this.db.transaction(() => {
      for (const row of stale) del.run(row.key_hash);
    })();
    return stale.length;
  }

  /**
   * prune() for one user: deletes their keys issued under any other
   * fingerprint. The Authenticator calls it when it first computes a plain
   * password's fingerprint after start-up (see authenticator.ts).
   */
  pruneUser(user: string, fingerprint: string): number {
    return this.db.prepare("DELETE FROM host_keys WHERE user = ? AND credential_fp <> ?").run(user, fingerprint).changes;
  }
}
