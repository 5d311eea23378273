// The per-user "last sync" record behind `user list` and the status page: what
// it keeps for each kind, and that its cheaper commit leaves the server
// database's durability setting (host keys) as it was.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openServerDb } from "../../../src/auth/server-db.js";
import { SyncActivity } from "../../../src/ops/activity.js";

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function open(): { base: string; activity: SyncActivity; close: () => void } {
  const base = mkdtempSync(join(tmpdir(), "activity-"));
  dirs.push(base);
  const db = openServerDb(base);
  return { base, activity: new SyncActivity(db), close: () => db.close() };
}

describe("sync activity", () => {
  it("keeps the last outcome per kind and the last success across a failure", () => {
    const { activity, close } = open();
    expect(activity.record("alice", "/sync/finish", 200, "anki,26.9", 1000)).toBe("normal");
    expect(activity.record("alice", "/sync/applyChunk", 500, "anki,26.9", 2000)).toBe("normal");
    expect(activity.record("alice", "/sync/meta", 200, "anki,26.9", 3000)).toBeUndefined();
    expect(activity.record("alice", "/msync/mediaSanity", 200, "anki,26.9", 4000)).toBe("media");
    const alice = activity.all().get("alice") ?? [];
    const normal = alice.find((o) => o.kind === "normal");
    expect(normal).toMatchObject({ at: 2000, ok: false, status: 500, lastOkAt: 1000 });
    expect(activity.latest().get("alice")).toMatchObject({ kind: "media", ok: true });
    close();
  });

  it("survives reopening the database, which stays at synchronous FULL for everything else", () => {
    const { base, activity, close } = open();
    activity.record("bob", "/sync/upload", 200, "anki,26.9", 5000);
    close();
    const db = openServerDb(base);
    expect(Number(db.pragma("synchronous", { simple: true }))).toBe(2);
    const again = new SyncActivity(db);
    again.record("bob", "/sync/download", 200, "anki,26.9", 6000);
    expect(Number(db.pragma("synchronous", { simple: true }))).toBe(2);
    expect(again.all().get("bob")?.map((o) => o.kind)).toEqual(["full_download", "full_upload"]);
    db.close();
  });
});
