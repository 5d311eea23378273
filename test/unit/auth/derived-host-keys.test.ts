// --accept-derived-host-keys: the official server's deterministic key,
// sha1("user:password"), accepted only when switched on, only for users an
// official server could have had, and gone with the password.
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Authenticator, derivedHostKey } from "../../../src/auth/authenticator.js";
import { HostKeyStore } from "../../../src/auth/hostkeys.js";
import type { UserSpec } from "../../../src/config.js";

let db: Database.Database;
let keys: HostKeyStore;
beforeEach(() => {
  db = new Database(":memory:");
  keys = new HostKeyStore(db);
});
afterEach(() => db.close());

const plain = (name: string, secret: string): UserSpec => ({ name, secret, hashed: false, source: "SYNC_USER1" });

describe("derived host keys", () => {
  it("match the official server's test vector", () => {
    expect(derivedHostKey("user", "pass")).toBe("b2619aa1529dfdc4248e6edbf3c1b2a2b014cf6d");
  });

  it("are refused unless the switch is on", async () => {
    const off = new Authenticator([plain("user", "pass")], keys);
    expect(off.authenticate(derivedHostKey("user", "pass"), "c", "a")).toBeUndefined();
    expect(await off.authorize(derivedHostKey("user", "pass"), "c", "a")).toMatchObject({ ok: false, status: 403 });
  });

  it("are accepted with the switch, for that user only, and die with a password change", async () => {
    const auth = new Authenticator([plain("user", "pass"), plain("bob", "b")], keys, { acceptDerivedHostKeys: true });
    expect(auth.authenticate(derivedHostKey("user", "pass"), "c", "a")).toBe("user");
    expect(await auth.authorize(derivedHostKey("bob", "b"), "c", "a")).toEqual({ ok: true, user: "bob" });
    expect(auth.authenticate(derivedHostKey("user", "wrong"), "c", "a")).toBeUndefined();
    // a login answers that key too, as the official server does (Anki's own rslib tests expect it)
    const login = await auth.login("user", "pass", "c", "a");
    expect(login.ok && login.key).toBe(derivedHostKey("user", "pass"));
    expect(keys.list("user")).toEqual([]);
    // without the switch a login gets a random, revocable key
    const plainLogin = await new Authenticator([plain("user", "pass")], keys).login("user", "pass", "c", "a");
    expect(plainLogin.ok && plainLogin.key).not.toBe(derivedHostKey("user", "pass"));
    expect(keys.list("user")).toHaveLength(1);
    auth.setUsers([plain("user", "new"), plain("bob", "b")]);
    expect(auth.authenticate(derivedHostKey("user", "pass"), "c", "a")).toBeUndefined();
    expect(auth.authenticate(derivedHostKey("user", "new"), "c", "a")).toBe("user");
  });

  it("cover PBKDF2 hashes from PASSWORDS_HASHED (the official server hashes the PHC string) but not our argon2id store", () => {
    const pbkdf2 = "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$" + Buffer.alloc(32, 1).toString("base64").replace(/=+$/, "");
    const argon = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$" + Buffer.alloc(32, 2).toString("base64").replace(/=+$/, "");
    const auth = new Authenticator(
      [
        { name: "old", secret: pbkdf2, hashed: true, source: "SYNC_USER1" },
        { name: "new", secret: argon, hashed: true, source: "user store" },
      ],
      keys,
      { acceptDerivedHostKeys: true },
    );
    expect(auth.authenticate(derivedHostKey("old", pbkdf2), "c", "a")).toBe("old");
    expect(auth.authenticate(derivedHostKey("new", argon), "c", "a")).toBeUndefined();
  });
});
