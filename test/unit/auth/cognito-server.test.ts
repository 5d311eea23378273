// `--auth cognito` through the whole server: configuration, start-up without
// local users, the statuses a client gets for each kind of refusal, and
// re-validation of host keys over HTTP. Cognito is a fake on loopback.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { compress, decompress } from "zstd-napi";
import { NoUsersError, type RunningServer, startServer } from "../../../src/app.js";
import { StartupError } from "../../../src/auth/authenticator.js";
import { cognitoSettingsFrom, DEFAULT_COGNITO_GRACE_SECONDS, DEFAULT_COGNITO_REVALIDATE_SECONDS } from "../../../src/auth/cognito/settings.js";
import { ConfigError, loadConfig, type ServeFlags } from "../../../src/config.js";
import { FakeCognito } from "./cognito-fake.js";

const POOL = "us-east-1_AbCdEf123";
const CV = "anki,26.9.3 (test),lin:";

let dir: string;
let fake: FakeCognito;
let running: RunningServer | undefined;
let logged: string[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "cognito-server-"));
  fake = await new FakeCognito().start();
  logged = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    logged.push(String(chunk));
    return true;
  });
});

afterEach(async () => {
  await running?.close();
  running = undefined;
  vi.restoreAllMocks();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cognitoEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { COGNITO_USER_POOL_ID: POOL, COGNITO_CLIENT_ID: fake.clientId, COGNITO_REGION: "us-east-1", COGNITO_ENDPOINT: fake.url, ...extra };
}

async function start(env: Record<string, string> = cognitoEnv(), flags: ServeFlags = {}): Promise<string> {
  const config = loadConfig({ host: "127.0.0.1", port: "0", base: join(dir, "data"), auth: "cognito", ...flags }, env);
  running = await startServer(config);
  return `http://127.0.0.1:${running.port}`;
}

async function post(url: string, path: string, body: unknown, key = ""): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url + path, {
    method: "POST",
    body: compress(Buffer.from(JSON.stringify(body))),
    headers: { "anki-sync": JSON.stringify({ v: 11, k: key, c: CV, s: "s1" }) },
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

async function hostKey(url: string, u: string, p: string): Promise<string> {
  const res = await post(url, "/sync/hostKey", { u, p });
  expect(res.status).toBe(200);
  return (JSON.parse(decompress(res.body).toString()) as { key: string }).key;
}

const meta = (url: string, key: string) => post(url, "/sync/meta", { v: 11, cv: CV }, key);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("--auth cognito settings", () => {
  const env = { COGNITO_USER_POOL_ID: POOL, COGNITO_CLIENT_ID: "client123", COGNITO_REGION: "eu-west-1" };

  it("reads the variables the NixOS module sets, with defaults", () => {
    expect(cognitoSettingsFrom({}, env)).toEqual({
      userPoolId: POOL,
      clientId: "client123",
      region: "eu-west-1",
      clientSecretFile: undefined,
      endpoint: undefined,
      userFolder: "username",
      revalidateMs: DEFAULT_COGNITO_REVALIDATE_SECONDS * 1000,
      graceMs: DEFAULT_COGNITO_GRACE_SECONDS * 1000,
    });
    const full = cognitoSettingsFrom(
      { cognitoRevalidateInterval: "30" },
      { ...env, COGNITO_USER_FOLDER: "sub", COGNITO_CLIENT_SECRET_FILE: "cognito-client-secret", CREDENTIALS_DIRECTORY: "/run/credentials/x", COGNITO_ENDPOINT: "http://127.0.0.1:5000", COGNITO_REVALIDATE_INTERVAL: "99", COGNITO_GRACE_PERIOD: "0" },
    );
    expect(full).toMatchObject({ userFolder: "sub", clientSecretFile: "/run/credentials/x/cognito-client-secret", endpoint: "http://127.0.0.1:5000", revalidateMs: 30_000, graceMs: 0 });
    expect(cognitoSettingsFrom({}, { ...env, COGNITO_CLIENT_SECRET_FILE: "/abs/secret", CREDENTIALS_DIRECTORY: "/run/c" }).clientSecretFile).toBe("/abs/secret");
  });

  it.each([
    [{ COGNITO_USER_POOL_ID: "" }, /COGNITO_USER_POOL_ID/],
    [{ COGNITO_CLIENT_ID: "" }, /COGNITO_CLIENT_ID/],
    [{ COGNITO_REGION: "" }, /COGNITO_REGION/],
    [{ COGNITO_USER_POOL_ID: "no-underscore" }, /not a user pool id/],
    [{ COGNITO_USER_FOLDER: "email" }, /"username" or "sub"/],
    [{ COGNITO_ENDPOINT: "not a url" }, /COGNITO_ENDPOINT/],
    [{ COGNITO_ENDPOINT: "ftp://x" }, /http\(s\)/],
    [{ COGNITO_REVALIDATE_INTERVAL: "0" }, /re-validation interval/],
    [{ COGNITO_GRACE_PERIOD: "-1" }, /grace period/],
  ])("refuses %j", (bad, message) => {
    expect(() => loadConfig({ auth: "cognito" }, { ...env, ...bad })).toThrow(ConfigError);
    expect(() => loadConfig({ auth: "cognito" }, { ...env, ...bad })).toThrow(message);
  });

  it("--auth takes local or cognito (env SYNC_AUTH); COGNITO_* are ignored without it", () => {
    expect(loadConfig({}, {}).auth).toBe("local");
    expect(loadConfig({}, { ...env, SYNC_AUTH: "cognito" }).cognito?.clientId).toBe("client123");
    expect(loadConfig({}, { COGNITO_USER_POOL_ID: "garbage" }).cognito).toBeUndefined();
    expect(() => loadConfig({ auth: "ldap" }, {})).toThrow(/"local" or "cognito"/);
  });
});

describe("the AWS SDK stays out of the default server", () => {
  it("no source file imports it statically; only the Cognito backend loads it, with import()", () => {
    const root = join(__dirname, "../../../src");
    const files: string[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const path = join(d, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith(".ts")) files.push(path);
      }
    };
    walk(root);
    const loaders: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      // `import ... from "@aws-sdk/..."` that is not `import type`.
      expect(text, relative(root, file)).not.toMatch(/^\s*import\s+(?!type\b)[^;]*from\s+["']@aws-sdk\//m);
      expect(text, relative(root, file)).not.toMatch(/^\s*export\s+[^;]*from\s+["']@aws-sdk\//m);
      if (/await import\("@aws-sdk\//.test(text)) loaders.push(relative(root, file));
      // The backend itself is reached only through import() (app.ts).
      if (!file.includes(`${join("auth", "cognito")}`)) {
        expect(text, relative(root, file)).not.toMatch(/^\s*import\s+(?!type\b)[^;]*from\s+["'][./]+auth\/cognito\/(index|api|backend)\.js["']/m);
      }
    }
    expect(loaders).toEqual([join("auth", "cognito", "api.ts")]);
  });
});

describe("--auth cognito server", () => {
  it("starts with no local users (local mode still refuses to)", async () => {
    await expect(startServer(loadConfig({ host: "127.0.0.1", port: "0", base: join(dir, "local") }, {}))).rejects.toThrow(NoUsersError);
    const url = await start();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(logged.join("")).toMatch(/info "Cognito login backend on" user_pool=us-east-1_AbCdEf123 client=fakeclient123 .*client_secret=none user_folder=username/);
  });

  it("logs a Cognito user in, creates the folder and syncs; refusals get their statuses", async () => {
    fake.addUser("alice", "Alice-pw-1");
    fake.addUser("carol", "Carol-pw-1", { challenge: "SOFTWARE_TOKEN_MFA" });
    const url = await start();
    const key = await hostKey(url, "alice", "Alice-pw-1");
    const res = await meta(url, key);
    expect(res.status).toBe(200);
    expect(JSON.parse(decompress(res.body).toString())).toMatchObject({ cont: true, empty: true });
    expect(statSync(join(dir, "data", "alice", "media")).isDirectory()).toBe(true);

    expect((await post(url, "/sync/hostKey", { u: "alice", p: "wrong-Pw-1" })).status).toBe(403);
    expect(logged.join("")).toMatch(/warn "login failed" address=127\.0\.0\.1 user=alice reason=wrong-password/);
    expect(logged.join("")).toMatch(/warn request user=alice route=\/sync\/hostKey .*status=403 .*reason="Cognito: wrong user name or password \(NotAuthorizedException\)"/);

    expect((await post(url, "/sync/hostKey", { u: "carol", p: "Carol-pw-1" })).status).toBe(428);
    expect(logged.join("")).toMatch(/warn "login refused" address=127\.0\.0\.1 user=carol status=428 why="Cognito asks for SOFTWARE_TOKEN_MFA: Anki's login cannot answer multi-factor/);

    fake.mode = "down";
    const down = await post(url, "/sync/hostKey", { u: "alice", p: "Alice-pw-1" });
    expect(down.status).toBe(503);
    expect(down.headers.get("retry-after")).toBe("60");
    expect(logged.join("")).toMatch(/error "login refused" .*status=503 why="Cognito unavailable, new logins fail until it answers/);
    // The key issued before keeps working (within its interval).
    expect((await meta(url, key)).status).toBe(200);

    for (const secret of [...fake.secrets, key, "wrong-Pw-1"]) expect(logged.join("")).not.toContain(secret);
  });

  it("re-validates at the interval: a disabled user gets 403 once it has passed", async () => {
    const alice = fake.addUser("alice", "Alice-pw-1");
    const url = await start(cognitoEnv({ COGNITO_REVALIDATE_INTERVAL: "1" }));
    const key = await hostKey(url, "alice", "Alice-pw-1");
    alice.enabled = false;
    expect((await meta(url, key)).status).toBe(200);
    await sleep(1100);
    expect((await meta(url, key)).status).toBe(403);
    expect(logged.join("")).toMatch(/info "Cognito host key revoked" user=alice why="the user is disabled in the user pool \(NotAuthorizedException\)"/);
  });

  it("Cognito unreachable past the grace period: 503 with Retry-After, not 403 (the client keeps its key)", async () => {
    fake.addUser("alice", "Alice-pw-1");
    const url = await start(cognitoEnv({ COGNITO_REVALIDATE_INTERVAL: "1" }), { cognitoGracePeriod: "0" });
    const key = await hostKey(url, "alice", "Alice-pw-1");
    await sleep(1100);
    fake.mode = "down";
    const res = await meta(url, key);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("60");
    fake.mode = "up";
    await sleep(1100); // the retry pause is min(30 s, interval)
    expect((await meta(url, key)).status).toBe(200);
  });

  it("reads the client secret from a credential file under $CREDENTIALS_DIRECTORY", async () => {
    await fake.stop();
    fake = await new FakeCognito({ clientSecret: "s3cret-from-file" }).start();
    fake.addUser("alice", "Alice-pw-1");
    const creds = join(dir, "creds");
    mkdirSync(creds);
    writeFileSync(join(creds, "cognito-client-secret"), "s3cret-from-file\n");
    const url = await start(cognitoEnv({ COGNITO_CLIENT_SECRET_FILE: "cognito-client-secret", CREDENTIALS_DIRECTORY: creds }));
    await hostKey(url, "alice", "Alice-pw-1");
    expect(logged.join("")).toMatch(/client_secret="from file"/);
    expect(logged.join("")).not.toContain("s3cret-from-file");
  });

  it("a missing secret file stops the start, naming the file", async () => {
    await expect(start(cognitoEnv({ COGNITO_CLIENT_SECRET_FILE: join(dir, "nope") }))).rejects.toThrow(StartupError);
    await expect(start(cognitoEnv({ COGNITO_CLIENT_SECRET_FILE: join(dir, "nope") }))).rejects.toThrow(/COGNITO_CLIENT_SECRET_FILE: cannot read .*nope \(ENOENT\)/);
  });

  it("folders by sub when COGNITO_USER_FOLDER=sub", async () => {
    const alice = fake.addUser("alice", "Alice-pw-1", { email: "alice@example.org" });
    const url = await start(cognitoEnv({ COGNITO_USER_FOLDER: "sub" }));
    const key = await hostKey(url, "alice@example.org", "Alice-pw-1");
    expect((await meta(url, key)).status).toBe(200);
    expect(statSync(join(dir, "data", alice.sub)).isDirectory()).toBe(true);
  });
});
