// backup / verify / restore / reset-user on a data folder with no server running.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listSnapshots, readManifest } from "../../../src/backup/layout.js";
import { resetUser } from "../../../src/backup/reset.js";
import { RestoreRefused, restoreSnapshot } from "../../../src/backup/restore.js";
import { BackupRefused, takeBackup } from "../../../src/backup/snapshot.js";
import { verifySnapshot } from "../../../src/backup/verify.js";
import { UNKNOWN_MEDIA_USN_FLOOR } from "../../../src/backup/media-usn.js";
import { addMedia, makeUser, mediaMeta, mediaRows, readCol, setCol, tempRoot } from "./helpers.js";

let root: string;
let cleanup: () => void;
let base: string;
let to: string;

beforeEach(() => {
  ({ root, cleanup } = tempRoot());
  base = join(root, "data");
  to = join(root, "backups");
  mkdirSync(base);
});
afterEach(() => cleanup());

const files = (n: number, tag = "f") => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${tag}${i}.jpg`, Buffer.from(`${tag} ${i} `.repeat(50 + i))]));
let clock = Date.UTC(2026, 7, 1, 3);
const nextDay = () => new Date((clock += 86_400_000));

describe("backup", () => {
  it("refuses a missing or empty data folder and leaves the backup folder alone", async () => {
    await expect(takeBackup({ base: join(root, "nope"), to })).rejects.toBeInstanceOf(BackupRefused);
    expect(existsSync(to)).toBe(false);
    mkdirSync(join(base, "alice", "media"), { recursive: true }); // created at start, never synced
    await expect(takeBackup({ base, to, keepDaily: 0 })).rejects.toThrow(/holds no users/);
    expect(existsSync(to)).toBe(false);
  });

  it("writes a verified snapshot with a manifest, and links unchanged media the second time", async () => {
    makeUser(base, "alice", files(5), { scm: 111, mod: 222, usn: 7 });
    makeUser(base, "bob", {});
    const first = await takeBackup({ base, to, now: nextDay });
    expect(first.failedUsers).toEqual([]);
    const m = readManifest(first.path);
    expect(m.users.map((u) => u.name)).toEqual(["alice", "bob"]);
    const alice = m.users[0]!;
    expect(alice.collection).toMatchObject({ scm: 111, mod: 222, usn: 7, integrity: "ok", notes: 0 });
    expect(alice.mediaDb).toMatchObject({ lastUsn: 5, files: 5 });
    expect(alice.media).toMatchObject({ files: 5, copied: 5, linked: 0, missing: [], mismatched: [] });
    expect(m.serverDb).toBeNull();
    // self-contained copies: no WAL beside them, rollback journal mode
    const snapUser = join(first.path, "data", "alice");
    expect(readdirSync(snapUser).sort()).toEqual(["collection.anki2", "media", "media.db"]);
    const db = new Database(join(snapUser, "collection.anki2"), { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("delete");
    db.close();
    expect((await verifySnapshot(first.path)).problems).toEqual([]);

    const second = await takeBackup({ base, to, now: nextDay });
    const alice2 = readManifest(second.path).users[0]!;
    expect(alice2.media).toMatchObject({ files: 5, copied: 0, linked: 5 });
    for (const name of Object.keys(files(5))) {
      const a = statSync(join(first.path, "data", "alice", "media", name));
      const b = statSync(join(second.path, "data", "alice", "media", name));
      expect(b.ino).toBe(a.ino);
    }
    expect(readdirSync(to).filter((n) => n.startsWith("."))).toEqual([]); // no lock, no temp folders left
  });

  it("records media files that are missing or damaged on the server, and still completes", async () => {
    const dir = makeUser(base, "alice", files(3));
    writeFileSync(join(dir, "media", "f1.jpg"), "not what media.db says");
    rmSync(join(dir, "media", "f2.jpg"));
    writeFileSync(join(dir, "media", "stray.bin"), "untracked");
    const result = await takeBackup({ base, to, now: nextDay });
    const media = readManifest(result.path).users[0]!.media;
    expect(media.missing).toEqual(["f2.jpg"]);
    expect(media.mismatched).toEqual(["f1.jpg"]);
    expect(media.untracked).toBe(1);
    const report = await verifySnapshot(result.path);
    expect(report.problems).toEqual([]);
    expect(report.warnings).toHaveLength(2);
  });

  it("rotates only after a complete snapshot, keeping the newest per day", async () => {
    makeUser(base, "alice", files(1));
    for (let i = 0; i < 4; i++) await takeBackup({ base, to, now: nextDay });
    const day = nextDay();
    await takeBackup({ base, to, now: () => day });
    const last = await takeBackup({ base, to, now: () => new Date(day.getTime() + 3600_000), keepDaily: 2 });
    expect(last.removed).toHaveLength(4);
    expect(listSnapshots(to)).toHaveLength(2);
  });

  it("backs up --user only and refuses unknown users", async () => {
    makeUser(base, "alice", files(1));
    makeUser(base, "bob", files(1));
    const r = await takeBackup({ base, to, users: ["bob"], now: nextDay });
    expect(r.manifest.users.map((u) => u.name)).toEqual(["bob"]);
    await expect(takeBackup({ base, to, users: ["carol"] })).rejects.toThrow(/carol/);
  });
});

describe("verify", () => {
  it("finds a damaged database and a damaged media file", async () => {
    makeUser(base, "alice", files(2));
    const { path } = await takeBackup({ base, to, now: nextDay });
    const media = join(path, "data", "alice", "media", "f0.jpg");
    writeFileSync(media, Buffer.from("f0 0 ".repeat(50)).fill(65, 0, 3)); // same size, other bytes
    let report = await verifySnapshot(path);
    expect(report.problems).toEqual([expect.stringContaining("f0.jpg is damaged")]);
    const col = join(path, "data", "alice", "collection.anki2");
    const bytes = readFileSync(col);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(col, bytes);
    report = await verifySnapshot(path, { users: ["alice"] });
    expect(report.problems[0]).toMatch(/checksum/);
    await expect(restoreSnapshot({ base, from: path })).rejects.toBeInstanceOf(RestoreRefused);
  });
});

describe("restore", () => {
  it("forces every device into a full sync and moves media usns past the old ones", async () => {
    const dir = makeUser(base, "alice", files(3), { scm: 1000, mod: 2000, usn: 5 });
    const { path } = await takeBackup({ base, to, now: nextDay });
    // after the snapshot: more syncs, more media, a newer schema
    setCol(join(dir, "collection.anki2"), { scm: 5000, mod: 9_000_000_000_000, usn: 9 });
    addMedia(dir, files(4, "later"));
    expect(mediaMeta(dir).last_usn).toBe(7);

    const now = 4_000_000_000_000;
    const result = await restoreSnapshot({ base, from: path, now: () => now });
    const col = readCol(join(dir, "collection.anki2"));
    expect(col.usn).toBe(5); // as in the snapshot
    expect(col.scm).toBe(now); // new: no device shares it
    expect(col.mod).toBe(9_000_000_000_001); // above both the snapshot's and the replaced one's
    expect(result.users[0]).toMatchObject({ name: "alice", scm: now, mediaLastUsn: 7 + 3, mediaFiles: 3 });
    // the snapshot's three entries, renumbered above everything handed out before, in order
    expect(mediaRows(dir)).toEqual([
      { fname: "f0.jpg", usn: 8, size: expect.any(Number) },
      { fname: "f1.jpg", usn: 9, size: expect.any(Number) },
      { fname: "f2.jpg", usn: 10, size: expect.any(Number) },
    ]);
    expect(mediaMeta(dir)).toMatchObject({ last_usn: 10, total_nonempty_files: 3 });
    expect(readdirSync(join(dir, "media")).sort()).toEqual(["f0.jpg", "f1.jpg", "f2.jpg"]);
    expect(readdirSync(base).filter((n) => n.startsWith("."))).toEqual([]); // nothing staged or old left, socket gone
  });

  it("restores a user whose folder is gone", async () => {
    makeUser(base, "alice", files(1));
    const { path } = await takeBackup({ base, to, now: nextDay });
    rmSync(join(base, "alice"), { recursive: true });
    await restoreSnapshot({ base, from: path });
    expect(readdirSync(join(base, "alice", "media"))).toEqual(["f0.jpg"]);
    expect(mediaMeta(join(base, "alice")).last_usn).toBe(2); // 1 entry above the snapshot's usn 1
  });
});

describe("reset-user", () => {
  it("--media-only empties the media and starts usns above the old ones", async () => {
    const dir = makeUser(base, "alice", files(4), { mod: 77 });
    writeFileSync(join(dir, ".media-upload-" + "0".repeat(32) + ".tmp"), "x");
    const r = await resetUser({ base, user: "alice", mediaOnly: true });
    expect(r.mediaLastUsn).toBe(5);
    expect(mediaMeta(dir)).toEqual({ last_usn: 5, total_bytes: 0, total_nonempty_files: 0 });
    expect(readdirSync(join(dir, "media"))).toEqual([]);
    expect(readCol(join(dir, "collection.anki2")).mod).toBe(77); // collection untouched
    expect(readdirSync(dir).sort()).toEqual(["collection.anki2", "media", "media.db"]);
  });

  it("full reset leaves an empty folder whose media usns continue", async () => {
    const dir = makeUser(base, "alice", files(2));
    await resetUser({ base, user: "alice", mediaOnly: false });
    expect(readdirSync(dir).sort()).toEqual(["media", "media.db"]);
    expect(mediaMeta(dir).last_usn).toBe(3);
    await expect(resetUser({ base, user: "nobody", mediaOnly: false })).rejects.toThrow(/no folder/);
  });

  it("jumps far ahead when the old media.db cannot be read", async () => {
    const dir = makeUser(base, "alice", {});
    writeFileSync(join(dir, "media.db"), "garbage that is not sqlite, long enough to have a header".repeat(20));
    const r = await resetUser({ base, user: "alice", mediaOnly: true });
    expect(r.mediaLastUsn).toBe(UNKNOWN_MEDIA_USN_FLOOR + 1);
  });
});
