// Backup freshness: the anki_sync_last_backup_* metrics and the "backup"
// health check, read from real snapshots that `takeBackup` wrote, and seen
// through a running server's /metrics and /health.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../../src/app.js";
import { takeBackup } from "../../../src/backup/snapshot.js";
import { loadConfig } from "../../../src/config.js";
import { BackupStatus } from "../../../src/ops/backup-status.js";
import { makeUser, tempRoot } from "../backup/helpers.js";

const HOUR = 3_600_000;
let cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function setup(): { base: string; to: string } {
  const { root, cleanup } = tempRoot();
  cleanups.push(cleanup);
  const base = join(root, "data");
  makeUser(base, "alice", { "a.jpg": Buffer.from("jpeg") });
  return { base, to: join(root, "backups") };
}

function metric(lines: string[] | string, name: string): number {
  const text = Array.isArray(lines) ? lines.join("\n") : lines;
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error(`${name} not exported:\n${text}`);
  return Number(m[1]);
}

describe("BackupStatus", () => {
  it("reports no backup as timestamp 0, and fails the check only once the server ran longer than the limit", () => {
    const { to } = setup();
    let now = Date.parse("2026-12-01T00:00:00Z");
    const status = new BackupStatus({ dir: to, maxAgeMs: 36 * HOUR, startedAt: now, now: () => now });
    expect(metric(status.metricLines(), "anki_sync_last_backup_timestamp_seconds")).toBe(0);
    expect(metric(status.metricLines(), "anki_sync_last_backup_complete")).toBe(0);
    expect(() => status.check()).not.toThrow();
    now += 37 * HOUR;
    status.invalidate();
    expect(() => status.check()).toThrow(/no backup in/);
  });

  it("reads the newest manifest and goes stale after the limit", async () => {
    const { base, to } = setup();
    const taken = [new Date("2026-12-01T03:00:00Z"), new Date("2026-12-02T03:00:00Z")];
    for (const date of taken) await takeBackup({ base, to, now: () => date });
    let now = taken[1]!.getTime() + 2 * HOUR;
    const status = new BackupStatus({ dir: to, maxAgeMs: 36 * HOUR, now: () => now });
    const lines = status.metricLines();
    expect(metric(lines, "anki_sync_last_backup_timestamp_seconds")).toBe(taken[1]!.getTime() / 1000);
    expect(metric(lines, "anki_sync_last_backup_size_bytes")).toBeGreaterThan(0);
    expect(metric(lines, "anki_sync_last_backup_complete")).toBe(1);
    const state = status.read();
    expect(state.kind === "ok" && state.last.name).toBe("2026-12-02T030000Z");
    expect(() => status.check()).not.toThrow();
    now += 35 * HOUR; // 37 h after the newest
    status.invalidate();
    expect(() => status.check()).toThrow(/2026-12-02T030000Z is 37 h old \(limit 36 h\)/);
    // 0 = metrics only, never a failing check
    expect(() => new BackupStatus({ dir: to, maxAgeMs: 0, now: () => now }).check()).not.toThrow();
  });

  it("fails the check for a backup folder it cannot read as one", () => {
    const { base } = setup();
    // a file, not a folder
    const status = new BackupStatus({ dir: join(base, "alice", "collection.anki2"), maxAgeMs: HOUR });
    expect(status.read().kind).toBe("unreadable");
    expect(() => status.check()).toThrow(/backup folder/);
  });
});

describe("a server with --backup-dir", () => {
  async function serve(base: string, to: string, maxAgeHours: string): Promise<RunningServer> {
    const config = loadConfig({ host: "127.0.0.1", port: "0", base, backupDir: to, backupMaxAge: maxAgeHours }, { SYNC_USER1: "alice:secret" });
    const running = await startServer(config);
    cleanups.push(() => running.close());
    return running;
  }

  it("exports the newest backup's time on /metrics and checks it on /health", async () => {
    const { base, to } = setup();
    const date = new Date(Date.now() - 3 * HOUR);
    await takeBackup({ base, to, now: () => date });
    const running = await serve(base, to, "36");
    const url = `http://127.0.0.1:${running.port}`;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metric(metrics, "anki_sync_last_backup_timestamp_seconds")).toBe(Math.floor(date.getTime() / 1000));
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { checks: Record<string, string> }).checks.backup).toBe("ok");
  });

  it("answers /health 503 with backup: fail when the newest backup is too old", async () => {
    const { base, to } = setup();
    const date = new Date(Date.now() - 3 * HOUR);
    await takeBackup({ base, to, now: () => date });
    const running = await serve(base, to, "2");
    const health = await fetch(`http://127.0.0.1:${running.port}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "fail", checks: { backup: "fail", data_folder: "ok", collection: "ok" } });
  });

  it("has no backup check or metrics without --backup-dir", async () => {
    const { base } = setup();
    const config = loadConfig({ host: "127.0.0.1", port: "0", base }, { SYNC_USER1: "alice:secret" });
    const running = await startServer(config);
    cleanups.push(() => running.close());
    const url = `http://127.0.0.1:${running.port}`;
    expect(await (await fetch(`${url}/metrics`)).text()).not.toContain("anki_sync_last_backup");
    expect(((await (await fetch(`${url}/health`)).json()) as { checks: Record<string, string> }).checks).not.toHaveProperty("backup");
  });
});
