// Host keys: one random key per login, kept in the server database so they
// survive restarts. Only a SHA-256 of each key is stored, so the database
// cannot be used to impersonate a device. Each key remembers a fingerprint of
// the credential it was issued under; when the password changes the key dies.
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

function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** How often `lastUsed` is written back; saves a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class HostKeyStore {
  private readonly cache = new Map<string, HostKeyRecord>();

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

  issue(user: string, credentialFingerprint: string, clientVersion: string, address: string): string {
    const key = randomBytes(20).toString("hex");
    const now = Date.now();
    const record: HostKeyRecord = { user, credentialFingerprint, created: now, lastUsed: now, clientVersion, address };
    this.db
      .prepare("INSERT INTO host_keys VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(hashKey(key), user, credentialFingerprint, now, now, clientVersion, address);
    this.cache.set(hashKey(key), record);
    return key;
  }

  /** The record for a key, or undefined. Refreshes `lastUsed` at most once a minute. */
  lookup(key: string, clientVersion: string, address: string): HostKeyRecord | undefined {
    if (key.length === 0 || key.length > 200) return undefined;
    const keyHash = hashKey(key);
    let record = this.cache.get(keyHash);
    if (!record) {
      const row = this.db
        .prepare("SELECT user, credential_fp, created, last_used, client_version, address FROM host_keys WHERE key_hash = ?")
        .get(keyHash) as
        | { user: string; credential_fp: string; created: number; last_used: number; client_version: string; address: string }
        | undefined;
      if (!row) return undefined;
      record = {
        user: row.user,
        credentialFingerprint: row.credential_fp,
        created: row.created,
        lastUsed: row.last_used,
        clientVersion: row.client_version,
        address: row.address,
      };
      this.cache.set(keyHash, record);
    }
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
    ) as { key_hash: string; user: string; credential_fp: string; created: number; last_used: number; client_version: string; address: string }[];
    return rows.map((row) => ({
      id: row.key_hash.slice(0, 12),
      user: row.user,
      credentialFingerprint: row.credential_fp,
      created: row.created,
      lastUsed: row.last_used,
      clientVersion: row.client_version,
      address: row.address,
    }));
  }

  /** Revokes the user's keys whose id starts with `idPrefix` (all of them when omitted). */
  revoke(user: string, idPrefix?: string): number {
    const pattern = `${(idPrefix ?? "").replace(/[^0-9a-f]/g, "")}%`;
    const result = this.db.prepare("DELETE FROM host_keys WHERE user = ? AND key_hash LIKE ?").run(user, pattern);
    for (const [hash, record] of this.cache) {
      if (record.user === user && hash.startsWith(idPrefix ?? "")) this.cache.delete(hash);
    }
    return result.changes;
  }

  /** Forgets cached records so that changes made by another process (the CLI) are seen. */
  reload(): void {
    this.cache.clear();
  }
}
