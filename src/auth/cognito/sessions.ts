// What the server keeps for each host key issued to a Cognito user, in the
// server database beside the host keys (table cognito_sessions, one row per
// key, keyed by the same SHA-256 of the key as host_keys):
//
//   username, sub   Cognito's user name (for the SECRET_HASH of refreshes) and
//                   the user's immutable id (a deleted and re-created user
//                   with the same name is a different user)
//   token           the refresh token, encrypted (below)
//   validated       when Cognito last confirmed the user
//
// The refresh token is sealed with AES-256-GCM under a key derived (HKDF-SHA256)
// from the host key itself, which the server never stores: the database, a
// backup of it or of the whole data folder holds no usable token. Only a request
// that presents the host key can open its token, which is also the only time the
// server needs it (re-validation happens on use). The row's key hash, user name
// and sub are bound to the ciphertext as associated data.
//
// A trigger deletes a key's row whenever its host key is deleted, by this
// server, by a reload pruning keys, or by the CLI from another process.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { hashKey } from "../hostkeys.js";

export interface CognitoSession {
  keyHash: string;
  username: string;
  sub: string;
  validated: number;
  sealed: Buffer;
}

interface SessionRow {
  key_hash: string;
  username: string;
  sub: string;
  token: Buffer;
  validated: number;
}

const SEAL_VERSION = 1;
const HKDF_INFO = "anki-sync-server cognito refresh token v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

function sealingKey(hostKey: string, keyHash: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(hostKey, "utf8"), Buffer.from(keyHash, "hex"), HKDF_INFO, 32));
}

function associatedData(keyHash: string, username: string, sub: string): Buffer {
  return Buffer.from(`${keyHash}\u0000${username}\u0000${sub}`, "utf8");
}

export function sealToken(hostKey: string, keyHash: string, username: string, sub: string, token: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(hostKey, keyHash), iv);
  cipher.setAAD(associatedData(keyHash, username, sub));
  const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return Buffer.concat([Buffer.from([SEAL_VERSION]), iv, cipher.getAuthTag(), body]);
}

/** The token, or undefined if the blob was not sealed under this host key and row. */
export function openToken(hostKey: string, session: Pick<CognitoSession, "keyHash" | "username" | "sub" | "sealed">): string | undefined {
  const blob = session.sealed;
  if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== SEAL_VERSION) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(hostKey, session.keyHash), blob.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(associatedData(session.keyHash, session.username, session.sub));
    decipher.setAuthTag(blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}

export class CognitoSessionStore {
  constructor(private readonly db: Database.Database) {
    // host_keys exists already (HostKeyStore creates it); the trigger needs it.
    db.exec(`CREATE TABLE IF NOT EXISTS cognito_sessions (
      key_hash TEXT PRIMARY KEY NOT NULL,
      username TEXT NOT NULL,
      sub TEXT NOT NULL,
      token BLOB NOT NULL,
      validated INTEGER NOT NULL
    ) WITHOUT ROWID`);
    db.exec(`CREATE TRIGGER IF NOT EXISTS cognito_sessions_follow_host_keys AFTER DELETE ON host_keys
      BEGIN DELETE FROM cognito_sessions WHERE key_hash = old.key_hash; END`);
  }

  /** Stores the session of a freshly issued host key. */
  add(hostKey: string, session: { username: string; sub: string; refreshToken: string; validated: number }): void {
    const keyHash = hashKey(hostKey);
    const sealed = sealToken(hostKey, keyHash, session.username, session.sub, session.refreshToken);
    this.db
      .prepare("INSERT OR REPLACE INTO cognito_sessions (key_hash, username, sub, token, validated) VALUES (?, ?, ?, ?, ?)")
      .run(keyHash, session.username, session.sub, sealed, session.validated);
  }

  get(keyHash: string): CognitoSession | undefined {
    const row = this.db.prepare("SELECT * FROM cognito_sessions WHERE key_hash = ?").get(keyHash) as SessionRow | undefined;
    if (!row) return undefined;
    return { keyHash: row.key_hash, username: row.username, sub: row.sub, validated: row.validated, sealed: row.token };
  }

  /** Cognito confirmed the user again; `refreshToken` when it handed out a new one (rotation). */
  validated(hostKey: string, session: CognitoSession, at: number, refreshToken?: string): void {
    if (refreshToken === undefined) {
      this.db.prepare("UPDATE cognito_sessions SET validated = ? WHERE key_hash = ?").run(at, session.keyHash);
      return;
    }
    const sealed = sealToken(hostKey, session.keyHash, session.username, session.sub, refreshToken);
    this.db.prepare("UPDATE cognito_sessions SET validated = ?, token = ? WHERE key_hash = ?").run(at, sealed, session.keyHash);
  }

  /** Rows whose host key is gone (deleted while an older version without the trigger ran). */
  sweepOrphans(): number {
    return this.db.prepare("DELETE FROM cognito_sessions WHERE key_hash NOT IN (SELECT key_hash FROM host_keys)").run().changes;
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM cognito_sessions").get() as { n: number }).n;
  }
}
