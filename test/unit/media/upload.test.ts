import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HttpError } from "../../../src/protocol/errors.js";
import { MediaDb } from "../../../src/media/db.js";
import { MAX_FILE_BYTES } from "../../../src/media/limits.js";
import { uploadChanges } from "../../../src/media/upload.js";
import { readUploadZip } from "../../../src/media/zip-in.js";
import { fakeUser, lieAboutFirstEntrySize, tempUserDir, uploadZip, writeTemp, zipBuffer } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempUserDir()));
afterEach(() => cleanup());

const sha1hex = (data: Buffer | string) => createHash("sha1").update(data).digest("hex");

/** Sends a zip through the real handler; returns the decoded result or the HTTP status it failed with. */
async function send(zip: Buffer): Promise<{ data: [number, number] } | { status: number; message: string }> {
  const path = writeTemp(dir, ".incoming-test.tmp", zip);
  try {
    const reply = await uploadChanges(fakeUser(dir), { path, bytes: zip.length, tooLarge: false });
    if (reply.kind !== "payload") throw new Error("expected a payload");
    const body = JSON.parse(reply.data.toString("utf8"));
    expect(body.err).toBe("");
    return { data: body.data };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, message: err.message };
    throw err;
  }
}

const usnOf = () => {
  const db = MediaDb.open(dir);
  try {
    return db.meta();
  } finally {
    db.close();
  }
};
const media = (name: string) => join(dir, "media", name);
const userFolderLeftovers = () => readdirSync(dir).filter((n) => n.startsWith(".media-") || n.startsWith("media-pending"));

describe("uploadChanges bookkeeping", () => {
  it("takes one usn per effective change and none for no-ops", async () => {
    expect(await send(await uploadZip([["a.txt", Buffer.from("a1")], ["b.txt", Buffer.from("b1")]]))).toEqual({ data: [2, 2] });
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a1");
    // identical content, deleting what is absent: processed, but no usn
    expect(await send(await uploadZip([["a.txt", Buffer.from("a1")], ["nothing.txt", null]]))).toEqual({ data: [2, 2] });
    // replace + delete
    expect(await send(await uploadZip([["a.txt", Buffer.from("a2")], ["b.txt", null]]))).toEqual({ data: [2, 4] });
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a2");
    expect(existsSync(media("b.txt"))).toBe(false);
    expect(usnOf()).toEqual({ lastUsn: 4, totalBytes: 2, totalNonemptyFiles: 1 });
    // re-adding a deleted name is an addition
    expect(await send(await uploadZip([["b.txt", Buffer.from("b2")]]))).toEqual({ data: [1, 5] });
    expect(usnOf()).toEqual({ lastUsn: 5, totalBytes: 4, totalNonemptyFiles: 2 });
    expect(userFolderLeftovers()).toEqual([]);
  });

  it("applies entries in _meta order, the same name possibly twice", async () => {
    expect(await send(await uploadZip([["x", Buffer.from("1")], ["x", Buffer.from("2")], ["y", Buffer.from("y")], ["y", null]]))).toEqual({ data: [4, 4] });
    expect(readFileSync(media("x"), "utf8")).toBe("2");
    expect(existsSync(media("y"))).toBe(false);
    const db = MediaDb.open(dir);
    try {
      expect(db.changesAfter(0, 10)).toEqual([
        ["x", 2, sha1hex("2")],
        ["y", 4, ""],
      ]);
    } finally {
      db.close();
    }
    expect(userFolderLeftovers()).toEqual([]);
  });

  it("accepts deflated entries, the object form of _meta and \"\" for a deletion", async () => {
    expect(await send(await uploadZip([["d.txt", Buffer.from("deflate me ".repeat(100))]], { compress: true }))).toEqual({ data: [1, 1] });
    const zip = await zipBuffer([{ name: "_meta", data: Buffer.from(JSON.stringify([{ actual_filename: "d.txt", filename_in_zip: "" }])) }]);
    expect(await send(zip)).toEqual({ data: [1, 2] });
    expect(existsSync(media("d.txt"))).toBe(false);
  });

  it("puts back a file missing on disk when the same content is uploaded again (no usn)", async () => {
    await send(await uploadZip([["a.txt", Buffer.from("a1")]]));
    writeFileSync(media("a.txt"), ""); // damaged on disk
    expect(await send(await uploadZip([["a.txt", Buffer.from("a1")]]))).toEqual({ data: [1, 1] });
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a1");
  });
});

describe("uploadChanges refuses the whole batch with 400", () => {
  const ok: [string, Buffer] = ["fine.txt", Buffer.from("fine")];
  const cases: [string, string, () => Promise<Buffer>][] = [
    ["../x", "path separator", () => uploadZip([ok, ["../x", Buffer.from("e")]])],
    ["/etc/x", "path separator", () => uploadZip([ok, ["/etc/x", Buffer.from("e")]])],
    ["a/b", "path separator", () => uploadZip([ok, ["a/b", Buffer.from("e")]])],
    ["NUL", "control character", () => uploadZip([ok, ["a\u0000b", Buffer.from("e")]])],
    ["..", ". or ..", () => uploadZip([ok, ["..", null]])],
    ["300 bytes", "longer than 255", () => uploadZip([ok, ["n".repeat(300), Buffer.from("e")]])],
    ["NFD", "not NFC", () => uploadZip([ok, ["cafe\u0301", Buffer.from("e")]])],
    ["26 entries", "26 entries", () => uploadZip(Array.from({ length: 26 }, (_, i): [string, Buffer] => [`f${i}`, Buffer.from("x")]))],
    ["zero bytes", "zero bytes", () => uploadZip([ok, ["empty", Buffer.alloc(0)]])],
    ["missing entry", "missing zip entry", () => uploadZip([ok], { meta: [["fine.txt", "0"], ["other", "5"]] })],
    ["no _meta", "no _meta", () => zipBuffer([{ name: "0", data: Buffer.from("x") }])],
    ["_meta not JSON", "not valid JSON", () => zipBuffer([{ name: "_meta", data: Buffer.from("[[") }])],
    ["_meta object", "not an array", () => zipBuffer([{ name: "_meta", data: Buffer.from('{"a":"0"}') }])],
    ["_meta triple", "not a pair", () => uploadZip([ok], { meta: [["fine.txt", "0", 1]] })],
    ["_meta too long", "larger than 51200", () => uploadZip([ok], { meta: [["fine.txt", "0"], ...Array.from({ length: 20 }, () => ["pad".repeat(1000), null])] })],
    ["not a zip", "not a readable zip", async () => Buffer.from("definitely not a zip file, just text")],
    ["empty body", "not a readable zip", async () => Buffer.alloc(0)],
    ["truncated", "not a readable zip", async () => (await uploadZip([ok])).subarray(0, 40)],
    ["duplicate entry names", "appears twice", () => zipBuffer([{ name: "0", data: Buffer.from("a") }, { name: "0", data: Buffer.from("b") }, { name: "_meta", data: Buffer.from('[["f","0"]]') }])],
    ["declared over 100 MiB", "larger than 104857600", async () => lieAboutFirstEntrySize(await uploadZip([ok], { compress: true }), MAX_FILE_BYTES + 1)],
    // a deflate stream far bigger than its header says (a zip bomb that lies)
    ["lying header", "too many bytes", async () => lieAboutFirstEntrySize(await uploadZip([["bomb", Buffer.alloc(4 * 1024 * 1024)]], { compress: true }), 1000)],
  ];

  it.each(cases)("%s", async (_label, reason, build) => {
    await send(await uploadZip([["before.txt", Buffer.from("before")]]));
    const before = usnOf();
    const result = await send(await build());
    expect(result).toMatchObject({ status: 400 });
    expect((result as { message: string }).message).toContain(reason);
    expect(usnOf()).toEqual(before);
    expect(readdirSync(join(dir, "media"))).toEqual(["before.txt"]);
    expect(userFolderLeftovers()).toEqual([]);
  });

  // The same refusals from the streaming reader, which takes zips too big
  // for memory (a batch with one large file).
  it.each(cases)("%s (streamed from the spool file)", async (_label, reason, build) => {
    MediaDb.open(dir).close();
    const path = writeTemp(dir, "in.zip", await build());
    const failure = await readUploadZip(path, dir).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(HttpError);
    expect((failure as HttpError).status).toBe(400);
    expect((failure as HttpError).message).toContain(reason);
    expect(userFolderLeftovers()).toEqual([]);
  });

  it("refuses a stored entry whose data runs past the end of the zip", async () => {
    const zip = await zipBuffer([
      { name: "0", data: Buffer.from("0123456789") },
      { name: "_meta", data: Buffer.from('[["f","0"]]') },
    ]);
    // Claim 1 MiB of stored data for entry "0" in the central directory.
    const damaged = Buffer.from(zip);
    const central = damaged.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    damaged.writeUInt32LE(1024 * 1024, central + 20);
    damaged.writeUInt32LE(1024 * 1024, central + 24);
    const result = await send(damaged);
    expect(result).toMatchObject({ status: 400 });
    expect(userFolderLeftovers()).toEqual([]);
    expect(readdirSync(join(dir, "media"))).toEqual([]);
  });

  it("refuses a body that hit the payload limit", async () => {
    const path = writeTemp(dir, ".incoming-test.tmp", await uploadZip([["a", Buffer.from("a")]]));
    await expect(uploadChanges(fakeUser(dir), { path, bytes: 1, tooLarge: true })).rejects.toMatchObject({ status: 400 });
  });

  it("refuses a real deflate bomb over the per-file limit without writing it", async () => {
    // 101 MiB of zeros deflates to ~100 KiB; the header tells the truth here
    const zeros = Buffer.alloc(MAX_FILE_BYTES + 1024 * 1024);
    const zip = await uploadZip([["bomb", zeros]], { compress: true });
    expect(zip.length).toBeLessThan(1024 * 1024);
    expect(await send(zip)).toMatchObject({ status: 400 });
    expect(readdirSync(join(dir, "media"))).toEqual([]);
  });
});

describe("batch size limit", () => {
  it("accepts a small zip of a big compressible file (extracted by streaming, not in memory)", async () => {
    const zeros = Buffer.alloc(20 * 1024 * 1024, 0x61);
    const zip = await uploadZip([["big.txt", zeros], ["small.txt", Buffer.from("s")]], { compress: true });
    expect(zip.length).toBeLessThan(1024 * 1024);
    expect(await send(zip)).toEqual({ data: [2, 2] });
    expect(readFileSync(media("big.txt")).equals(zeros)).toBe(true);
    expect(readFileSync(media("small.txt"), "utf8")).toBe("s");
    expect(userFolderLeftovers()).toEqual([]);
  });

  it("refuses more file bytes than a real client batch can hold (2.5 MiB + 100 MiB)", async () => {
    const zeros = Buffer.alloc(55 * 1024 * 1024);
    const zip = await uploadZip([["big1", zeros], ["big2", zeros]], { compress: true });
    const result = await send(zip);
    expect(result).toMatchObject({ status: 400 });
    expect((result as { message: string }).message).toContain("batch declares");
    expect(readdirSync(join(dir, "media"))).toEqual([]);
  });
});

describe("readUploadZip", () => {
  it("hashes and sizes what it extracts, in _meta order", async () => {
    MediaDb.open(dir).close();
    const path = writeTemp(dir, "in.zip", await uploadZip([["b", Buffer.from("bb")], ["gone", null], ["a", Buffer.from("a")]]));
    const changes = await readUploadZip(path, dir);
    expect(changes.map((c) => [c.kind, c.name])).toEqual([
      ["file", "b"],
      ["delete", "gone"],
      ["file", "a"],
    ]);
    const first = changes[0]!;
    if (first.kind !== "file") throw new Error("expected a file");
    expect(first.size).toBe(2);
    expect(first.sha1.toString("hex")).toBe(sha1hex("bb"));
    expect(readFileSync(join(dir, first.temp), "utf8")).toBe("bb");
  });

  it("reads a zip the same from memory and from its file", async () => {
    MediaDb.open(dir).close();
    const text = Buffer.from("compressible ".repeat(500));
    const random = createHash("sha512").update("seed").digest();
    const zip = await zipBuffer([
      { name: "0", data: random },
      { name: "1", data: text, compress: true },
      { name: "_meta", data: Buffer.from('[["r.bin","0"],["t.txt","1"],["gone",null]]') },
    ]);
    const fromMemory = await readUploadZip(zip, dir);
    const fromFile = await readUploadZip(writeTemp(dir, "in.zip", zip), dir);
    const summary = (changes: Awaited<ReturnType<typeof readUploadZip>>) =>
      changes.map((c) => (c.kind === "file" ? [c.name, c.size, c.sha1.toString("hex"), readFileSync(join(dir, c.temp)).toString("hex")] : [c.name]));
    expect(summary(fromMemory)).toEqual(summary(fromFile));
    expect(summary(fromMemory)).toEqual([
      ["r.bin", random.length, sha1hex(random), random.toString("hex")],
      ["t.txt", text.length, sha1hex(text), text.toString("hex")],
      ["gone"],
    ]);
  });

  it("ignores entries _meta does not reference", async () => {
    const zip = await zipBuffer([
      { name: "0", data: Buffer.from("used") },
      { name: "junk", data: deflateRawSync(Buffer.alloc(10)) },
      { name: "_meta", data: Buffer.from('[["u.txt","0"]]') },
    ]);
    expect(await send(zip)).toEqual({ data: [1, 1] });
  });
});
