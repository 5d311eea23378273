// A full upload's checks run in a worker thread: while one user's 100 MB
// upload is being verified, another user's whole normal sync goes through.
// The verification is held in its worker (a test gate) until the other sync
// has finished, so the test asserts the order of events, not durations; were
// the checks on the event loop, the gate would never report `started` and
// nothing else would be served.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { type RunningServer, startServer } from "../../../src/app.js";
import { createEmptyCollection } from "../../../src/collection/create.js";
import { openCollectionDb } from "../../../src/collection/open.js";
import { loadConfig } from "../../../src/config.js";
import { setLogLevel } from "../../../src/log.js";
import { workers } from "../../../src/worker/pool.js";

setLogLevel("error");

let running: RunningServer;
let base: string;
let url: string;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "anki-sync-worker-"));
  const config = loadConfig({ host: "127.0.0.1", port: "0", base }, { SYNC_USER1: "alice:apass", SYNC_USER2: "bob:bpass" });
  running = await startServer(config);
  url = `http://127.0.0.1:${running.port}`;
});

afterAll(async () => {
  await running.close();
  rmSync(base, { recursive: true, force: true });
});

const header = (k: string, s = "") => JSON.stringify({ v: 11, k, c: "test,0,linux", s });

async function call(path: string, key: string, body: Buffer, session = ""): Promise<{ status: number; payload: Buffer }> {
  const res = await fetch(url + path, { method: "POST", body: compress(body), headers: { "anki-sync": header(key, session) } });
  const raw = Buffer.from(await res.arrayBuffer());
  return { status: res.status, payload: res.status === 200 ? decompress(raw) : raw };
}

async function login(u: string, p: string): Promise<string> {
  const res = await call("/sync/hostKey", "", Buffer.from(JSON.stringify({ u, p })));
  expect(res.status).toBe(200);
  return (JSON.parse(res.payload.toString()) as { key: string }).key;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** A valid empty collection plus ~100 MB of incompressible filler rows. */
function bigCollection(dir: string): Buffer {
  const path = join(dir, "big.anki2");
  createEmptyCollection(path);
  const db = openCollectionDb(path, { mustExist: true });
  try {
    db.exec("CREATE TABLE filler (data BLOB)");
    const insert = db.prepare("INSERT INTO filler (data) VALUES (?)");
    db.transaction(() => {
      for (let i = 0; i < 100; i++) insert.run(randomBytes(1024 * 1024));
    })();
  } finally {
    db.close();
  }
  return readFileSync(path);
}

describe("full upload verification in a worker thread", () => {
  it("lets another user's normal sync complete while a 100 MB upload is being verified", async () => {
    const alice = await login("alice", "apass");
    const bob = await login("bob", "bpass");
    const collection = bigCollection(base);
    expect(collection.length).toBeGreaterThan(100 * 1024 * 1024);

    const events: string[] = [];
    const hold = workers.holdNextForTests("verifyUpload");
    const upload = call("/sync/upload", alice, collection).then((res) => {
      events.push("alice upload answered");
      return res;
    });
    await hold.started;
    events.push("alice verification started");

    // Bob's whole sync: meta, start, graves, the server's chunks, commit.
    const meta = await call("/sync/meta", bob, json({ v: 11, cv: "test" }));
    expect(meta.status).toBe(200);
    const usnBefore = (JSON.parse(meta.payload.toString()) as { usn: number }).usn;
    expect((await call("/sync/start", bob, json({ minUsn: 0, lnewer: false, graves: null }), "s1")).status).toBe(200);
    expect((await call("/sync/applyGraves", bob, json({ chunk: { cards: [], notes: [], decks: [] } }), "s1")).status).toBe(200);
    for (let done = false; !done; ) {
      const chunk = await call("/sync/chunk", bob, json({}), "s1");
      expect(chunk.status).toBe(200);
      done = (JSON.parse(chunk.payload.toString()) as { done: boolean }).done;
    }
    expect((await call("/sync/finish", bob, json({}), "s1")).status).toBe(200);
    const after = await call("/sync/meta", bob, json({ v: 11, cv: "test" }));
    expect((JSON.parse(after.payload.toString()) as { usn: number }).usn).toBe(usnBefore + 1);
    events.push("bob sync committed");

    hold.release();
    const res = await upload;
    expect(res.status).toBe(200);
    expect(res.payload.toString()).toBe("OK");
    expect(events).toEqual(["alice verification started", "bob sync committed", "alice upload answered"]);

    // The verified upload replaced alice's collection.
    const db = openCollectionDb(join(base, "alice", "collection.anki2"), { mustExist: true });
    try {
      expect(db.prepare("SELECT count(*) FROM filler").pluck().get()).toBe(100);
    } finally {
      db.close();
    }
  }, 120_000);

  it("still refuses a corrupt upload (the worker's verdict reaches the client)", async () => {
    const alice = await login("alice", "apass");
    const res = await call("/sync/upload", alice, randomBytes(64 * 1024));
    expect(res.status).toBe(200);
    expect(res.payload.toString()).toMatch(/^Your upload was corrupt/);
  });
});
