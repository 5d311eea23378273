// The HTTP layer against a real listening server: envelope decoding, status
// codes for malformed requests, and that the server keeps serving afterwards.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { type RunningServer, startServer } from "../../../src/app.js";
import { loadConfig } from "../../../src/config.js";

let running: RunningServer;
let base: string;
let url: string;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "anki-sync-http-"));
  const config = loadConfig({ host: "127.0.0.1", port: "0", base, maxPayloadMegs: "1" }, { SYNC_USER1: "alice:secret" });
  running = await startServer(config);
  url = `http://127.0.0.1:${running.port}`;
});

afterAll(async () => {
  await running.close();
  rmSync(base, { recursive: true, force: true });
});

function header(k = "", s = "sess1", v = 11): string {
  return JSON.stringify({ v, k, c: "test,0,linux", s });
}

async function call(path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url + path, { method: "POST", body, headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

async function login(): Promise<string> {
  const res = await call("/sync/hostKey", compress(Buffer.from(JSON.stringify({ u: "alice", p: "secret" }))), { "anki-sync": header() });
  expect(res.status).toBe(200);
  return (JSON.parse(decompress(res.body).toString()) as { key: string }).key;
}

describe("v11 envelope", () => {
  it("logs in and answers meta with a zstd body and anki-original-size", async () => {
    const key = await login();
    expect(key).toMatch(/^[0-9a-f]{40}$/);
    const res = await call("/sync/meta", compress(Buffer.from('{"v":11,"cv":"test"}')), { "anki-sync": header(key) });
    expect(res.status).toBe(200);
    const payload = decompress(res.body);
    expect(res.headers.get("anki-original-size")).toBe(String(payload.length));
    const meta = JSON.parse(payload.toString()) as Record<string, unknown>;
    expect(meta).toMatchObject({ mod: 0, usn: 0, cont: true, empty: true, media_usn: 0, hostNum: 0, msg: "" });
  });

  it("refuses a wrong password with 403 and issues distinct keys per login", async () => {
    const bad = await call("/sync/hostKey", compress(Buffer.from('{"u":"alice","p":"nope"}')), { "anki-sync": header() });
    expect(bad.status).toBe(403);
    expect(await login()).not.toBe(await login());
  });

  it.each([
    ["missing header", undefined, compress(Buffer.from("{}")), 400],
    ["header not JSON", "{nope", compress(Buffer.from("{}")), 400],
    ["header missing keys", '{"v":11}', compress(Buffer.from("{}")), 400],
    ["version 7", header("", "s", 7), compress(Buffer.from("{}")), 400],
    ["version 12", header("", "s", 12), compress(Buffer.from("{}")), 400],
    ["bad zstd", header(), Buffer.from("definitely not zstd"), 400],
    ["truncated zstd", header(), compress(Buffer.from('{"u":"alice","p":"secret"}')).subarray(0, 8), 400],
    ["oversized body", header(), compress(Buffer.from(JSON.stringify({ u: "x".repeat(4 * 1024 * 1024), p: "" }))), 413],
  ])("%s gets a 4xx", async (_name, anki, body, status) => {
    const headers: Record<string, string> = anki === undefined ? {} : { "anki-sync": anki };
    const res = await call("/sync/hostKey", body, headers);
    expect(res.status).toBe(status);
  });

  it("answers unknown routes 404, wrong methods 405, unknown keys 403, and keeps serving", async () => {
    expect((await call("/sync/nope", compress(Buffer.from("{}")), { "anki-sync": header() })).status).toBe(404);
    expect((await call("/elsewhere", undefined, {})).status).toBe(404);
    expect((await fetch(`${url}/sync/meta`)).status).toBe(405);
    expect((await call("/sync/meta", compress(Buffer.from('{"v":11}')), { "anki-sync": header("0".repeat(40)) })).status).toBe(403);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(await login()).toMatch(/^[0-9a-f]{40}$/);
  });

  it("answers meta with 501 for a client protocol it does not speak", async () => {
    const key = await login();
    const res = await call("/sync/meta", compress(Buffer.from('{"v":7,"cv":"old"}')), { "anki-sync": header(key) });
    expect(res.status).toBe(501);
  });

  it("rejects stateful steps without a session (409) and without a session key (400)", async () => {
    const key = await login();
    expect((await call("/sync/chunk", compress(Buffer.from("{}")), { "anki-sync": header(key, "other") })).status).toBe(409);
    expect((await call("/sync/chunk", compress(Buffer.from("{}")), { "anki-sync": header(key, "") })).status).toBe(400);
  });
});
