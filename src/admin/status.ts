// What the status page shows, gathered from the server's own records: host
// keys (devices), the sync activity table, the users' files, the backup
// folder's newest manifest and the recent failed logins. No secret is ever
// part of it: devices are named by the first characters of their key's hash.
import { existsSync, statSync, statfsSync } from "node:fs";
import { join } from "node:path";
import type { HostKeyInfo, HostKeyStore } from "../auth/hostkeys.js";
import { listUsers } from "../backup/layout.js";
import { openCollectionDb } from "../collection/open.js";
import { readMediaTotals } from "../http/metrics.js";
import type { SyncActivity, SyncOutcome } from "../ops/activity.js";
import type { BackupState, BackupStatus } from "../ops/backup-status.js";
import { VERSION } from "../ops/version.js";
import { COLLECTION_FILE, userDir } from "../data-folder.js";
import type { FailedLogin, RecentFailedLogins } from "./failed-logins.js";

export interface UserStatus {
  name: string;
  /** Whether the server currently accepts this user's logins (else: data left behind by a removed user). */
  active: boolean;
  devices: Omit<HostKeyInfo, "credentialFingerprint" | "user">[];
  syncs: SyncOutcome[];
  collectionBytes: number | null;
  mediaBytes: number;
  mediaFiles: number;
  /** null when there is no collection yet, or it could not be read now. */
  notes: number | null;
  cards: number | null;
  /** Why the counts are missing, if they are. */
  countsNote?: string;
}

export interface ServerStatus {
  version: string;
  startedAt: number;
  base: string;
  freeBytes: number | null;
  totalBytes: number | null;
  backup: BackupState | undefined;
  backupDir: string | undefined;
  backupRunning: boolean;
  failedLogins: FailedLogin[];
}

export interface StatusSources {
  base: string;
  startedAt: number;
  hostKeys: HostKeyStore;
  activity: SyncActivity;
  userNames: () => string[];
  backups: BackupStatus | undefined;
  failedLogins: RecentFailedLogins;
  /** Users a restore or reset-user holds right now: their files are not opened. */
  isBlocked: (user: string) => boolean;
  backupRunning: () => boolean;
}

export function serverStatus(src: StatusSources): ServerStatus {
  let freeBytes: number | null = null;
  let totalBytes: number | null = null;
  try {
    const st = statfsSync(src.base);
    freeBytes = Number(st.bavail) * Number(st.bsize);
    totalBytes = Number(st.blocks) * Number(st.bsize);
  } catch {
    // shown as unknown; /health reports the data folder
  }
  return {
    version: VERSION,
    startedAt: src.startedAt,
    base: src.base,
    freeBytes,
    totalBytes,
    backup: src.backups?.read(),
    backupDir: src.backups?.options.dir,
    backupRunning: src.backupRunning(),
    failedLogins: src.failedLogins.list(),
  };
}

export function userStatuses(src: StatusSources): UserStatus[] {
  const active = new Set(src.userNames());
  let withData: string[] = [];
  try {
    withData = listUsers(src.base);
  } catch {
    // an unreadable data folder shows up in /health
  }
  const activity = src.activity.all();
  const names = [...new Set([...active, ...withData])].sort((a, b) => a.localeCompare(b));
  return names.map((name) => {
    const devices = src.hostKeys.list(name).map(({ credentialFingerprint: _fp, user: _user, ...rest }) => rest);
    const dir = userDir(src.base, name);
    const media = readMediaTotals(dir);
    const status: UserStatus = {
      name,
      active: active.has(name),
      devices,
      syncs: activity.get(name) ?? [],
      collectionBytes: collectionBytes(dir),
      mediaBytes: media.bytes,
      mediaFiles: media.files,
      notes: null,
      cards: null,
    };
    if (src.isBlocked(name)) status.countsNote = "being restored or reset";
    else Object.assign(status, readCounts(join(dir, COLLECTION_FILE)));
    return status;
  });
}

function collectionBytes(dir: string): number | null {
  const path = join(dir, COLLECTION_FILE);
  if (!existsSync(path)) return null;
  let bytes = 0;
  for (const suffix of ["", "-wal"]) bytes += statSync(path + suffix, { throwIfNoEntry: false })?.size ?? 0;
  return bytes;
}

/** Note and card counts from a connection of its own: it sees committed data only, never a sync half-way. */
function readCounts(path: string): Pick<UserStatus, "notes" | "cards" | "countsNote"> {
  if (!existsSync(path)) return { notes: null, cards: null, countsNote: "no collection yet" };
  let db;
  try {
    db = openCollectionDb(path, { mustExist: true });
    db.pragma("busy_timeout = 1000");
    const notes = db.prepare("SELECT count(*) FROM notes").pluck().get() as number;
    const cards = db.prepare("SELECT count(*) FROM cards").pluck().get() as number;
    return { notes, cards };
  } catch (err) {
    return { notes: null, cards: null, countsNote: `cannot read: ${(err as Error).message}` };
  } finally {
    db?.close();
  }
}
