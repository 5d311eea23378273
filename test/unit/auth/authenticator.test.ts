import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Authenticator } from "../../../src/auth/authenticator.js";
import { HostKeyStore } from "../../../src/auth/hostkeys.js";
import type { UserSpec } from "../../../src/config.js";

let db: Database.Database;
let keys: HostKeyStore;
beforeEach(() => {
  db = new Database(":memory:");
  keys = new HostKeyStore(db);
});
afterEach(() => db.close());

const user = (name: string, secret: string): UserSpec => ({ name, secret, hashed: false, source: "test" });

describe("Authenticator", () => {
  it("issues one key per login (per device), each revocable on its own", async () => {
    const auth = new Authenticator([user("alice", "pw")], keys);
    const phone = await auth.login("alice", "pw", "ankidroid", "192.0.2.1");
    const laptop = await auth.login("alice", "pw", "anki,desktop", "192.0.2.2");
    if (!phone.ok || !laptop.ok) throw new Error("login failed");
    expect(phone.key).not.toBe(laptop.key);
    expect(auth.authenticate(phone.key, "ankidroid", "192.0.2.1")).toBe("alice");
    const sessions = keys.list("alice");
    expect(sessions.map((s) => s.clientVersion)).toEqual(["ankidroid", "anki,desktop"]);
    expect(sessions.map((s) => s.address)).toEqual(["192.0.2.1", "192.0.2.2"]);
    expect(JSON.stringify(sessions)).not.toContain(phone.key);
    expect(keys.revoke("alice", sessions[0]?.id.slice(0, 6))).toBe(1);
    expect(auth.authenticate(phone.key, "ankidroid", "192.0.2.1")).toBeUndefined();
    expect(auth.authenticate(laptop.key, "anki,desktop", "192.0.2.2")).toBe("alice");
    expect(keys.revoke("alice", "zz")).toBe(0);
  });

  it("refuses old keys after a password change, and prunes them", async () => {
    const auth = new Authenticator([user("alice", "old"), user("bob", "b")], keys);
    const r = await auth.login("alice", "old", "c", "a");
    const b = await auth.login("bob", "b", "c", "a");
    if (!r.ok || !b.ok) throw new Error("login failed");
    const changes = auth.setUsers([user("alice", "new"), user("bob", "b")]);
    expect(changes).toMatchObject({ changed: ["alice"], revokedKeys: 1 });
    expect(auth.authenticate(r.key, "c", "a")).toBeUndefined();
    expect(auth.authenticate(b.key, "c", "a")).toBe("bob");
    // Changing it back does not bring the old key back.
    auth.setUsers([user("alice", "old"), user("bob", "b")]);
    expect(auth.authenticate(r.key, "c", "a")).toBeUndefined();
  });

  it("keeps a removed user's keys refused, and usable again when the user is restored unchanged", async () => {
    const auth = new Authenticator([user("alice", "pw"), user("bob", "b")], keys);
    const r = await auth.login("bob", "b", "c", "a");
    if (!r.ok) throw new Error("login failed");
    auth.setUsers([user("alice", "pw")]);
    expect(auth.authenticate(r.key, "c", "a")).toBeUndefined();
    auth.setUsers([user("alice", "pw"), user("bob", "b")]);
    expect(auth.authenticate(r.key, "c", "a")).toBe("bob");
  });

  it("tells wrong password, unknown user and throttling apart, and throttles without checking", async () => {
    const auth = new Authenticator([user("alice", "pw")], keys, { throttle: { failuresPerAddress: 3, failuresPerUser: 100, windowMs: 60_000 } });
    expect(await auth.login("alice", "nope", "c", "203.0.113.1")).toEqual({ ok: false, reason: "wrong-password" });
    expect(await auth.login("mallory", "nope", "c", "203.0.113.1")).toEqual({ ok: false, reason: "unknown-user" });
    expect(await auth.login("alice", "nope", "c", "203.0.113.1")).toEqual({ ok: false, reason: "wrong-password" });
    const throttled = await auth.login("alice", "pw", "c", "203.0.113.1");
    expect(throttled).toMatchObject({ ok: false, reason: "throttled-address" });
    if (!throttled.ok) expect(throttled.retryAfterSeconds).toBeGreaterThan(0);
    expect(await auth.login("alice", "pw", "c", "203.0.113.2")).toMatchObject({ ok: true });
  });

  it("answers busy instead of queueing without end", async () => {
    const phc = "$pbkdf2-sha256$i=600000,l=32$tonuvYGpksNFQBlEmm3lxg$oQ1sqlkoU7Qn72xNoIq+NHyW3yOOER8EZ6mIJiv5GYc";
    const auth = new Authenticator([{ name: "alice", secret: phc, hashed: true, source: "t" }], keys, {
      maxConcurrentChecks: 1,
      maxQueuedChecks: 1,
      throttle: { failuresPerAddress: 0, failuresPerUser: 0, windowMs: 1000 },
    });
    const results = await Promise.all([1, 2, 3, 4].map((i) => auth.login("alice", i === 1 ? "pass" : "x", "c", `192.0.2.${i}`)));
    expect(results[0]).toMatchObject({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(results.slice(2)).toEqual([
      { ok: false, reason: "busy", retryAfterSeconds: 5 },
      { ok: false, reason: "busy", retryAfterSeconds: 5 },
    ]);
  });
});
