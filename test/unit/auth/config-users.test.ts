import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_LOGIN_SETTINGS, loadConfig, userFilesFrom, usersFromEnv } from "../../../src/config.js";

describe("users in the configuration", () => {
  it("reads SYNC_USER1..N up to the first gap, with PASSWORDS_HASHED", () => {
    const users = usersFromEnv({ SYNC_USER1: "a:x:y", SYNC_USER2: "b:z", SYNC_USER4: "d:w", PASSWORDS_HASHED: "" });
    expect(users.map((u) => [u.name, u.secret])).toEqual([
      ["a", "x:y"],
      ["b", "z"],
    ]);
    expect(users.every((u) => !u.hashed)).toBe(true);
    expect(usersFromEnv({ SYNC_USER1: "a:x", PASSWORDS_HASHED: "1" })[0]?.hashed).toBe(true);
  });

  it("takes password files from SYNC_USER_FILES, relative paths under $CREDENTIALS_DIRECTORY", () => {
    const files = userFilesFrom({}, { SYNC_USER_FILES: " alice=alice-pw\n bob=/etc/anki/bob ", CREDENTIALS_DIRECTORY: "/run/credentials/anki-sync.service" });
    expect(files).toEqual([
      { name: "alice", path: "/run/credentials/anki-sync.service/alice-pw", origin: "SYNC_USER_FILES" },
      { name: "bob", path: "/etc/anki/bob", origin: "SYNC_USER_FILES" },
    ]);
  });

  it("prefers --user-file over SYNC_USER_FILES; relative paths without credentials dir are cwd-relative", () => {
    const files = userFilesFrom({ userFile: ["carol=secrets/carol=x"] }, { SYNC_USER_FILES: "alice=/a" });
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ name: "carol", origin: "--user-file" });
    expect(files[0]?.path).toBe(`${process.cwd()}/secrets/carol=x`);
  });

  it.each(["alice", "=path", "alice=", "../x=/p", ".x=/p"])("refuses the entry %j clearly", (entry) => {
    expect(() => userFilesFrom({ userFile: [entry] }, {})).toThrow(ConfigError);
  });

  it("has login limits with defaults and overrides", () => {
    expect(loadConfig({}, {}).login).toEqual(DEFAULT_LOGIN_SETTINGS);
    const c = loadConfig({ loginFailuresPerAddress: "5" }, { SYNC_LOGIN_FAILURES_PER_USER: "0", SYNC_LOGIN_FAILURE_WINDOW: "60", SYNC_MAX_CONCURRENT_LOGINS: "4" });
    expect(c.login).toEqual({ failuresPerAddress: 5, failuresPerUser: 0, windowMs: 60_000, maxConcurrentChecks: 4 });
    expect(() => loadConfig({}, { SYNC_MAX_CONCURRENT_LOGINS: "0" })).toThrow(ConfigError);
    expect(() => loadConfig({}, { SYNC_LOGIN_FAILURES_PER_ADDRESS: "ten" })).toThrow(ConfigError);
  });

  it("configures trusted proxies and the address header", () => {
    expect(loadConfig({}, {})).toMatchObject({ trustedProxies: [], ipHeader: null });
    expect(loadConfig({}, { SYNC_TRUSTED_PROXIES: "10.0.0.0/8 ::1" })).toMatchObject({ trustedProxies: ["10.0.0.0/8", "::1"], ipHeader: "x-forwarded-for" });
    expect(loadConfig({ trustedProxy: ["192.168.1.1", "fd00::/8"], ipHeader: "XRealIp" }, {})).toMatchObject({
      trustedProxies: ["192.168.1.1", "fd00::/8"],
      ipHeader: "x-real-ip",
    });
    // The official variable alone: believed from local proxies only.
    expect(loadConfig({}, { SYNC_IP_HEADER: "RightmostXForwardedFor" })).toMatchObject({ trustedProxies: ["127.0.0.0/8", "::1"] });
    expect(() => loadConfig({}, { SYNC_TRUSTED_PROXIES: "proxy.lan" })).toThrow(ConfigError);
    expect(() => loadConfig({}, { SYNC_IP_HEADER: "Whatever" })).toThrow(ConfigError);
  });
});
