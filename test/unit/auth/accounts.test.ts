import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Accounts } from "../../../src/auth/accounts.js";
import { StartupError } from "../../../src/auth/authenticator.js";
import { HostKeyStore } from "../../../src/auth/hostkeys.js";
import { hashPasswordArgon2id } from "../../../src/auth/passwords.js";
import { openServerDb } from "../../../src/auth/server-db.js";
import { UserStore } from "../../../src/auth/user-store.js";
import type { UserFileSpec, UserSpec } from "../../../src/config.js";

let dir: string;
let base: string;
const open: Database.Database[] = [];
const started: Accounts[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "accounts-test-"));
  base = join(dir, "data");
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(() => {
  for (const a of started.splice(0)) a.stop();
  for (const db of open.splice(0)) db.close();
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function db(): Database.Database {
  const d = openServerDb(base);
  open.push(d);
  return d;
}

function accounts(envUsers: UserSpec[] = [], userFiles: UserFileSpec[] = []): Accounts {
  const d = db();
  const a = new Accounts({ db: d, hostKeys: new HostKeyStore(d), envUsers, userFiles, pollMs: 20 });
  started.push(a);
  return a;
}

const env = (name: string, secret: string, i = 1): UserSpec => ({ name, secret, hashed: false, source: `SYNC_USER${i}` });

function pwFile(name: string, content: string): UserFileSpec {
  const path = join(dir, `${name}.pw`);
  writeFileSync(path, content);
  return { name, path, origin: "--user-file" };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("Accounts", () => {
  it("combines SYNC_USERn, password files and the user store", async () => {
    const cli = new UserStore(db());
    cli.add("carol", await hashPasswordArgon2id("carolpass"));
    const a = accounts([env("alice", "alicepass")], [pwFile("bob", "bobpass\n")]);
    expect(a.auth.userSources()).toEqual([
      { name: "alice", source: "SYNC_USER1" },
      { name: "bob", source: expect.stringContaining("bob.pw") },
      { name: "carol", source: "user store" },
    ]);
    for (const [u, p] of [["alice", "alicepass"], ["bob", "bobpass"], ["carol", "carolpass"]] as const) {
      expect(await a.auth.login(u, p, "test", "127.0.0.1")).toMatchObject({ ok: true, user: u });
    }
  });

  it("refuses to start on a bad password file or a name defined twice", () => {
    expect(() => accounts([], [pwFile("bob", "")])).toThrow(StartupError);
    expect(() => accounts([], [pwFile("bob", "")])).toThrow(/bob\.pw.*is empty/);
    expect(() => accounts([env("bob", "x")], [pwFile("bob", "y")])).toThrow(/defined twice/);
    expect(() => accounts([env("a/b", "x")])).toThrow(/SYNC_USER1: user name contains a slash/);
  });

  it("lets declared users win over a store entry with the same name", async () => {
    new UserStore(db()).add("alice", await hashPasswordArgon2id("storepass"));
    const a = accounts([env("alice", "envpass")]);
    expect(await a.auth.login("alice", "envpass", "t", "127.0.0.1")).toMatchObject({ ok: true });
    expect(await a.auth.login("alice", "storepass", "t", "127.0.0.2")).toMatchObject({ ok: false });
  });

  it("picks up CLI changes by itself and acknowledges them", async () => {
    const a = accounts([env("alice", "alicepass")]);
    a.startWatching(20);
    const cli = new UserStore(db());
    expect(cli.server()?.pid).toBe(process.pid);
    const generation = cli.add("dave", await hashPasswordArgon2id("davepass"));
    await until(() => (cli.lastReload()?.generation ?? 0) >= generation);
    expect(cli.lastReload()).toMatchObject({ ok: true, pid: process.pid });
    expect(cli.lastReload()?.users.map((u) => u.name)).toEqual(["alice", "dave"]);
    expect(await a.auth.login("dave", "davepass", "t", "127.0.0.1")).toMatchObject({ ok: true });
    const g2 = cli.remove("dave");
    await until(() => (cli.lastReload()?.generation ?? 0) >= g2);
    expect(a.auth.userNames()).toEqual(["alice"]);
    a.stop();
    expect(cli.server()).toBeUndefined();
  });

  it("re-reads password files when they change, and keeps the old users if one breaks", async () => {
    const bob = pwFile("bob", "first\n");
    const a = accounts([], [bob]);
    a.startWatching(20);
    const cli = new UserStore(db());
    writeFileSync(bob.path, "");
    await until(() => cli.lastReload()?.ok === false);
    expect(cli.lastReload()?.error).toMatch(/bob\.pw.*is empty/);
    expect(await a.auth.login("bob", "first", "t", "127.0.0.1")).toMatchObject({ ok: true });
    writeFileSync(bob.path, "second\n");
    await until(() => cli.lastReload()?.ok === true);
    expect(await a.auth.login("bob", "second", "t", "127.0.0.1")).toMatchObject({ ok: true });
    expect(await a.auth.login("bob", "first", "t", "127.0.0.1")).toMatchObject({ ok: false, reason: "wrong-password" });
  });

  it("reloads on demand (SIGHUP)", async () => {
    const bob = pwFile("bob", "first");
    const a = accounts([], [bob]);
    writeFileSync(bob.path, "second");
    expect(a.reload("SIGHUP")).toBe(true);
    expect(await a.auth.login("bob", "second", "t", "127.0.0.1")).toMatchObject({ ok: true });
  });
});
