// The legacy (protocol 8-10) envelope against a real listening server:
// multipart forms with gzip or raw `data`, raw replies, schema-11 downloads,
// schema-11 uploads, and garbled forms refused with 400 and nothing written.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { type RunningServer, startServer } from "../../../src/app.js";
import { loadConfig } from "../../../src/config.js";
import { openCollectionDb } from "../../../src/collection/open.js";

let running: RunningServer;
let base: string;
let url: string;
let key: string;

const BOUNDARY = "unit-boundary-42";

interface Part {
  name: string;
  value: Buffer | string;
  filename?: string;
  type?: string;
}

function form(parts: Part[], boundary = BOUNDARY): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += "\r\n";
    if (p.type !== undefined) head += `Content-Type: ${p.type}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(p.value), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** The parts the 2.1.56 client sends: data (gzip) first, then c, k, s. */
function parts(payload: unknown, opts: { k?: string; s?: string; c?: string; raw?: Buffer } = {}): Part[] {
  const data = opts.raw ?? gzipSync(Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload)));
  const out: Part[] = [{ name: "data", value: data, filename: "data", type: "application/octet-stream" }, { name: "c", value: opts.c ?? "1" }];
  if (opts.k !== undefined) out.push({ name: "k", value: opts.k });
  out.push({ name: "s", value: opts.s ?? "sess0001" });
  return out;
}

async function post(path: string, body: Buffer, contentType = `multipart/form-data; boundary=${BOUNDARY}`) {
  const res = await fetch(url + path, { method: "POST", body, headers: { "content-type": contentType } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

const legacy = (path: string, payload: unknown, opts: Parameters<typeof parts>[1] = {}) => post(path, form(parts(payload, { k: key, ...opts })));

function userDir(): string {
  return join(base, "alice");
}

function leftovers(): string[] {
  const spool = join(base, ".legacy-incoming");
  const spooled = existsSync(spool) ? readdirSync(spool) : [];
  return [...spooled, ...readdirSync(userDir()).filter((n) => n.startsWith("."))];
}

/**
 * Nothing left behind by a request: no spooled payload, no temp file in the
 * user folder. (A streamed reply's temp file goes right after its last byte,
 * which can be a moment after the client has it.)
 */
async function expectNoLeftovers(): Promise<void> {
  for (let i = 0; i < 50 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(leftovers()).toEqual([]);
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "anki-sync-legacy-"));
  const config = loadConfig({ host: "127.0.0.1", port: "0", base, maxPayloadMegs: "1" }, { SYNC_USER1: "alice:secret" });
  running = await startServer(config);
  url = `http://127.0.0.1:${running.port}`;
  const res = await post("/sync/hostKey", form(parts({ u: "alice", p: "secret" })));
  expect(res.status).toBe(200);
  expect(res.headers.get("anki-original-size")).toBeNull();
  key = (JSON.parse(res.body.toString()) as { key: string }).key;
});

afterAll(async () => {
  await running.close();
  rmSync(base, { recursive: true, force: true });
});

describe("legacy envelope", () => {
  it("answers meta raw, with content-length and no anki-original-size", async () => {
    const res = await legacy("/sync/meta", { v: 10, cv: "ankidroid,2.15.6" });
    expect(res.status).toBe(200);
    expect(res.headers.get("anki-original-size")).toBeNull();
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("content-length")).toBe(String(res.body.length));
    expect(JSON.parse(res.body.toString())).toMatchObject({ usn: 0, cont: true, hostNum: 0, msg: "" });
  });

  it("gates old meta versions like the official server", async () => {
    const v8 = JSON.parse((await legacy("/sync/meta", { v: 8, cv: "x" })).body.toString()) as { cont: boolean; msg: string };
    expect(v8).toMatchObject({ cont: false, msg: "Your client does not support the v2 scheduler" });
    expect((await legacy("/sync/meta", { v: 7, cv: "x" })).status).toBe(501);
    expect((await legacy("/sync/meta", { v: 12, cv: "x" })).status).toBe(501);
  });

  it("accepts c=0 and a missing c as uncompressed, in any part order, with sk for k", async () => {
    const body = Buffer.from(JSON.stringify({ v: 10, cv: "x" }));
    expect((await legacy("/sync/meta", null, { raw: body, c: "0" })).status).toBe(200);
    const noC = parts(null, { raw: body, k: key }).filter((p) => p.name !== "c");
    expect((await post("/sync/meta", form(noC.reverse()))).status).toBe(200);
    const withSk = parts({ v: 10, cv: "x" }).concat([{ name: "sk", value: key }]);
    expect((await post("/sync/meta", form(withSk))).status).toBe(200);
    // a text part sent as a file part still counts
    const asFile = parts({ v: 10, cv: "x" }).concat([{ name: "k", value: key, filename: "k", type: "application/octet-stream" }]);
    expect((await post("/sync/meta", form(asFile))).status).toBe(200);
  });

  it("treats a missing data part as {}", async () => {
    const noData = parts(null, { k: key }).filter((p) => p.name !== "data");
    expect((await post("/sync/meta", form(noData))).status).toBe(400); // {} has no "v"
    const res = await post("/sync/abort", form(noData));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("null");
  });

  it("runs msync/begin with the client version from the v part and hands out the host key as sk", async () => {
    const begin = parts(null, { k: key, raw: Buffer.alloc(0), c: "0" }).concat([{ name: "v", value: "anki,2.1.50 (x),linux" }]);
    const res = await post("/msync/begin", form(begin));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ data: { usn: 0, sk: key }, err: "" });
    expect((await legacy("/msync/begin", {})).status).toBe(400); // no client version
    const changes = parts({ lastUsn: 0 }).concat([{ name: "sk", value: key }]);
    const c = await post("/msync/mediaChanges", form(changes));
    expect(JSON.parse(c.body.toString())).toEqual({ data: [], err: "" });
  });

  it("downloads a schema-11 copy in DELETE journal mode and keeps the live file at 18", async () => {
    const res = await legacy("/sync/download", {});
    expect(res.status).toBe(200);
    expect(res.headers.get("anki-original-size")).toBeNull();
    expect(res.headers.get("content-length")).toBe(String(res.body.length));
    expect(res.body.subarray(18, 20)).toEqual(Buffer.from([1, 1]));
    const file = join(base, "dl.anki2");
    writeFileSync(file, res.body);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT ver, usn FROM col").get()).toEqual({ ver: 11, usn: 1 });
      expect(db.pragma("journal_mode", { simple: true })).toBe("delete");
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      expect(tables).not.toContain("notetypes");
    } finally {
      db.close();
    }
    const live = openCollectionDb(join(userDir(), "collection.anki2"), { readonly: true });
    try {
      expect(live.prepare("SELECT ver FROM col").pluck().get()).toBe(18);
    } finally {
      live.close();
    }
    await expectNoLeftovers();
  });

  it("uploads a schema-11 file (upgraded, stamped with its own usn) and serves it back", async () => {
    const dl = await legacy("/sync/download", {});
    const file = join(base, "up.anki2");
    writeFileSync(file, dl.body);
    const db = new Database(file);
    db.prepare("UPDATE col SET usn = 7, mod = 1790000000000, scm = 1790000000000").run();
    db.close();
    const res = await legacy("/sync/upload", null, { raw: gzipSync(readFileSync(file)) });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("OK");
    const meta = JSON.parse((await legacy("/sync/meta", { v: 10, cv: "x" })).body.toString()) as Record<string, number>;
    expect(meta).toMatchObject({ usn: 7, mod: 1790000000000, scm: 1790000000000 });
    const live = openCollectionDb(join(userDir(), "collection.anki2"), { readonly: true });
    try {
      expect(live.prepare("SELECT ver FROM col").pluck().get()).toBe(18);
      expect(live.prepare("SELECT count(*) FROM notetypes").pluck().get()).toBe(6);
    } finally {
      live.close();
    }
    await expectNoLeftovers();
  });

  it("reports an upload that decompresses past the limit as too large", async () => {
    const res = await legacy("/sync/upload", null, { raw: gzipSync(Buffer.alloc(3 * 1024 * 1024)) });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("collection exceeds size limit");
    await expectNoLeftovers();
  });

  it("answers a zstd-enveloped request whose header says v10 raw, as the official server does", async () => {
    const header = JSON.stringify({ v: 10, k: key, c: "x", s: "s" });
    const res = await fetch(`${url}/sync/meta`, { method: "POST", body: compress(Buffer.from('{"v":10,"cv":"x"}')), headers: { "anki-sync": header } });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(res.headers.get("anki-original-size")).toBeNull();
    expect(JSON.parse(body.toString())).toMatchObject({ cont: true });
    // and v11 is still zstd
    const v11 = await fetch(`${url}/sync/meta`, { method: "POST", body: compress(Buffer.from('{"v":11,"cv":"x"}')), headers: { "anki-sync": JSON.stringify({ v: 11, k: key, c: "x", s: "s" }) } });
    expect(v11.headers.get("anki-original-size")).not.toBeNull();
    expect(JSON.parse(decompress(Buffer.from(await v11.arrayBuffer())).toString())).toMatchObject({ cont: true });
  });
});

describe("garbled legacy forms", () => {
  const cases: Array<[string, () => Promise<{ status: number }>, number]> = [
    ["not multipart", () => post("/sync/upload", gzipSync(Buffer.from("x")), "application/octet-stream"), 400],
    ["no boundary", () => post("/sync/upload", form(parts({}, { k: key })), "multipart/form-data"), 400],
    ["wrong boundary", () => post("/sync/upload", form(parts({}, { k: key })), "multipart/form-data; boundary=nope"), 400],
    ["truncated form", () => post("/sync/upload", form(parts({}, { k: key, raw: gzipSync(Buffer.alloc(5000, 1)) })).subarray(0, 300)), 400],
    ["not gzip", () => legacy("/sync/upload", null, { raw: Buffer.from("definitely not gzip") }), 400],
    ["truncated gzip", () => legacy("/sync/upload", null, { raw: gzipSync(Buffer.alloc(10000, 7)).subarray(0, 40) }), 400],
    ["not gzip (json route)", () => legacy("/sync/meta", null, { raw: Buffer.from("{}") }), 400],
    ["huge host key", () => post("/sync/meta", form(parts({ v: 10, cv: "x" }, { k: "k".repeat(100_000) }))), 400],
    ["huge session key", () => legacy("/sync/start", { minUsn: 0, lnewer: false }, { s: "s".repeat(100_000) }), 400],
    ["inline data part too big", () => post("/sync/upload", form([{ name: "data", value: Buffer.alloc(1024 * 1024 + 1, 97) }, { name: "c", value: "0" }, { name: "k", value: key }])), 400],
    ["body over MAX_SYNC_PAYLOAD_MEGS", () => legacy("/sync/upload", null, { raw: Buffer.alloc(1024 * 1024 + 1), c: "0" }), 400],
    ["json past the decompressed limit", () => legacy("/sync/meta", null, { raw: gzipSync(Buffer.alloc(3 * 1024 * 1024 + 1, 32)) }), 400],
    ["too many parts", () => post("/sync/meta", form([...parts({ v: 10, cv: "x" }, { k: key }), ...Array.from({ length: 100 }, (_, i) => ({ name: `x${i}`, value: "y" }))])), 400],
    ["no host key", () => post("/sync/upload", form(parts({}))), 403],
  ];

  it.each(cases)("%s gets a 4xx and nothing is written", async (_name, send, status) => {
    const before = JSON.parse((await legacy("/sync/meta", { v: 10, cv: "x" })).body.toString()) as Record<string, unknown>;
    const res = await send();
    expect(res.status).toBe(status);
    const after = JSON.parse((await legacy("/sync/meta", { v: 10, cv: "x" })).body.toString()) as Record<string, unknown>;
    expect({ ...after, ts: 0 }).toEqual({ ...before, ts: 0 });
    await expectNoLeftovers();
  });
});
