import { rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MediaDb } from "../../../src/media/db.js";
import { reconcileMedia } from "../../../src/media/reconcile.js";
import { uploadChanges } from "../../../src/media/upload.js";
import { fakeUser, tempUserDir, uploadZip, writeTemp } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempUserDir()));
afterEach(() => cleanup());

async function put(files: [string, Buffer | null][]): Promise<void> {
  const path = writeTemp(dir, ".incoming-test.tmp", await uploadZip(files));
  try {
    await uploadChanges(fakeUser(dir), { path, bytes: 0, tooLarge: false });
  } finally {
    rmSync(path, { force: true });
  }
}

const meta = () => {
  const db = MediaDb.open(dir);
  try {
    return { ...db.meta(), rows: db.changesAfter(-1, 1000).map((r) => r[0]) };
  } finally {
    db.close();
  }
};

describe("reconcileMedia (operator repair)", () => {
  it("changes nothing when DB and folder agree", async () => {
    await put([["a", Buffer.from("a")], ["b", Buffer.from("bb")], ["c", null]]);
    writeFileSync(join(dir, "media", "stray"), "not in the DB");
    const report = reconcileMedia(dir);
    expect(report).toMatchObject({ entries: 2, missing: [], wrongSize: [], wrongContent: [], unreferenced: 1, changed: false, lastUsnAfter: 2 });
    expect(meta()).toMatchObject({ lastUsn: 2, totalBytes: 3, totalNonemptyFiles: 2 });
  });

  it("forgets entries whose files are missing or differ, and raises the usn once", async () => {
    await put([["keep", Buffer.from("k")], ["lost", Buffer.from("l")], ["short", Buffer.from("sss")], ["changed", Buffer.from("c1")]]);
    unlinkSync(join(dir, "media", "lost"));
    writeFileSync(join(dir, "media", "short"), "s");
    writeFileSync(join(dir, "media", "changed"), "c2");

    const dry = reconcileMedia(dir, { dryRun: true });
    expect(dry).toMatchObject({ missing: ["lost"], wrongSize: ["short"], wrongContent: ["changed"], changed: false });
    expect(meta().lastUsn).toBe(4);

    const report = reconcileMedia(dir);
    expect(report).toMatchObject({ missing: ["lost"], wrongSize: ["short"], wrongContent: ["changed"], changed: true, lastUsnBefore: 4, lastUsnAfter: 5 });
    expect(report.totalsAfter).toEqual({ bytes: 1, files: 1 });
    // rows dropped without deletion records: no device is told to delete its copy
    expect(meta()).toEqual({ lastUsn: 5, totalBytes: 1, totalNonemptyFiles: 1, rows: ["keep"] });
    // a second run finds nothing
    expect(reconcileMedia(dir)).toMatchObject({ changed: false, lastUsnAfter: 5 });
  });

  it("without hashing, only existence and size are checked", async () => {
    await put([["changed", Buffer.from("c1")]]);
    writeFileSync(join(dir, "media", "changed"), "c2");
    expect(reconcileMedia(dir, { verifyHashes: false })).toMatchObject({ wrongContent: [], changed: false });
  });

  it("repairs drifted totals without a usn", async () => {
    await put([["a", Buffer.from("aaa")]]);
    const db = MediaDb.open(dir);
    db.db.prepare("UPDATE meta SET total_bytes = 99, total_nonempty_files = 7").run();
    db.close();
    expect(reconcileMedia(dir)).toMatchObject({ changed: true, lastUsnAfter: 1, totalsAfter: { bytes: 3, files: 1 } });
    expect(meta()).toMatchObject({ lastUsn: 1, totalBytes: 3, totalNonemptyFiles: 1 });
  });
});
