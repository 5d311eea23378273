// Refresh tokens at rest: sealed under the host key (which the database does
// not hold), bound to their row, and deleted with their host key.
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HostKeyStore, hashKey } from "../../../src/auth/hostkeys.js";
import { CognitoSessionStore, openToken, sealToken } from "../../../src/auth/cognito/sessions.js";

const TOKEN = "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.refresh-token-body";

let db: Database.Database;
let keys: HostKeyStore;
let sessions: CognitoSessionStore;

beforeEach(() => {
  db = new Database(":memory:");
  keys = new HostKeyStore(db);
  sessions = new CognitoSessionStore(db);
});
afterEach(() => db.close());

function issue(user = "alice"): string {
  const key = keys.issue(user, "cognito:abc", "cv", "192.0.2.1");
  sessions.add(key, { username: user, sub: `sub-${user}`, refreshToken: TOKEN, validated: 1000 });
  return key;
}

describe("Cognito sessions", () => {
  it("stores the refresh token sealed: nothing in the database reveals it or the host key", () => {
    const key = issue();
    const dump = JSON.stringify(db.prepare("SELECT * FROM cognito_sessions").all()) + JSON.stringify(db.prepare("SELECT * FROM host_keys").all());
    const raw = Buffer.concat((db.prepare("SELECT token FROM cognito_sessions").all() as { token: Buffer }[]).map((r) => r.token));
    expect(dump).not.toContain(key);
    expect(raw.includes(Buffer.from(TOKEN))).toBe(false);
    expect(raw.includes(Buffer.from("refresh-token-body"))).toBe(false);
    const session = sessions.get(hashKey(key));
    expect(session).toMatchObject({ username: "alice", sub: "sub-alice", validated: 1000 });
    expect(openToken(key, session!)).toBe(TOKEN);
  });

  it("only the host key it was sealed under opens it, and only for its own row", () => {
    const key = issue();
    const other = issue("bob");
    const session = sessions.get(hashKey(key))!;
    expect(openToken(other, session)).toBeUndefined();
    expect(openToken(key, { ...session, username: "mallory" })).toBeUndefined();
    expect(openToken(key, { ...session, sub: "sub-bob" })).toBeUndefined();
    expect(openToken(key, { ...session, keyHash: hashKey(other) })).toBeUndefined();
    const tampered = Buffer.from(session.sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(openToken(key, { ...session, sealed: tampered })).toBeUndefined();
    expect(openToken(key, { ...session, sealed: Buffer.alloc(3) })).toBeUndefined();
    // Each sealing uses a fresh IV.
    expect(sealToken(key, hashKey(key), "alice", "s", TOKEN).equals(sealToken(key, hashKey(key), "alice", "s", TOKEN))).toBe(false);
  });

  it("updates the validation time and a rotated token", () => {
    const key = issue();
    const session = sessions.get(hashKey(key))!;
    sessions.validated(key, session, 2000);
    expect(sessions.get(hashKey(key))?.validated).toBe(2000);
    sessions.validated(key, session, 3000, "new-refresh-token");
    const updated = sessions.get(hashKey(key))!;
    expect(updated.validated).toBe(3000);
    expect(openToken(key, updated)).toBe("new-refresh-token");
  });

  it("a session row goes when its host key goes, whoever deletes it (trigger)", () => {
    const a1 = issue("alice");
    issue("alice");
    const b = issue("bob");
    expect(sessions.count()).toBe(3);
    expect(keys.revokeKey(a1)).toBe(true);
    expect(sessions.get(hashKey(a1))).toBeUndefined();
    expect(sessions.count()).toBe(2);
    keys.revoke("alice"); // what `anki-sync-server user sessions revoke` does
    expect(sessions.count()).toBe(1);
    keys.prune(new Map([["bob", "local-fingerprint"]])); // bob became a local user
    expect(sessions.get(hashKey(b))).toBeUndefined();
    expect(sessions.count()).toBe(0);
  });

  it("sweeps rows left without a host key and survives being opened twice", () => {
    issue();
    db.exec("DROP TRIGGER cognito_sessions_follow_host_keys");
    db.exec("DELETE FROM host_keys");
    expect(sessions.count()).toBe(1);
    const again = new CognitoSessionStore(db);
    expect(again.sweepOrphans()).toBe(1);
    expect(again.count()).toBe(0);
  });
});
