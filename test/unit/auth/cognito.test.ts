// The Cognito login backend against a fake Cognito on loopback, through the
// real AWS SDK client (endpoint override, no AWS credentials): logins with and
// without a client secret, refusals and challenges, re-validation of host keys
// at an interval, outages with a grace period, folder mapping, and logs.
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Authenticator, type KeyVerdict, type LoginResult } from "../../../src/auth/authenticator.js";
import { HostKeyStore } from "../../../src/auth/hostkeys.js";
import { classifyError, loadCognitoApi, secretHash } from "../../../src/auth/cognito/api.js";
import { type CognitoBackend, createCognitoBackend } from "../../../src/auth/cognito/index.js";
import { CognitoSessionStore } from "../../../src/auth/cognito/sessions.js";
import type { CognitoSettings } from "../../../src/auth/cognito/settings.js";
import type { UserSpec } from "../../../src/config.js";
import { FakeCognito } from "./cognito-fake.js";

const INTERVAL = 60_000;
const GRACE = 600_000;

let fake: FakeCognito;
let db: Database.Database;
let hostKeys: HostKeyStore;
let clock: number;
let logged: string[];

beforeEach(() => {
  db = new Database(":memory:");
  hostKeys = new HostKeyStore(db);
  clock = 1_700_000_000_000;
  logged = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    logged.push(String(chunk));
    return true;
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await fake?.stop();
  db.close();
});

function settings(extra: Partial<CognitoSettings> = {}): CognitoSettings {
  return {
    userPoolId: "us-east-1_TestPool",
    clientId: fake.clientId,
    region: "us-east-1",
    endpoint: fake.url,
    userFolder: "username",
    revalidateMs: INTERVAL,
    graceMs: GRACE,
    ...extra,
  };
}

async function setup(
  options: { secret?: string; settings?: Partial<CognitoSettings>; local?: UserSpec[] } = {},
): Promise<{ auth: Authenticator; backend: CognitoBackend }> {
  fake ??= await new FakeCognito({ clientSecret: options.secret }).start();
  let clientSecretFile: string | undefined;
  let dir: string | undefined;
  if (options.secret !== undefined) {
    dir = mkdtempSync(join(tmpdir(), "cognito-secret-"));
    clientSecretFile = join(dir, "secret");
    writeFileSync(clientSecretFile, `${options.secret}\n`);
  }
  const backend = await createCognitoBackend(settings({ clientSecretFile, ...options.settings }), {
    db,
    hostKeys,
    options: { now: () => clock, retryMs: 5_000 },
  });
  if (dir) rmSync(dir, { recursive: true, force: true });
  const auth = new Authenticator(options.local ?? [], hostKeys, { external: backend });
  return { auth, backend };
}

async function login(auth: Authenticator, name: string, password: string, address = "192.0.2.1"): Promise<LoginResult> {
  return auth.login(name, password, "anki,26.9.3 (test),lin:", address);
}

async function loggedIn(auth: Authenticator, name: string, password: string): Promise<string> {
  const result = await login(auth, name, password);
  if (!result.ok) throw new Error(`login failed: ${JSON.stringify(result)}`);
  return result.key;
}

const use = (auth: Authenticator, key: string): Promise<KeyVerdict> => auth.authorize(key, "anki,26.9.3 (test),lin:", "192.0.2.1");

describe("Cognito login", () => {
  beforeEach(() => {
    fake = undefined as unknown as FakeCognito;
  });

  it("logs a user in without a client secret: no SECRET_HASH, key works", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "Correct-Horse-1");
    const key = await loggedIn(auth, "alice", "Correct-Horse-1");
    expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
    const [call] = fake.callsOf("InitiateAuth");
    expect(call?.body).toMatchObject({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: fake.clientId, AuthParameters: { USERNAME: "alice", PASSWORD: "Correct-Horse-1" } });
    expect((call?.body.AuthParameters as Record<string, string>).SECRET_HASH).toBeUndefined();
    expect(fake.callsOf("GetUser")).toHaveLength(1);
    expect(hostKeys.list("alice")).toHaveLength(1);
    expect(auth.externalUserNames()).toEqual(["alice"]);
  });

  it("sends SECRET_HASH = base64(HMAC-SHA256(secret, username + clientId)) when the client has a secret", async () => {
    const secret = "1abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN";
    const { auth } = await setup({ secret });
    fake.addUser("alice", "pw-alice-1");
    await loggedIn(auth, "alice", "pw-alice-1");
    const expected = createHmac("sha256", secret).update(`alice${fake.clientId}`).digest("base64");
    expect(secretHash(secret, "alice", fake.clientId)).toBe(expected);
    expect((fake.callsOf("InitiateAuth")[0]?.body.AuthParameters as Record<string, string>).SECRET_HASH).toBe(expected);
  });

  it("a wrong client secret is a server configuration problem (500), not the user's", async () => {
    fake = await new FakeCognito({ clientSecret: "the-real-secret" }).start();
    fake.addUser("alice", "pw-alice-1");
    const { auth } = await setup({ secret: "not-the-secret" });
    const result = await login(auth, "alice", "pw-alice-1");
    expect(result).toMatchObject({ ok: false, reason: "refused", status: 500 });
    expect(result.ok === false && result.reason === "refused" && result.detail).toMatch(/SECRET_HASH.*COGNITO_CLIENT_SECRET_FILE/);
  });

  it("refuses a wrong password and an unknown user like local ones (403 reasons), counted by the throttle", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    expect(await login(auth, "alice", "nope")).toMatchObject({ ok: false, reason: "wrong-password", detail: expect.stringMatching(/wrong user name or password/) });
    expect(await login(auth, "mallory", "nope")).toMatchObject({ ok: false, reason: "unknown-user" });
    // Names Cognito cannot have are refused without asking it.
    const before = fake.calls.length;
    expect(await login(auth, "has space", "x")).toMatchObject({ ok: false, reason: "unknown-user" });
    expect(await login(auth, "alice", "")).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(fake.calls.length).toBe(before);
    expect(hostKeys.list()).toHaveLength(0);
  });

  it("is throttled by the shared login throttle", async () => {
    fake = await new FakeCognito().start();
    fake.addUser("alice", "pw-alice-1");
    const backend = await createCognitoBackend(settings(), { db, hostKeys, options: { now: () => clock } });
    const auth = new Authenticator([], hostKeys, { external: backend, throttle: { failuresPerAddress: 2, failuresPerUser: 100, windowMs: 60_000 } });
    await login(auth, "alice", "bad1");
    await login(auth, "alice", "bad2");
    const calls = fake.calls.length;
    expect(await login(auth, "alice", "pw-alice-1")).toMatchObject({ ok: false, reason: "throttled-address" });
    expect(fake.calls.length).toBe(calls);
  });

  it.each([
    ["NEW_PASSWORD_REQUIRED", { status: "FORCE_CHANGE_PASSWORD" as const }, /new password/],
    ["SOFTWARE_TOKEN_MFA", { challenge: "SOFTWARE_TOKEN_MFA" }, /multi-factor/],
    ["SMS_MFA", { challenge: "SMS_MFA" }, /multi-factor/],
    ["MFA_SETUP", { challenge: "MFA_SETUP" }, /set up multi-factor/],
    ["CUSTOM_CHALLENGE", { challenge: "CUSTOM_CHALLENGE" }, /custom authentication/],
    ["unconfirmed account", { status: "UNCONFIRMED" as const }, /not confirmed.*confirm/],
    ["password reset", { status: "RESET_REQUIRED" as const }, /reset the password/],
  ])("%s: refused with 428 and what the user must do", async (_name, extra, advice) => {
    const { auth } = await setup();
    fake.addUser("carol", "pw-carol-1", extra);
    const result = await login(auth, "carol", "pw-carol-1");
    expect(result).toMatchObject({ ok: false, reason: "refused", status: 428 });
    expect(result.ok === false && result.reason === "refused" && result.detail).toMatch(advice);
    expect(hostKeys.list()).toHaveLength(0);
  });

  it("a disabled user's key dies at the first use after the re-validation interval, not before", async () => {
    const { auth } = await setup();
    const alice = fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    alice.enabled = false;
    clock += INTERVAL - 1;
    expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
    expect(fake.callsOf("InitiateAuth")).toHaveLength(1); // no refresh within the interval
    clock += 1;
    expect(await use(auth, key)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/disabled/) });
    // Revoked for good, session row gone with it; the login is refused too.
    expect(hostKeys.list()).toHaveLength(0);
    expect(new CognitoSessionStore(db).count()).toBe(0);
    expect(await use(auth, key)).toMatchObject({ ok: false, status: 403 });
    expect(await login(auth, "alice", "pw-alice-1")).toMatchObject({ ok: false, reason: "unknown-user", detail: expect.stringMatching(/disabled/) });
  });

  it("an enabled user is re-validated (refresh + GetUser) once per interval and keeps syncing", async () => {
    const secret = "client-secret-xyz";
    const { auth } = await setup({ secret });
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    for (let i = 0; i < 3; i++) {
      clock += INTERVAL;
      expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
      expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
    }
    const refreshes = fake.callsOf("InitiateAuth").filter((c) => c.body.AuthFlow === "REFRESH_TOKEN_AUTH");
    expect(refreshes).toHaveLength(3);
    expect((refreshes[0]?.body.AuthParameters as Record<string, string>).SECRET_HASH).toBe(secretHash(secret, "alice", fake.clientId));
  });

  it("concurrent requests due for re-validation share one Cognito round trip", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    clock += INTERVAL;
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => use(auth, key)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fake.callsOf("InitiateAuth").filter((c) => c.body.AuthFlow === "REFRESH_TOKEN_AUTH")).toHaveLength(1);
  });

  it("a signed-out (revoked refresh token) or deleted user loses the key after the interval", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    fake.addUser("bob", "pw-bob-1");
    const a = await loggedIn(auth, "alice", "pw-alice-1");
    const b = await loggedIn(auth, "bob", "pw-bob-1");
    fake.signOut("alice");
    fake.users.delete("bob");
    clock += INTERVAL;
    expect(await use(auth, a)).toMatchObject({ ok: false, status: 403 });
    expect(await use(auth, b)).toMatchObject({ ok: false, status: 403 });
    expect(hostKeys.list()).toHaveLength(0);
  });

  it("a user deleted and re-created under the same name is another user (sub changed)", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    // Same name and password, new sub; the fake keeps the old refresh token's owner name.
    fake.addUser("alice", "pw-alice-1");
    clock += INTERVAL;
    expect(await use(auth, key)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/another sub/) });
  });

  it("stores a rotated refresh token and uses it next time", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    fake.rotateRefreshTokens = true;
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    clock += INTERVAL;
    expect(await use(auth, key)).toMatchObject({ ok: true });
    clock += INTERVAL;
    // The first refresh token was consumed: only the stored new one works.
    expect(await use(auth, key)).toMatchObject({ ok: true });
  });

  it("Cognito down: new logins fail with 503; keys keep working within the grace period, then 503; back up: fine again", async () => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    fake.mode = "down";

    const refused = await login(auth, "alice", "pw-alice-1");
    expect(refused).toMatchObject({ ok: false, reason: "refused", status: 503, retryAfterSeconds: 60 });
    expect(refused.ok === false && refused.reason === "refused" && refused.detail).toMatch(/Cognito unavailable, new logins fail until it answers: Cognito could not be reached \(ECONNRESET\)/);
    // The login was not the user's fault: not counted.
    expect(auth.throttle.trackedKeys()).toEqual({ addresses: 0, users: 0 });

    clock += INTERVAL;
    expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
    expect(logged.join("")).toMatch(/warn "Cognito re-validation failed; host key accepted within the grace period" user=alice/);
    // Within the retry pause, Cognito is not asked again.
    const calls = fake.calls.length;
    clock += 1_000;
    expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
    expect(fake.calls.length).toBe(calls);

    clock += GRACE; // past the grace period since the last validation
    const late = await use(auth, key);
    expect(late).toMatchObject({ ok: false, status: 503, retryAfterSeconds: 60, reason: expect.stringMatching(/grace period/) });
    expect(hostKeys.list("alice")).toHaveLength(1); // not revoked: it works again once Cognito answers

    fake.mode = "up";
    clock += 5_000;
    expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
    expect(logged.join("")).toMatch(/info "Cognito answers again"/);
  });

  it.each([
    ["throttling", "throttle" as const, /TooManyRequestsException/],
    ["5xx", "error" as const, /InternalErrorException/],
  ])("Cognito %s counts as unavailable, not as a refusal", async (_n, mode, code) => {
    const { auth } = await setup();
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    fake.mode = mode;
    expect(await login(auth, "alice", "pw-alice-1")).toMatchObject({ ok: false, reason: "refused", status: 503, detail: expect.stringMatching(code) });
    clock += INTERVAL;
    expect(await use(auth, key)).toEqual({ ok: true, user: "alice" });
  });

  it("gives up on a Cognito that does not answer at the call deadline", async () => {
    fake = await new FakeCognito().start();
    fake.mode = "hang";
    const api = await loadCognitoApi(settings(), undefined, 300);
    const started = Date.now();
    await expect(api.passwordAuth("alice", "pw")).rejects.toMatchObject({ kind: "unavailable", code: "Timeout" });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("a hanging Cognito does not hold up local users' logins", async () => {
    const local: UserSpec[] = [{ name: "admin", secret: "local-pw", hashed: false, source: "SYNC_USER1" }];
    const { auth } = await setup({ local });
    fake.mode = "hang";
    const hanging = Array.from({ length: 12 }, (_, i) => login(auth, `user${i}`, "pw", `192.0.2.${i + 10}`));
    const started = Date.now();
    expect(await login(auth, "admin", "local-pw")).toMatchObject({ ok: true, user: "admin" });
    expect(Date.now() - started).toBeLessThan(2_000);
    await fake.stop(); // cut the hanging calls
    expect((await Promise.all(hanging)).every((r) => !r.ok)).toBe(true);
  });

  it("classifies errors by name, never by keeping their message", () => {
    const err = (name: string, message: string, extra: object = {}) => Object.assign(new Error(message), { name, ...extra });
    expect(classifyError(err("NotAuthorizedException", "Incorrect username or password."))).toMatchObject({ kind: "rejected", unknownUser: false });
    expect(classifyError(err("NotAuthorizedException", "User is disabled."))).toMatchObject({ kind: "rejected", unknownUser: true });
    expect(classifyError(err("NotAuthorizedException", "Unable to verify secret hash for client abc"))).toMatchObject({ kind: "config" });
    expect(classifyError(err("NotAuthorizedException", "Password attempts exceeded"))).toMatchObject({ kind: "locked" });
    expect(classifyError(err("InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client"))).toMatchObject({ kind: "config", why: expect.stringMatching(/ALLOW_USER_PASSWORD_AUTH/) });
    expect(classifyError(err("ResourceNotFoundException", "User pool client x does not exist."))).toMatchObject({ kind: "config" });
    expect(classifyError(err("Error", "connect ECONNREFUSED", { code: "ECONNREFUSED" }))).toMatchObject({ kind: "unavailable", code: "ECONNREFUSED" });
    expect(classifyError(err("SomethingNew", "x", { $fault: "server" }))).toMatchObject({ kind: "unavailable" });
    const leaky = classifyError(err("NotAuthorizedException", "Invalid Refresh Token RT-secret-value"));
    expect(leaky).toMatchObject({ kind: "rejected" });
    expect(`${leaky.message} ${leaky.why} ${leaky.code}`).not.toContain("RT-secret-value");
  });

  it("Cognito unreachable from the start: the grace period counts from the login", async () => {
    const { auth } = await setup({ settings: { graceMs: 0 } });
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(auth, "alice", "pw-alice-1");
    await fake.stop();
    clock += INTERVAL;
    expect(await use(auth, key)).toMatchObject({ ok: false, status: 503, reason: expect.stringMatching(/ECONNREFUSED/) });
  });

  it("maps users to folders by Cognito's user name (aliases too) or by sub", async () => {
    const { auth } = await setup();
    const alice = fake.addUser("alice", "pw-alice-1", { email: "alice@example.org" });
    expect(await login(auth, "alice@example.org", "pw-alice-1")).toMatchObject({ ok: true, user: "alice" });
    await fake.stop();

    fake = await new FakeCognito().start();
    fake.users.set("alice", alice);
    const bySub = await setup({ settings: { userFolder: "sub" } });
    expect(await login(bySub.auth, "alice@example.org", "pw-alice-1")).toMatchObject({ ok: true, user: alice.sub });
    expect(await login(bySub.auth, "alice", "pw-alice-1")).toMatchObject({ ok: true, user: alice.sub });
  });

  it("keys issued under another folder mapping, pool or app client stop working", async () => {
    const first = await setup();
    fake.addUser("alice", "pw-alice-1");
    const key = await loggedIn(first.auth, "alice", "pw-alice-1");
    const second = await setup({ settings: { userFolder: "sub" } });
    expect(await use(second.auth, key)).toMatchObject({ ok: false, status: 403 });
    expect(hostKeys.list()).toHaveLength(0);
  });

  it.each([["../escape"], ["a/b"], [".hidden"], ["c:d"], ["back\\slash"], ["tab\there"], ["x".repeat(201)], [" padded"]])(
    "refuses the hostile Cognito user name %j as a folder (500, no key)",
    async (hostile) => {
      const { auth } = await setup();
      // Cognito's own name may be anything it allows; the user logs in by an alias.
      fake.addUser(hostile, "pw-h-1", { email: "h@example.org" });
      const result = await login(auth, "h@example.org", "pw-h-1");
      expect(result).toMatchObject({ ok: false, reason: "refused", status: 500 });
      expect(result.ok === false && result.reason === "refused" && result.detail).toMatch(/cannot name a data folder.*COGNITO_USER_FOLDER=sub/);
      expect(hostKeys.list()).toHaveLength(0);
      expect(auth.externalUserNames()).toEqual([]);
    },
  );

  it("local users keep their names: their logins never reach Cognito, and Cognito identities cannot take their folders", async () => {
    const local: UserSpec[] = [{ name: "admin", secret: "local-pw", hashed: false, source: "SYNC_USER1" }];
    const { auth } = await setup({ local });
    fake.addUser("admin", "cognito-pw");
    fake.addUser("Admin", "cognito-pw-2", { email: "a@example.org" });
    expect(await login(auth, "admin", "local-pw")).toMatchObject({ ok: true, user: "admin" });
    expect(await login(auth, "admin", "cognito-pw")).toMatchObject({ ok: false, reason: "wrong-password" });
    expect(fake.calls).toHaveLength(0);
    // Cognito's "Admin" would share the folder on a case-insensitive file system.
    expect(await login(auth, "a@example.org", "cognito-pw-2")).toMatchObject({ ok: false, reason: "refused", status: 500, detail: expect.stringMatching(/local user "admin"/) });
  });

  it("never writes a password, token, client secret, secret hash or host key to the log", async () => {
    const secret = "super-secret-client-secret-value";
    const { auth } = await setup({ secret });
    fake.addUser("alice", "Pa55word-alice");
    fake.addUser("carol", "Pa55word-carol", { challenge: "SOFTWARE_TOKEN_MFA" });
    const keys: string[] = [];
    keys.push(await loggedIn(auth, "alice", "Pa55word-alice"));
    await login(auth, "alice", "Wrong-password-1");
    await login(auth, "carol", "Pa55word-carol");
    clock += INTERVAL;
    await use(auth, keys[0]!);
    fake.signOut("alice"); // the fake puts the refused refresh token into its error message
    keys.push(await loggedIn(auth, "alice", "Pa55word-alice"));
    fake.signOut("alice");
    clock += INTERVAL;
    await use(auth, keys[1]!);
    fake.mode = "down";
    await login(auth, "alice", "Pa55word-alice");
    const text = logged.join("");
    expect(text).toMatch(/Cognito host key revoked/);
    const forbidden = [...fake.secrets, secret, "Wrong-password-1", secretHash(secret, "alice", fake.clientId), ...keys];
    for (const value of forbidden) expect(text).not.toContain(value);
  });
});
