// How fresh the newest backup is, read from the manifest of the newest
// complete snapshot in the configured backup folder (--backup-dir). Feeds the
// anki_sync_last_backup_* metrics, the "backup" health check and the status
// page, so an alert fires when the nightly backup stops.
import { statSync } from "node:fs";
import { join } from "node:path";
import { type Manifest, listSnapshots, parseSnapshotName, readManifest } from "../backup/layout.js";

/** The folder is listed at most this often (a scrape every 15 s need not read it every time). */
const CACHE_MS = 30_000;

export interface LastBackup {
  /** Snapshot folder name, e.g. 2026-08-23T031500Z. */
  name: string;
  /** When it was taken (ms since the epoch). */
  takenAt: number;
  bytes: number;
  users: number;
  durationMs: number;
  /** Users the backup could not copy (the snapshot is incomplete for them). */
  failedUsers: string[];
  /** Every copied database passed SQLite's integrity check while the backup ran (the manifest records only such copies). */
  verified: boolean;
}

export type BackupState =
  | { kind: "ok"; last: LastBackup }
  | { kind: "none" }
  /** The folder or the newest manifest cannot be read. */
  | { kind: "unreadable"; reason: string };

export interface BackupStatusOptions {
  dir: string;
  /** The health check fails when the newest backup is older than this; 0 = never (metrics only). */
  maxAgeMs: number;
  /** When the server started: with no backup at all, the check only fails once the server has run for maxAgeMs. */
  startedAt?: number;
  now?: () => number;
}

export function summarize(name: string, manifest: Manifest): LastBackup {
  const created = Date.parse(manifest.created);
  const failedUsers = manifest.users.filter((u) => u.error !== undefined).map((u) => u.name);
  return {
    name,
    takenAt: Number.isNaN(created) ? (parseSnapshotName(name)?.getTime() ?? 0) : created,
    bytes: manifest.totals.bytes,
    users: manifest.totals.users,
    durationMs: manifest.durationMs,
    failedUsers,
    verified: failedUsers.length === 0,
  };
}

export class BackupStatus {
  private cached: { at: number; state: BackupState; signature: string } | undefined;
  private readonly now: () => number;
  private readonly startedAt: number;

  constructor(readonly options: BackupStatusOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = options.startedAt ?? this.now();
  }

  /** Forget the cache (after a backup taken from the status page). */
  invalidate(): void {
    this.cached = undefined;
  }

  read(): BackupState {
    const now = this.now();
    // A new snapshot renames a folder into the backup folder, which changes its mtime.
    const signature = folderSignature(this.options.dir);
    if (this.cached && now - this.cached.at < CACHE_MS && this.cached.signature === signature) return this.cached.state;
    let state: BackupState;
    try {
      const names = listSnapshots(this.options.dir);
      const newest = names[names.length - 1];
      state = newest === undefined ? { kind: "none" } : { kind: "ok", last: summarize(newest, readManifest(join(this.options.dir, newest))) };
    } catch (err) {
      state = { kind: "unreadable", reason: (err as Error).message };
    }
    this.cached = { at: now, state, signature };
    return state;
  }

  /** Throws (with the reason) when the backups are not fresh; the health check's "backup". */
  check(): void {
    const state = this.read();
    const maxAge = this.options.maxAgeMs;
    if (state.kind === "unreadable") throw new Error(`backup folder: ${state.reason}`);
    if (maxAge === 0) return;
    const now = this.now();
    if (state.kind === "none") {
      if (now - this.startedAt > maxAge) throw new Error(`no backup in ${this.options.dir}`);
      return;
    }
    const age = now - state.last.takenAt;
    if (age > maxAge) throw new Error(`newest backup ${state.last.name} is ${Math.round(age / 3_600_000)} h old (limit ${Math.round(maxAge / 3_600_000)} h)`);
    if (state.last.failedUsers.length > 0) throw new Error(`newest backup ${state.last.name} is incomplete for ${state.last.failedUsers.join(", ")}`);
  }

  /** Prometheus lines (text format 0.0.4). With no backup yet the timestamp is 0, so "time() - x > limit" fires. */
  metricLines(): string[] {
    const state = this.read();
    const last = state.kind === "ok" ? state.last : undefined;
    const gauge = (name: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
    return [
      ...gauge("anki_sync_last_backup_timestamp_seconds", "When the newest complete backup snapshot was taken (0: none).", last ? Math.floor(last.takenAt / 1000) : 0),
      ...gauge("anki_sync_last_backup_size_bytes", "Bytes of data in the newest backup snapshot.", last?.bytes ?? 0),
      ...gauge("anki_sync_last_backup_duration_seconds", "How long the newest backup took.", last ? last.durationMs / 1000 : 0),
      ...gauge("anki_sync_last_backup_complete", "1 if the newest backup copied every user, 0 if not (or none, or unreadable).", last && last.failedUsers.length === 0 ? 1 : 0),
    ];
  }
}

function folderSignature(dir: string): string {
  try {
    const st = statSync(dir);
    return `${st.mtimeMs}`;
  } catch {
    return "missing";
  }
}
