import { existsSync, openSync, rmSync, unlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HttpError } from "../../../src/protocol/errors.js";
import type { Reply } from "../../../src/protocol/types.js";
import { begin } from "../../../src/media/begin.js";
import { mediaChanges } from "../../../src/media/changes.js";
import { MediaDb } from "../../../src/media/db.js";
import { SYNC_READ_BYTES, downloadFiles } from "../../../src/media/download.js";
import { mediaSanity } from "../../../src/media/sanity.js";
import { uploadChanges } from "../../../src/media/upload.js";
import { MAX_IN_MEMORY_ZIP_BYTES, buildDownloadZip, buildDownloadZipSync, crc32ForTests } from "../../../src/media/zip-out.js";
import { crc32 } from "node:zlib";
import { fakeUser, readZip, tempUserDir, uploadZip, writeTemp } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempUserDir()));
afterEach(() => cleanup());

const MIB = 1024 * 1024;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const payloadOf = (reply: Reply) => {
  if (reply.kind !== "payload") throw new Error("expected a payload");
  return JSON.parse(reply.data.toString("utf8"));
};

async function put(files: [string, Buffer | null][]): Promise<void> {
  const path = writeTemp(dir, ".incoming-test.tmp", await uploadZip(files));
  try {
    await uploadChanges(fakeUser(dir), { path, bytes: 0, tooLarge: false });
  } finally {
    rmSync(path, { force: true });
  }
}

async function download(names: unknown): Promise<Map<string, Buffer> | number> {
  let reply: Reply;
  try {
    reply = await downloadFiles(fakeUser(dir), json({ files: names }));
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
  if (reply.kind === "payload") return await readZip(reply.data);
  try {
    return await readZip(reply.path);
  } finally {
    reply.cleanup?.();
    expect(existsSync(reply.path)).toBe(false);
  }
}

describe("downloadFiles", () => {
  it("answers a zip of stored entries 0..n-1 and a _meta object naming them", async () => {
    await put([["b é.png", Buffer.from("bbb")], ["a.mp3", Buffer.from("aa")]]);
    const zip = await download(["a.mp3", "b é.png"]);
    expect(zip).toBeInstanceOf(Map);
    const entries = zip as Map<string, Buffer>;
    expect([...entries.keys()]).toEqual(["0", "1", "_meta"]);
    expect(JSON.parse(entries.get("_meta")!.toString())).toEqual({ "0": "a.mp3", "1": "b é.png" });
    expect(entries.get("0")!.toString()).toBe("aa");
    expect(entries.get("1")!.toString()).toBe("bbb");
  });

  it("serves a prefix: stops once the running size passes 2.5 MiB", async () => {
    const big = (n: number) => Buffer.alloc(2 * MIB, n);
    await put([["x1", big(1)], ["x2", big(2)], ["x3", big(3)], ["small", Buffer.from("s")]]);
    const two = (await download(["x1", "x2", "x3"])) as Map<string, Buffer>;
    expect(JSON.parse(two.get("_meta")!.toString())).toEqual({ "0": "x1", "1": "x2" });
    expect(two.get("1")!.equals(big(2))).toBe(true);
    const one = (await download(["x3", "small"])) as Map<string, Buffer>;
    expect(JSON.parse(one.get("_meta")!.toString())).toEqual({ "0": "x3", "1": "small" });
    const empty = (await download([])) as Map<string, Buffer>;
    expect(JSON.parse(empty.get("_meta")!.toString())).toEqual({});
  });

  it("streams a reply too big for memory through a temp file, with the same zip and CRCs", async () => {
    const huge = Buffer.alloc(MAX_IN_MEMORY_ZIP_BYTES + MIB);
    for (let i = 0; i < huge.length; i += 4096) huge[i] = i % 251;
    await put([["small.txt", Buffer.from("s")], ["huge.bin", huge]]);
    const reply = await downloadFiles(fakeUser(dir), json({ files: ["small.txt", "huge.bin"] }));
    expect(reply.kind).toBe("file");
    const zip = (await download(["small.txt", "huge.bin"])) as Map<string, Buffer>;
    expect(JSON.parse(zip.get("_meta")!.toString())).toEqual({ "0": "small.txt", "1": "huge.bin" });
    expect(zip.get("1")!.equals(huge)).toBe(true);
    if (reply.kind === "file") reply.cleanup?.();
  });

  it("builds a batch too big to read synchronously in memory, with the same zip", async () => {
    // 2.2 + 2.2 MiB (the second crosses the 2.5 MiB target and is the last
    // served): past SYNC_READ_BYTES (4 MiB), within MAX_IN_MEMORY_ZIP_BYTES
    const size = Math.floor(2.2 * MIB);
    expect(2 * size).toBeGreaterThan(SYNC_READ_BYTES);
    const big = (n: number) => Buffer.alloc(size, n);
    await put([["y1", big(1)], ["y2", big(2)]]);
    const reply = await downloadFiles(fakeUser(dir), json({ files: ["y1", "y2"] }));
    expect(reply.kind).toBe("payload");
    const zip = (await download(["y1", "y2"])) as Map<string, Buffer>;
    expect(JSON.parse(zip.get("_meta")!.toString())).toEqual({ "0": "y1", "1": "y2" });
    expect(zip.get("0")!.equals(big(1))).toBe(true);
    expect(zip.get("1")!.equals(big(2))).toBe(true);
  });

  it("the synchronous and the async builder write the same bytes", async () => {
    const files = [
      ["a.txt", Buffer.from("alpha")],
      ["b é.bin", Buffer.alloc(70_000, 7)],
    ] as const;
    for (const [name, data] of files) writeTemp(dir, name, data);
    const when = new Date(2024, 0, 2, 3, 4, 6);
    const sync = buildDownloadZipSync(
      files.map(([name, data]) => ({ name, fd: openSync(join(dir, name), "r"), size: data.length })),
      when,
    );
    const handles = await Promise.all(files.map(async ([name, data]) => ({ name, handle: await open(join(dir, name), "r"), size: data.length })));
    const async = await buildDownloadZip(handles, when);
    expect(sync.equals(async)).toBe(true);
    expect((await readZip(sync)).get("1")!.equals(files[1][1])).toBe(true);
  });

  it("the CRC-32 fallback for a Node without zlib.crc32 agrees with zlib", () => {
    const data = Buffer.from("The quick brown fox jumps over the lazy dog");
    expect(crc32ForTests(data)).toBe(0x414fa339);
    expect(crc32ForTests(data.subarray(10), crc32ForTests(data.subarray(0, 10)))).toBe(crc32(data));
  });

  it("refuses more than 25 names (400) and non-current names (409)", async () => {
    await put([["a", Buffer.from("a")], ["gone", Buffer.from("g")]]);
    await put([["gone", null]]);
    expect(await download(Array.from({ length: 26 }, () => "a"))).toBe(400);
    expect(await download("a")).toBe(400);
    expect(await download([1])).toBe(400);
    expect(await download(["a", "gone"])).toBe(409);
    expect(await download(["nope"])).toBe(409);
  });

  it("forgets a file missing on disk (no usn, no deletion record) and answers 409", async () => {
    await put([["a", Buffer.from("a")], ["b", Buffer.from("bb")]]);
    unlinkSync(join(dir, "media", "b"));
    expect(await download(["a", "b"])).toBe(409);
    const db = MediaDb.open(dir);
    try {
      expect(db.entry("b")).toBeUndefined();
      expect(db.meta()).toEqual({ lastUsn: 2, totalBytes: 1, totalNonemptyFiles: 1 });
    } finally {
      db.close();
    }
    expect(await download(["a"])).toBeInstanceOf(Map);
  });
});

describe("begin, mediaChanges, mediaSanity", () => {
  const info = { header: { version: 11, hostKey: "hk", clientVersion: "c", sessionKey: "s" }, address: "" };

  it("begin reports the usn and hands the host key back as sk", async () => {
    expect(payloadOf(begin(fakeUser(dir), json({ v: "anki,2.1.66,linux" }), info))).toEqual({ data: { usn: 0, sk: "hk" }, err: "" });
    await put([["a", Buffer.from("a")]]);
    expect(payloadOf(begin(fakeUser(dir), json({ v: "x" }), info)).data.usn).toBe(1);
    expect(() => begin(fakeUser(dir), json({}), info)).toThrow(HttpError);
    expect(() => begin(fakeUser(dir), json({ v: "" }), info)).toThrow(HttpError);
    expect(() => begin(fakeUser(dir), json({ v: 3 }), info)).toThrow(HttpError);
  });

  it("mediaChanges validates lastUsn and wraps the rows", async () => {
    await put([["a", Buffer.from("a")], ["b", null]]);
    expect(payloadOf(mediaChanges(fakeUser(dir), json({ lastUsn: 0 })))).toEqual({ data: [["a", 1, "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"]], err: "" });
    expect(payloadOf(mediaChanges(fakeUser(dir), json({ lastUsn: 1 }))).data).toEqual([]);
    for (const bad of [{}, { lastUsn: "1" }, { lastUsn: 1.5 }, { lastUsn: 2 ** 31 }]) {
      expect(() => mediaChanges(fakeUser(dir), json(bad))).toThrow(HttpError);
    }
  });

  it("mediaSanity compares the count of current files only", async () => {
    await put([["a", Buffer.from("a")], ["b", Buffer.from("b")]]);
    await put([["b", null]]);
    expect(payloadOf(mediaSanity(fakeUser(dir), json({ local: 1 })))).toEqual({ data: "OK", err: "" });
    expect(payloadOf(mediaSanity(fakeUser(dir), json({ local: 2 }))).data).toBe("mediaSanity");
    expect(() => mediaSanity(fakeUser(dir), json({ local: -1 }))).toThrow(HttpError);
  });
});
