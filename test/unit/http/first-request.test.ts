// The server loads the sync code, zstd and the users' password fingerprints
// only when first needed. What a user would notice if that went wrong: the
// very first request to a freshly started server failing. Each server here
// serves its first request the moment it listens.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { compress, decompress } from "zstd-napi";
import { type RunningServer, startServer } from "../../../src/app.js";
import { loadConfig } from "../../../src/config.js";

let base: string;
const running: RunningServer[] = [];

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "anki-sync-first-"));
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
  vi.restoreAllMocks();
  rmSync(base, { recursive: true, force: true });
});

async function start(password: string): Promise<string> {
  const config = loadConfig({ host: "127.0.0.1", port: "0", base }, { SYNC_USER1: `alice:${password}`, SYNC_USER2: "bob:bobs-password" });
  const server = await startServer(config);
  running.push(server);
  return `http://127.0.0.1:${server.port}`;
}

async function post(url: string, path: string, json: unknown, key = ""): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url + path, {
    method: "POST",
    body: compress(Buffer.from(JSON.stringify(json))),
    headers: { "anki-sync": JSON.stringify({ v: 11, k: key, c: "anki,25.02 (test),lin", s: "s1" }) },
  });
  const raw = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body: res.status === 200 ? JSON.parse(decompress(raw).toString()) : raw.toString() };
}

async function login(url: string, u: string, p: string): Promise<string> {
  const res = await post(url, "/sync/hostKey", { u, p });
  expect(res.status).toBe(200);
  return (res.body as { key: string }).key;
}

describe("the first request after start", () => {
  it("a login, then the client's first sync step, both succeed", async () => {
    const url = await start("alices-password");
    const key = await login(url, "alice", "alices-password");
    const meta = await post(url, "/sync/meta", { v: 11, cv: "anki,25.02 (test),lin" }, key);
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({ usn: 0, cont: true, empty: true });
  });

  it("a wrong password or an unknown name is refused", async () => {
    const url = await start("alices-password");
    expect((await post(url, "/sync/hostKey", { u: "mallory", p: "alices-password" })).status).toBe(403);
    expect((await post(url, "/sync/hostKey", { u: "alice", p: "wrong" })).status).toBe(403);
    expect(await login(url, "alice", "alices-password")).toMatch(/^[0-9a-f]{40}$/);
  });

  it("a sync step with a key from before a restart succeeds, unless the password changed meanwhile", async () => {
    const first = await start("alices-password");
    const aliceKey = await login(first, "alice", "alices-password");
    const bobKey = await login(first, "bob", "bobs-password");
    await running.pop()!.close();

    const same = await start("alices-password");
    expect((await post(same, "/sync/meta", { v: 11, cv: "x" }, aliceKey)).status).toBe(200);
    await running.pop()!.close();

    const changed = await start("a-new-password");
    expect((await post(changed, "/sync/meta", { v: 11, cv: "x" }, aliceKey)).status).toBe(403);
    expect((await post(changed, "/sync/meta", { v: 11, cv: "x" }, bobKey)).status).toBe(200);
    await running.pop()!.close();

    // The old key was deleted, not just refused: the old password back does not revive it.
    const back = await start("alices-password");
    expect((await post(back, "/sync/meta", { v: 11, cv: "x" }, aliceKey)).status).toBe(403);
    expect(await login(back, "alice", "alices-password")).toMatch(/^[0-9a-f]{40}$/);
  });
});
