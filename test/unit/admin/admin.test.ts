// The status page over real HTTP: off unless configured, 401 on every route
// without valid credentials (counted by the login throttle), CSRF token and
// same-origin required on every POST, no secret in any page.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { type RunningServer, startServer } from "../../../src/app.js";
import { hashPasswordArgon2id } from "../../../src/auth/passwords.js";
import { type ServeFlags, loadConfig } from "../../../src/config.js";
import { setLogLevel } from "../../../src/log.js";

setLogLevel("error");
const ADMIN_PASSWORD = "correct horse battery staple";
let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function serve(flags: Partial<ServeFlags> = {}, adminSecret: string | null = ADMIN_PASSWORD): Promise<{ url: string; running: RunningServer; root: string }> {
  const root = mkdtempSync(join(tmpdir(), "anki-admin-test-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  let adminPasswordFile: string | undefined;
  if (adminSecret !== null) {
    adminPasswordFile = join(root, "admin-password");
    writeFileSync(adminPasswordFile, adminSecret + "\n");
  }
  const config = loadConfig({ host: "127.0.0.1", port: "0", base: join(root, "data"), adminPasswordFile, ...flags }, { SYNC_USER1: "alice:alicepass" });
  const running = await startServer(config);
  cleanups.push(() => running.close());
  return { url: `http://127.0.0.1:${running.port}`, running, root };
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });
const ADMIN = basic("admin", ADMIN_PASSWORD);

async function syncLogin(url: string, password = "alicepass"): Promise<{ status: number; key?: string }> {
  const res = await fetch(`${url}/sync/hostKey`, {
    method: "POST",
    headers: { "anki-sync": JSON.stringify({ v: 11, k: "", c: "26.09,test,linux", s: "" }) },
    body: compress(Buffer.from(JSON.stringify({ u: "alice", p: password }))),
  });
  const body = Buffer.from(await res.arrayBuffer());
  return res.status === 200 ? { status: 200, key: (JSON.parse(decompress(body).toString()) as { key: string }).key } : { status: res.status };
}

const ROUTES: [string, string][] = [
  ["GET", "/admin"],
  ["GET", "/admin/"],
  ["HEAD", "/admin"],
  ["GET", "/admin/revoke?user=alice&device=000000000000"],
  ["POST", "/admin/revoke"],
  ["GET", "/admin/backup"],
  ["POST", "/admin/backup"],
  ["GET", "/admin/nonexistent"],
  ["DELETE", "/admin"],
];

describe("status page", () => {
  it("is off unless --admin-password-file is given", async () => {
    const { url } = await serve({}, null);
    expect((await fetch(`${url}/admin`, { headers: ADMIN })).status).toBe(404);
  });

  it("answers 401 with a Basic challenge on every route without valid credentials", async () => {
    const { url } = await serve({ loginFailuresPerAddress: "1000", loginFailuresPerUser: "1000" });
    for (const [method, path] of ROUTES) {
      for (const headers of [{}, basic("admin", "wrong"), basic("alice", "alicepass"), basic("root", ADMIN_PASSWORD), { authorization: "Bearer x" }]) {
        const res = await fetch(url + path, { method, headers: { ...headers, "content-type": "application/x-www-form-urlencoded" }, body: method === "POST" ? "csrf=x" : undefined });
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
      }
    }
  });

  it("counts failures toward the login throttle shared with sync logins", async () => {
    const { url } = await serve({ loginFailuresPerAddress: "4" });
    for (const [method, path] of ROUTES.slice(0, 4)) expect((await fetch(url + path, { method })).status).toBe(401);
    // the right password no longer helps from this address, on the page or for a sync login
    const throttled = await fetch(`${url}/admin`, { headers: ADMIN });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await syncLogin(url)).status).toBe(429);
  });

  it("shows users, devices and syncs to the admin, and never a secret", async () => {
    const { url } = await serve({ loginFailuresPerAddress: "100" });
    const login = await syncLogin(url);
    expect((await syncLogin(url, "wrong")).status).toBe(403);
    const res = await fetch(`${url}/admin`, { headers: ADMIN });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const body = await res.text();
    expect(body).toContain("<h3>alice");
    expect(body).toContain("26.09,test,linux");
    expect(body).toMatch(/Recent failed logins[\s\S]*alice[\s\S]*wrong-password/);
    for (const secret of [login.key!, "alicepass", ADMIN_PASSWORD]) expect(body).not.toContain(secret);
    expect(body).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/);
  });

  it("refuses a POST without the CSRF token, with a wrong one, or from another origin; revokes with it", async () => {
    const { url } = await serve();
    const login = await syncLogin(url);
    const overview = await (await fetch(`${url}/admin`, { headers: ADMIN })).text();
    const device = /device=([0-9a-f]{12})/.exec(overview)![1]!;
    const confirm = await (await fetch(`${url}/admin/revoke?user=alice&device=${device}`, { headers: ADMIN })).text();
    const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(confirm)![1]!;
    const post = (body: string, extra: Record<string, string> = {}) =>
      fetch(`${url}/admin/revoke`, { method: "POST", redirect: "manual", headers: { ...ADMIN, "content-type": "application/x-www-form-urlencoded", ...extra }, body });
    expect((await post(`user=alice&device=${device}`)).status).toBe(403);
    expect((await post(`user=alice&device=${device}&csrf=${"0".repeat(csrf.length)}`)).status).toBe(403);
    expect((await post(`user=alice&device=${device}&csrf=${csrf}`, { origin: "http://evil.example" })).status).toBe(403);
    // still there: the device keeps syncing
    const meta = () =>
      fetch(`${url}/sync/meta`, { method: "POST", headers: { "anki-sync": JSON.stringify({ v: 11, k: login.key, c: "26.09,test,linux", s: "s" }) }, body: compress(Buffer.from('{"v":11,"cv":"x"}')) });
    expect((await meta()).status).toBe(200);
    const done = await post(`user=alice&device=${device}&csrf=${csrf}`, { origin: url });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/admin?done=revoked");
    expect((await meta()).status).toBe(403);
  });

  it("accepts an argon2id hash in the password file", async () => {
    const { url } = await serve({}, await hashPasswordArgon2id("hashed secret"));
    expect((await fetch(`${url}/admin`, { headers: basic("admin", "hashed secret") })).status).toBe(200);
    expect((await fetch(`${url}/admin`, { headers: basic("admin", "hashed") })).status).toBe(401);
  });

  it("does not start with an unusable password file", async () => {
    const root = mkdtempSync(join(tmpdir(), "anki-admin-test-"));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const config = loadConfig({ host: "127.0.0.1", port: "0", base: join(root, "data"), adminPasswordFile: join(root, "missing") }, { SYNC_USER1: "a:b" });
    await expect(startServer(config)).rejects.toThrow(/status page: password file .*missing.* does not exist/);
  });
});
