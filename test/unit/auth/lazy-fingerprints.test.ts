// Plain passwords (SYNC_USERn, password files) are fingerprinted with scrypt
// when the user first logs in or first uses a host key, not at start-up. What
// an admin would check: the server starts without paying for every user,
// logins work, a password changed while the server was stopped still kills the
// devices' old keys, wrong passwords and unknown names are still refused, and
// an unknown name still costs an argon2id check.
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Authenticator } from "../../../src/auth/authenticator.js";
import { HostKeyStore } from "../../../src/auth/hostkeys.js";
import { credentialFingerprint, hashPasswordArgon2id } from "../../../src/auth/passwords.js";
import type { UserSpec } from "../../../src/config.js";

let db: Database.Database;
let keys: HostKeyStore;
let stderr: string;
beforeEach(() => {
  // One database shared by several Authenticators stands for the server database across restarts.
  db = new Database(":memory:");
  keys = new HostKeyStore(db);
  stderr = "";
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  db.close();
});

const OLD = "old-password-7Qx";
const NEW = "new-password-9Zk";
const plain = (name: string, secret: string): UserSpec => ({ name, secret, hashed: false, source: `SYNC_USER for ${name}` });

async function loginKey(auth: Authenticator, name: string, password: string): Promise<string> {
  const result = await auth.login(name, password, "anki,test", "192.0.2.1");
  if (!result.ok) throw new Error(`login of ${name} failed: ${result.reason}`);
  return result.key;
}

describe("fingerprints of plain passwords, computed on first need", () => {
  it("start-up does not pay one scrypt per user", () => {
    const t0 = performance.now();
    credentialFingerprint("someone", "a password", false);
    const oneScrypt = performance.now() - t0;
    const users = Array.from({ length: 40 }, (_, i) => plain(`user${i}`, `password${i}`));
    const t1 = performance.now();
    const auth = new Authenticator(users, keys);
    const startup = performance.now() - t1;
    expect(auth.userNames()).toHaveLength(40);
    // Eagerly it would cost 40 scrypts; allow a quarter of that for noise.
    expect(startup).toBeLessThan(10 * oneScrypt);
  });

  it("lets the first login of a freshly started server in, and its key works after a restart", async () => {
    const key = await loginKey(new Authenticator([plain("alice", "pw")], keys), "alice", "pw");
    const restarted = new Authenticator([plain("alice", "pw")], keys);
    // The very first thing the restarted server sees is the device's key.
    expect(restarted.authenticate(key, "anki,test", "192.0.2.1")).toBe("alice");
    expect(await restarted.authorize(key, "anki,test", "192.0.2.1")).toEqual({ ok: true, user: "alice" });
    expect(keys.list("alice")).toHaveLength(1);
  });

  it("revokes keys issued under a password changed while the server was stopped, on the first key check", async () => {
    const first = new Authenticator([plain("alice", OLD), plain("bob", "b")], keys);
    const aliceKey = await loginKey(first, "alice", OLD);
    const bobKey = await loginKey(first, "bob", "b");
    const restarted = new Authenticator([plain("alice", NEW), plain("bob", "b")], keys);
    expect(restarted.authenticate(aliceKey, "anki,test", "192.0.2.1")).toBeUndefined();
    // Deleted for good, not merely refused: changing the password back does not revive it.
    expect(keys.list("alice")).toHaveLength(0);
    expect(stderr).toContain("host keys revoked");
    expect(stderr).toContain("alice");
    expect(stderr).not.toContain(NEW);
    expect(stderr).not.toContain(OLD);
    expect(new Authenticator([plain("alice", OLD), plain("bob", "b")], keys).authenticate(aliceKey, "anki,test", "192.0.2.1")).toBeUndefined();
    // Bob's password did not change: his device keeps syncing.
    expect(restarted.authenticate(bobKey, "anki,test", "192.0.2.1")).toBe("bob");
    expect(keys.list("bob")).toHaveLength(1);
  });

  it("revokes them as well when the first contact is a login with the new password", async () => {
    const oldKey = await loginKey(new Authenticator([plain("alice", "old")], keys), "alice", "old");
    const restarted = new Authenticator([plain("alice", "new")], keys);
    const newKey = await loginKey(restarted, "alice", "new");
    expect(keys.list("alice")).toHaveLength(1);
    expect(restarted.authenticate(newKey, "anki,test", "192.0.2.1")).toBe("alice");
    expect(await restarted.authorize(oldKey, "anki,test", "192.0.2.1")).toMatchObject({ ok: false, status: 403 });
  });

  it("still refuses the old password, a wrong one and an unknown name", async () => {
    const auth = new Authenticator([plain("alice", "new")], keys, { throttle: { failuresPerAddress: 100, failuresPerUser: 100, windowMs: 60_000 } });
    expect(await auth.login("alice", "old", "c", "192.0.2.1")).toEqual({ ok: false, reason: "wrong-password" });
    expect(await auth.login("alice", "", "c", "192.0.2.1")).toEqual({ ok: false, reason: "wrong-password" });
    expect(await auth.login("mallory", "new", "c", "192.0.2.1")).toEqual({ ok: false, reason: "unknown-user" });
    expect(keys.list()).toHaveLength(0);
  });

  it("makes an unknown name cost an argon2id check, as a real user's wrong password does", async () => {
    const phc = await hashPasswordArgon2id("right");
    const auth = new Authenticator([{ name: "carol", secret: phc, hashed: true, source: "user store" }], keys, {
      throttle: { failuresPerAddress: 100, failuresPerUser: 100, windowMs: 60_000 },
    });
    // The first failure loads argon2; time the ones after it.
    expect(await auth.login("nobody", "x", "c", "192.0.2.1")).toEqual({ ok: false, reason: "unknown-user" });
    const time = async (name: string): Promise<number> => {
      const t0 = performance.now();
      expect((await auth.login(name, "wrong", "c", "192.0.2.1")).ok).toBe(false);
      return performance.now() - t0;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const unknown: number[] = [];
    const known: number[] = [];
    for (let i = 0; i < 3; i++) {
      unknown.push(await time("nobody"));
      known.push(await time("carol"));
    }
    // A shortcut would answer in well under a millisecond; an argon2id check takes tens.
    expect(median(unknown)).toBeGreaterThan(median(known) / 3);
  });
});
