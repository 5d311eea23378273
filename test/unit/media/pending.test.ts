// Crash safety of uploads: the redo log and what opening the DB does with it.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HttpError } from "../../../src/protocol/errors.js";
import { MediaDb, addedEntry, removedEntry, replacedEntry } from "../../../src/media/db.js";
import { newUploadTempName, pendingPath } from "../../../src/media/paths.js";
import { writePending } from "../../../src/media/pending.js";
import { uploadChanges } from "../../../src/media/upload.js";
import { fakeUser, tempUserDir, uploadZip, writeTemp } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  // A new folder per test: the once-per-process temp-file sweep has not seen it yet.
  ({ dir, cleanup } = tempUserDir());
});
afterEach(() => {
  vi.restoreAllMocks();
  cleanup();
});

const sha = (n: number) => Buffer.alloc(20, n);
const media = (name: string) => join(dir, "media", name);
const leftovers = () => readdirSync(dir).filter((n) => n.startsWith(".media-") || n.startsWith("media-pending"));

async function send(zip: Buffer): Promise<unknown> {
  const path = writeTemp(dir, ".incoming-test.tmp", zip);
  try {
    const reply = await uploadChanges(fakeUser(dir), { path, bytes: zip.length, tooLarge: false });
    return reply.kind === "payload" ? JSON.parse(reply.data.toString()).data : undefined;
  } finally {
    rmSync(path, { force: true });
  }
}

/** DB with a.txt (usn 1) and b.txt (usn 2) and their files. */
function seed(): void {
  const db = MediaDb.open(dir);
  try {
    db.transaction((meta) => {
      db.setEntry(addedEntry(meta, "a.txt", sha(1), 2));
      db.setEntry(addedEntry(meta, "b.txt", sha(2), 2));
    });
  } finally {
    db.close();
  }
  writeFileSync(media("a.txt"), "a1");
  writeFileSync(media("b.txt"), "b1");
}

describe("recovery when opening the media DB", () => {
  it("finishes a batch that committed but was not put on disk", () => {
    seed();
    const temp = newUploadTempName();
    const spare = newUploadTempName();
    writeFileSync(join(dir, temp), "a2");
    writeFileSync(join(dir, spare), "superseded");
    // the transaction committed: a.txt replaced (3), b.txt removed (4)
    const db = MediaDb.open(dir);
    db.transaction((meta) => {
      db.setEntry(replacedEntry(meta, db.nonemptyEntry("a.txt")!, sha(3), 2));
      db.setEntry(removedEntry(meta, db.nonemptyEntry("b.txt")!));
    });
    db.close();
    writePending(dir, { usn: 4, write: [[temp, "a.txt"]], remove: ["b.txt"], discard: [spare] });

    MediaDb.open(dir).close();
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a2");
    expect(existsSync(media("b.txt"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("tolerates a batch that was already partly put on disk", () => {
    seed();
    const db = MediaDb.open(dir);
    db.transaction((meta) => db.setEntry(replacedEntry(meta, db.nonemptyEntry("a.txt")!, sha(3), 2)));
    db.close();
    writeFileSync(media("a.txt"), "a2"); // renamed before the crash; the temp is gone
    writePending(dir, { usn: 3, write: [[newUploadTempName(), "a.txt"]], remove: [], discard: [] });
    MediaDb.open(dir).close();
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a2");
    expect(leftovers()).toEqual([]);
  });

  it("throws away a batch whose transaction never committed", () => {
    seed();
    const temp = newUploadTempName();
    writeFileSync(join(dir, temp), "a2");
    writePending(dir, { usn: 4, write: [[temp, "a.txt"]], remove: ["b.txt"], discard: [] });
    const db = MediaDb.open(dir);
    expect(db.meta().lastUsn).toBe(2);
    db.close();
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a1");
    expect(readFileSync(media("b.txt"), "utf8")).toBe("b1");
    expect(leftovers()).toEqual([]);
  });

  it("refuses to guess with an unreadable log", () => {
    seed();
    writeFileSync(pendingPath(dir), JSON.stringify({ usn: 2, write: [["../../etc/passwd", "x"]], remove: [], discard: [] }));
    expect(() => MediaDb.open(dir)).toThrow(/unreadable/);
    expect(existsSync(pendingPath(dir))).toBe(true);
  });

  it("sweeps temp files a crash left before any log was written, once per process", async () => {
    MediaDb.open(dir).close();
    const stale = newUploadTempName();
    writeFileSync(join(dir, stale), "x");
    writeFileSync(join(dir, ".media-download-" + "0".repeat(32) + ".zip"), "x");
    writeFileSync(join(dir, ".incoming-keep.tmp"), "not ours");
    // Within the process that already opened the folder they may belong to running requests.
    MediaDb.open(dir).close();
    expect(existsSync(join(dir, stale))).toBe(true);
    // A new process (fresh module state) sweeps them on its first open.
    vi.resetModules();
    const fresh = await import("../../../src/media/db.js");
    fresh.MediaDb.open(dir).close();
    expect(readdirSync(dir).sort()).toEqual([".incoming-keep.tmp", "media", "media.db"].sort());
  });
});

describe("uploads interrupted by failures", () => {
  it("after the commit: the request fails, the log stays, the next open completes the batch", async () => {
    // a directory squatting on the target name makes the rename fail after the commit
    MediaDb.open(dir).close();
    mkdirSync(media("a.txt"));
    writeFileSync(join(media("a.txt"), "inside"), "x");
    await expect(send(await uploadZip([["a.txt", Buffer.from("a1")]]))).rejects.toThrow();
    expect(existsSync(pendingPath(dir))).toBe(true);
    // the operator clears the obstacle; the next request's open finishes the job
    rmSync(media("a.txt"), { recursive: true });
    const db = MediaDb.open(dir);
    expect(db.meta().lastUsn).toBe(1);
    db.close();
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a1");
    expect(leftovers()).toEqual([]);
    // and an identical re-upload by the client (which saw an error) is a no-op
    expect(await send(await uploadZip([["a.txt", Buffer.from("a1")]]))).toEqual([1, 1]);
  });

  it("before the commit (log already written): nothing is kept", async () => {
    seed();
    const spy = vi.spyOn(MediaDb.prototype as unknown as { setMeta: () => void }, "setMeta").mockImplementation(() => {
      throw new Error("disk full");
    });
    await expect(send(await uploadZip([["a.txt", Buffer.from("a2")], ["c.txt", Buffer.from("c")], ["b.txt", null]]))).rejects.toThrow("disk full");
    spy.mockRestore();
    const db = MediaDb.open(dir);
    expect(db.meta()).toEqual({ lastUsn: 2, totalBytes: 4, totalNonemptyFiles: 2 });
    db.close();
    expect(readFileSync(media("a.txt"), "utf8")).toBe("a1");
    expect(readFileSync(media("b.txt"), "utf8")).toBe("b1");
    expect(existsSync(media("c.txt"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("a refused batch leaves no temp files", async () => {
    seed();
    await expect(send(await uploadZip([["ok.txt", Buffer.from("ok")], ["bad/name", Buffer.from("x")]]))).rejects.toBeInstanceOf(HttpError);
    expect(leftovers()).toEqual([]);
    expect(readdirSync(join(dir, "media")).sort()).toEqual(["a.txt", "b.txt"]);
  });
});
