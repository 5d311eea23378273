// The control socket between maintenance commands and a running server, and
// the server's side of operations: holds, 503s, /health, /metrics, shutdown.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { type RunningServer, startServer } from "../../../src/app.js";
import { ControlClient, ControlError, ControlListener, FolderBusyError, controlSocketPath } from "../../../src/control/socket.js";
import { Coordinator } from "../../../src/backup/coordinate.js";
import { loadConfig } from "../../../src/config.js";
import { setLogLevel } from "../../../src/log.js";
import { VERSION } from "../../../src/ops/version.js";

setLogLevel("error");

let base: string;
const running: RunningServer[] = [];

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "anki-sync-control-"));
});
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
  rmSync(base, { recursive: true, force: true });
});

async function start(extra: Record<string, string> = {}): Promise<{ server: RunningServer; url: string }> {
  const config = loadConfig({ host: "127.0.0.1", port: "0", base }, { SYNC_USER1: "alice:secret", SYNC_USER2: "bob:secret", ...extra });
  const server = await startServer(config);
  running.push(server);
  return { server, url: `http://127.0.0.1:${server.port}` };
}

const header = (k = "") => JSON.stringify({ v: 11, k, c: "test,0,linux", s: "s1" });

async function post(url: string, path: string, body: unknown, key = ""): Promise<number> {
  const res = await fetch(url + path, { method: "POST", body: compress(Buffer.from(JSON.stringify(body))), headers: { "anki-sync": header(key) } });
  await res.arrayBuffer();
  return res.status;
}

async function login(url: string, user: string): Promise<string> {
  const res = await fetch(`${url}/sync/hostKey`, { method: "POST", body: compress(Buffer.from(JSON.stringify({ u: user, p: "secret" }))), headers: { "anki-sync": header() } });
  return (JSON.parse(decompress(Buffer.from(await res.arrayBuffer())).toString()) as { key: string }).key;
}

const meta = (url: string, key: string) => post(url, "/sync/meta", { v: 11, cv: "test" }, key);

describe("who serves a data folder", () => {
  it("a second server on the same folder refuses to start", async () => {
    await start();
    await expect(start()).rejects.toBeInstanceOf(FolderBusyError);
  });

  it("a server does not start while a restore or reset-user works offline", async () => {
    const maintenance = await Coordinator.open(base, "exclusive");
    expect(maintenance.serverRunning).toBe(false);
    await expect(start()).rejects.toThrow(/maintenance command/);
    await maintenance.close();
    await start();
  });

  it("a stale socket file left by a crash is no obstacle", async () => {
    writeFileSync(controlSocketPath(base), "");
    expect(await ControlClient.connect(base)).toBeUndefined();
    await start();
  });

  it("works with a data folder whose socket path is too long for a Unix socket", async () => {
    const deep = join(base, "x".repeat(60), "y".repeat(60));
    mkdirSync(deep, { recursive: true });
    expect(Buffer.byteLength(controlSocketPath(deep))).toBeGreaterThan(108);
    const listener = await ControlListener.start(deep, "maintenance");
    const client = await ControlClient.connect(deep);
    expect(client?.role).toBe("maintenance");
    expect(client?.pid).toBe(process.pid);
    client?.close();
    await listener.close();
    expect(await ControlClient.connect(deep)).toBeUndefined();
  });
});

describe("holds", () => {
  it("exclusive: the user's requests get 503 at once, other users carry on, release restores service", async () => {
    const { url } = await start();
    const alice = await login(url, "alice");
    const bob = await login(url, "bob");
    expect(await meta(url, alice)).toBe(200);
    const coord = await Coordinator.open(base, "exclusive");
    expect(coord.serverRunning).toBe(true);
    let during: number[] = [];
    await coord.withUser("alice", "exclusive", 5000, async () => {
      during = [await meta(url, alice), await meta(url, bob)];
    });
    expect(during).toEqual([503, 200]);
    expect(await meta(url, alice)).toBe(200);
    await coord.close();
  });

  it("read: the user's requests wait until the hold ends", async () => {
    const { url } = await start();
    const alice = await login(url, "alice");
    const client = (await ControlClient.connect(base))!;
    await client.hold("alice", "read", 5000);
    let answered = false;
    const pending = meta(url, alice).then((s) => {
      answered = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);
    // the connection ending is a release too (a crashed command cannot block a user)
    client.close();
    expect(await pending).toBe(200);
  });

  it("gives up when the user stays busy, and refuses hold requests from another maintenance command", async () => {
    const { url } = await start();
    const alice = await login(url, "alice");
    const first = (await ControlClient.connect(base))!;
    await first.hold("alice", "read", 5000);
    const second = (await ControlClient.connect(base))!;
    await expect(second.hold("alice", "exclusive", 300)).rejects.toBeInstanceOf(ControlError);
    first.close();
    second.close();
    expect(await meta(url, alice)).toBe(200);

    const offline = await ControlListener.start(join(base, "alice"), "maintenance");
    const c = (await ControlClient.connect(join(base, "alice")))!;
    await expect(c.hold("alice", "read", 100)).rejects.toThrow(/not a server/);
    c.close();
    await offline.close();
  });
});

describe("health and metrics", () => {
  it("/health reports each check; /metrics counts requests", async () => {
    const { url } = await start();
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", version: VERSION, checks: { data_folder: "ok", free_space: "ok", server_db: "ok", collection: "ok" } });
    expect((await fetch(`${url}/health`, { method: "POST" })).status).toBe(405);
    await login(url, "alice");
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^anki_sync_logins_total\{result="ok"\} 1$/m);
    expect(text).toMatch(/^anki_sync_http_requests_total\{route="\/health",status="200"\} 1$/m);
    expect(text).toMatch(/^anki_sync_http_requests_total\{route="\/sync\/hostKey",status="200"\} 1$/m);
  });

  it("/health fails when the data folder is not writable", async () => {
    if (process.getuid?.() === 0) return; // root writes anywhere
    const { url } = await start();
    chmodSync(base, 0o500);
    try {
      await new Promise((r) => setTimeout(r, 2100)); // past the cache
      const res = await fetch(`${url}/health`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { checks: Record<string, string> }).checks.data_folder).toBe("fail");
    } finally {
      chmodSync(base, 0o700);
    }
  });
});

describe("shutdown", () => {
  it("idle: closes at once, removes the socket", async () => {
    const { server, url } = await start();
    await login(url, "alice"); // leaves a keep-alive connection
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await ControlClient.connect(base)).toBeUndefined();
  });

  it("cuts a request still running at the timeout, then answers nothing more", async () => {
    const { server, url } = await start({ SYNC_SHUTDOWN_TIMEOUT: "0.5" });
    const key = await login(url, "alice");
    // an upload that never finishes sending its body
    const req = request({ host: "127.0.0.1", port: server.port, path: "/sync/upload", method: "POST", headers: { "anki-sync": header(key), "transfer-encoding": "chunked" } });
    req.on("error", () => {});
    req.write(compress(randomBytes(200_000)).subarray(0, 1000)); // the start of a valid zstd stream
    await new Promise((r) => setTimeout(r, 100));
    expect(readdirSync(join(base, "alice")).some((n) => n.startsWith(".incoming-"))).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await server.close();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2500);
    req.destroy();
    // the cut upload's temp file is gone
    expect(readdirSync(join(base, "alice")).filter((n) => n.startsWith(".incoming-"))).toEqual([]);
  });
});
