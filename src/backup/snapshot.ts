// `backup`: a dated, self-checking snapshot of the data folder, taken while
// the server runs.
//
// Per user, with the user held for reading by the running server (see
// control.ts; the user's sync steps wait meanwhile, nothing else does):
//   - collection.anki2 and media.db are copied with SQLite's online backup
//     API into a staging folder on the data folder's own (fast) disk;
//   - every media file is hard-linked into the staging folder (a metadata
//     operation): the server replaces and deletes media files by rename and
//     unlink, never in place, so the links keep exactly the state media.db
//     describes.
// Then, with the user released, the staged files go to the snapshot: media
// files unchanged since the previous snapshot (same name, size and SHA-1 in
// its media.db) are hard-linked from it, the others copied and checked
// against media.db. Each database copy is switched out of WAL mode and
// integrity-checked. The snapshot is written under a temporary name and
// renamed when complete, then older snapshots are rotated.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openCollectionDb } from "../collection/open.js";
import { logger } from "../log.js";
import { BACKUP_STAGING_PREFIX, COLLECTION_FILE, MEDIA_DB_FILE, MEDIA_FOLDER, SERVER_DB_FILE, userDir } from "../data-folder.js";
import { Coordinator } from "./coordinate.js";
import { acquirePidLock, copyWithSha1, fsyncDir, isProcessAlive, moveFile, removeTree, tryLink } from "./files.js";
import {
  BACKUP_LOCK,
  type CollectionInfo,
  INCOMPLETE_PREFIX,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type MediaDbInfo,
  type MediaFilesInfo,
  SNAPSHOT_DATA,
  type UserManifest,
  listSnapshots,
  listUsers,
  readManifest,
  snapshotName,
} from "./layout.js";
import { type RetentionPolicy, planRetention } from "./retention.js";
import { finishCopy, hashFile, onlineBackup } from "./sqlite.js";
import { OperatorError } from "../errors.js";

/** Refused before anything was written or deleted. */
export class BackupRefused extends OperatorError {}

export interface ProgressReporter {
  /** A transient status line (shown on a terminal, dropped otherwise). */
  status(text: string): void;
}

export interface BackupOptions extends RetentionPolicy {
  base: string;
  to: string;
  /** Only these users (default: every user with data). */
  users?: string[];
  /** How long to wait for a running server to hold a busy user. */
  holdTimeoutMs?: number;
  progress?: ProgressReporter;
  now?: () => Date;
}

export interface BackupResult {
  name: string;
  path: string;
  manifest: Manifest;
  /** Snapshots deleted by retention. */
  removed: string[];
  /** Users whose data could not be backed up (also in the manifest); retention was skipped. */
  failedUsers: string[];
}

const silent: ProgressReporter = { status: () => {} };

function checkBase(base: string, only: string[] | undefined): string[] {
  let isDir = false;
  try {
    isDir = statSync(base).isDirectory();
  } catch {
    // missing
  }
  if (!isDir) throw new BackupRefused(`the data folder ${base} does not exist; nothing was backed up or rotated`);
  const users = listUsers(base);
  if (users.length === 0) {
    throw new BackupRefused(
      `the data folder ${base} holds no users (no <user>/collection.anki2, media.db or media files); ` +
        "refusing to take an empty snapshot (is the right --base given, is the disk mounted?); nothing was rotated",
    );
  }
  if (!only) return users;
  const unknown = only.filter((u) => !users.includes(u));
  if (unknown.length > 0) throw new BackupRefused(`no data for user(s) ${unknown.join(", ")} in ${base}; nothing was backed up or rotated`);
  return [...new Set(only)].sort();
}

/** Removes what crashed runs left: incomplete snapshots and staging folders whose process is gone. */
function cleanLeftovers(to: string, base: string): void {
  for (const name of readdirSync(to)) {
    if (!name.startsWith(INCOMPLETE_PREFIX)) continue;
    const pid = Number(/-(\d+)$/.exec(name)?.[1]);
    if (!isProcessAlive(pid)) removeTree(join(to, name));
  }
  for (const name of readdirSync(base)) {
    if (!name.startsWith(BACKUP_STAGING_PREFIX)) continue;
    const pid = Number(/^\.backup-staging-(\d+)-/.exec(name)?.[1]);
    if (!isProcessAlive(pid)) removeTree(join(base, name));
  }
}

/** The newest earlier snapshot that has `user`, for hard-linking unchanged media. */
function previousUserDir(to: string, snapshots: string[], user: string): string | undefined {
  for (let i = snapshots.length - 1; i >= Math.max(0, snapshots.length - 10); i--) {
    const dir = join(to, snapshots[i]!);
    try {
      const manifest = readManifest(dir);
      const entry = manifest.users.find((u) => u.name === user);
      if (entry?.mediaDb) return join(dir, SNAPSHOT_DATA, user);
    } catch {
      // not usable for links
    }
  }
  return undefined;
}

interface MediaRow {
  fname: string;
  sha1: string;
  size: number;
}

function readMediaRows(mediaDbPath: string): Map<string, MediaRow> {
  const db = new Database(mediaDbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT fname, lower(hex(csum)) AS sha1, size FROM media WHERE size > 0").all() as MediaRow[];
    return new Map(rows.map((r) => [r.fname, r]));
  } finally {
    db.close();
  }
}

/** The `col` row values that decide what a client's next sync is. */
export function readCol(db: Database.Database): { scm: number; mod: number; usn: number } {
  const row = db.prepare("SELECT scm, mod, usn FROM col WHERE id = 1").get() as { scm: number; mod: number; usn: number } | undefined;
  if (!row) throw new Error("the collection has no col row");
  return row;
}

function collectionInfo(path: string, relative: string, sha256: string): CollectionInfo {
  const db = openCollectionDb(path, { mustExist: true, readonly: true });
  try {
    const header = readCol(db);
    const count = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return {
      path: relative,
      bytes: statSync(path).size,
      sha256,
      integrity: "ok",
      scm: header.scm,
      mod: header.mod,
      usn: header.usn,
      notes: count("notes"),
      cards: count("cards"),
      revlog: count("revlog"),
    };
  } finally {
    db.close();
  }
}

function mediaDbInfo(path: string, relative: string, sha256: string): MediaDbInfo {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const meta = db.prepare("SELECT last_usn, total_bytes, total_nonempty_files FROM meta").get() as
      | { last_usn: number; total_bytes: number; total_nonempty_files: number }
      | undefined;
    if (!meta) throw new Error(`${path} has no meta row`);
    return { path: relative, bytes: statSync(path).size, sha256, integrity: "ok", lastUsn: meta.last_usn, files: meta.total_nonempty_files, totalBytes: meta.total_bytes };
  } finally {
    db.close();
  }
}

const listFiles = (dir: string): string[] => {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
};

class UserBackup {
  readonly media: MediaFilesInfo = { files: 0, bytes: 0, linked: 0, copied: 0, bytesCopied: 0, missing: [], mismatched: [], untracked: 0 };
  bytesCopied = 0;

  constructor(
    private readonly user: string,
    private readonly liveDir: string,
    private readonly destDir: string,
    private readonly prevDir: string | undefined,
    private readonly progress: ProgressReporter,
  ) {}

  private status(text: string): void {
    this.progress.status(`${this.user}: ${text}`);
  }

  /** Copies the databases and links the media files into `stageDir`, under the server's read hold. */
  async stage(stageDir: string): Promise<void> {
    mkdirSync(join(stageDir, MEDIA_FOLDER), { recursive: true });
    for (const file of [COLLECTION_FILE, MEDIA_DB_FILE]) {
      const live = join(this.liveDir, file);
      if (!existsSync(live)) continue;
      await onlineBackup(live, join(stageDir, file), {
        stepwise: true,
        progress: (done, total) => this.status(`${file} ${Math.round((100 * done) / Math.max(total, 1))}%`),
      });
    }
    const names = listFiles(join(this.liveDir, MEDIA_FOLDER));
    let linkable = true;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const src = join(this.liveDir, MEDIA_FOLDER, name);
      const dest = join(stageDir, MEDIA_FOLDER, name);
      if (linkable && tryLink(src, dest)) continue;
      // No hard links on this file system: copy (the hold lasts longer).
      linkable = false;
      await copyWithSha1(src, dest);
      if (i % 50 === 0) this.status(`staging media ${i + 1}/${names.length}`);
    }
  }

  /** Writes the snapshot copy from `sourceDir` (the staging folder, or the live folder when no server runs). */
  async write(sourceDir: string, staged: boolean): Promise<UserManifest> {
    mkdirSync(join(this.destDir, MEDIA_FOLDER), { recursive: true, mode: 0o700 });
    const rel = (file: string) => `${SNAPSHOT_DATA}/${this.user}/${file}`;
    let collection: CollectionInfo | null = null;
    let mediaDb: MediaDbInfo | null = null;

    const copyDb = async (file: string): Promise<string | undefined> => {
      const src = join(sourceDir, file);
      if (!existsSync(src)) return undefined;
      const dest = join(this.destDir, file);
      if (staged) await moveFile(src, dest);
      else await onlineBackup(src, dest, { progress: (d, t) => this.status(`${file} ${Math.round((100 * d) / Math.max(t, 1))}%`) });
      this.status(`checking ${file}`);
      finishCopy(dest, file === COLLECTION_FILE ? "collection" : "plain");
      const { hex, bytes } = await hashFile(dest, "sha256");
      this.bytesCopied += bytes;
      return hex;
    };

    const colHash = await copyDb(COLLECTION_FILE);
    if (colHash !== undefined) collection = collectionInfo(join(this.destDir, COLLECTION_FILE), rel(COLLECTION_FILE), colHash);
    const mediaHash = await copyDb(MEDIA_DB_FILE);
    if (mediaHash !== undefined) mediaDb = mediaDbInfo(join(this.destDir, MEDIA_DB_FILE), rel(MEDIA_DB_FILE), mediaHash);

    await this.writeMedia(sourceDir, mediaDb !== null);
    fsyncDir(join(this.destDir, MEDIA_FOLDER));
    fsyncDir(this.destDir);
    return { name: this.user, collection, mediaDb, media: this.media };
  }

  private async writeMedia(sourceDir: string, haveMediaDb: boolean): Promise<void> {
    const srcFolder = join(sourceDir, MEDIA_FOLDER);
    const destFolder = join(this.destDir, MEDIA_FOLDER);
    const present = new Set(listFiles(srcFolder));
    const expected = haveMediaDb ? readMediaRows(join(this.destDir, MEDIA_DB_FILE)) : undefined;
    const prevRows = this.prevDir && existsSync(join(this.prevDir, MEDIA_DB_FILE)) ? readMediaRows(join(this.prevDir, MEDIA_DB_FILE)) : undefined;

    // With a media.db, exactly its non-deleted entries are the user's media;
    // without one (data adopted from elsewhere), every file is.
    const wanted = expected ? [...expected.keys()].sort() : [...present].sort();
    if (expected) this.media.untracked = [...present].filter((n) => !expected.has(n)).length;
    let done = 0;
    for (const name of wanted) {
      done++;
      if (done % 100 === 0) this.status(`media ${done}/${wanted.length}`);
      const want = expected?.get(name);
      const src = join(srcFolder, name);
      const dest = join(destFolder, name);
      if (!present.has(name)) {
        this.media.missing.push(name);
        continue;
      }
      const size = statSync(src).size;
      if (want && want.size !== size) {
        this.media.mismatched.push(name);
      } else if (this.prevDir && this.linkFromPrevious(name, want, size, prevRows, dest)) {
        this.media.linked++;
        this.media.files++;
        this.media.bytes += size;
        continue;
      }
      const { sha1, bytes } = await copyWithSha1(src, dest);
      if (want && sha1 !== want.sha1 && !this.media.mismatched.includes(name)) this.media.mismatched.push(name);
      this.media.copied++;
      this.media.files++;
      this.media.bytes += bytes;
      this.media.bytesCopied += bytes;
      this.bytesCopied += bytes;
    }
  }

  private linkFromPrevious(name: string, want: MediaRow | undefined, size: number, prevRows: Map<string, MediaRow> | undefined, dest: string): boolean {
    const prevFile = join(this.prevDir!, MEDIA_FOLDER, name);
    let prevSize: number;
    try {
      prevSize = statSync(prevFile).size;
    } catch {
      return false;
    }
    if (prevSize !== size) return false;
    if (want) {
      const prev = prevRows?.get(name);
      if (!prev || prev.sha1 !== want.sha1 || prev.size !== want.size) return false;
    }
    return tryLink(prevFile, dest);
  }
}

/** Copies the server database into the snapshot (an online SQLite backup), if there is one. */
async function copyServerDb(base: string, dataDir: string): Promise<Manifest["serverDb"]> {
  const liveServerDb = join(base, SERVER_DB_FILE);
  if (!existsSync(liveServerDb)) return null;
  const dest = join(dataDir, SERVER_DB_FILE);
  await onlineBackup(liveServerDb, dest);
  finishCopy(dest, "plain");
  const { hex, bytes } = await hashFile(dest, "sha256");
  return { path: `${SNAPSHOT_DATA}/${SERVER_DB_FILE}`, bytes, sha256: hex, integrity: "ok" };
}

function warnOfMediaMismatch(user: string, entry: UserManifest): void {
  if (entry.media.missing.length === 0 && entry.media.mismatched.length === 0) return;
  logger.warn("backup: media files on the server do not match media.db", {
    user,
    missing: entry.media.missing.length,
    mismatched: entry.media.mismatched.length,
    examples: [...entry.media.missing, ...entry.media.mismatched].slice(0, 5).join(", "),
  });
}

/** The manifest entry of a user whose backup failed: nothing of theirs is in the snapshot. */
function failedUserManifest(user: string, err: Error): UserManifest {
  return {
    name: user,
    collection: null,
    mediaDb: null,
    media: { files: 0, bytes: 0, linked: 0, copied: 0, bytesCopied: 0, missing: [], mismatched: [], untracked: 0 },
    error: err.message,
  };
}

interface ManifestParts {
  name: string;
  now: Date;
  base: string;
  serverRunning: boolean;
  serverDb: Manifest["serverDb"];
  users: UserManifest[];
  bytesCopied: number;
  started: number;
}

function buildManifest(p: ManifestParts): Manifest {
  const sum = (f: (u: UserManifest) => number) => p.users.reduce((a, u) => a + f(u), 0);
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    name: p.name,
    created: p.now.toISOString(),
    source: { base: p.base, host: hostname(), serverRunning: p.serverRunning },
    serverDb: p.serverDb,
    users: p.users,
    totals: {
      users: p.users.length,
      bytes: (p.serverDb?.bytes ?? 0) + sum((u) => (u.collection?.bytes ?? 0) + (u.mediaDb?.bytes ?? 0) + u.media.bytes),
      bytesCopied: p.bytesCopied,
      mediaLinked: sum((u) => u.media.linked),
      mediaCopied: sum((u) => u.media.copied),
    },
    durationMs: Date.now() - p.started,
  };
}

export async function takeBackup(options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const progress = options.progress ?? silent;
  const users = checkBase(options.base, options.users);
  mkdirSync(options.to, { recursive: true, mode: 0o700 });
  const unlock = acquirePidLock(join(options.to, BACKUP_LOCK), "another backup into this folder");
  let tmp: string | undefined;
  let stageRoot: string | undefined;
  let coordinator: Coordinator | undefined;
  try {
    cleanLeftovers(options.to, options.base);
    const now = (options.now ?? (() => new Date()))();
    let name = snapshotName(now);
    for (let n = 2; existsSync(join(options.to, name)); n++) name = `${snapshotName(now)}-${n}`;
    tmp = join(options.to, `${INCOMPLETE_PREFIX}${name}-${process.pid}`);
    const dataDir = join(tmp, SNAPSHOT_DATA);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const earlier = listSnapshots(options.to);

    coordinator = await Coordinator.open(options.base, "read");
    const serverRunning = coordinator.serverRunning;
    const holdTimeoutMs = options.holdTimeoutMs ?? 120_000;

    const serverDb = await copyServerDb(options.base, dataDir);

    const manifests: UserManifest[] = [];
    const failedUsers: string[] = [];
    let bytesCopied = serverDb?.bytes ?? 0;
    for (const user of users) {
      const liveDir = userDir(options.base, user);
      const job = new UserBackup(user, liveDir, join(dataDir, user), previousUserDir(options.to, earlier, user), progress);
      try {
        let entry: UserManifest;
        if (serverRunning) {
          stageRoot ??= join(options.base, `${BACKUP_STAGING_PREFIX}${process.pid}-${randomBytes(4).toString("hex")}`);
          const stageDir = join(stageRoot, user);
          progress.status(`${user}: waiting for the server to hold the user`);
          await coordinator.withUser(user, "read", holdTimeoutMs, () => job.stage(stageDir));
          entry = await job.write(stageDir, true);
          removeTree(stageDir);
        } else {
          entry = await job.write(liveDir, false);
        }
        manifests.push(entry);
        warnOfMediaMismatch(user, entry);
      } catch (err) {
        failedUsers.push(user);
        logger.error("backup of user failed", { user, reason: (err as Error).message });
        removeTree(join(dataDir, user));
        manifests.push(failedUserManifest(user, err as Error));
      }
      bytesCopied += job.bytesCopied;
    }

    const manifest = buildManifest({ name, now, base: options.base, serverRunning, serverDb, users: manifests, bytesCopied, started });
    writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n", { mode: 0o600 });
    fsyncDir(dataDir);
    fsyncDir(tmp);
    const final = join(options.to, name);
    renameSync(tmp, final);
    tmp = undefined;
    fsyncDir(options.to);

    let removed: string[] = [];
    if (failedUsers.length === 0) {
      removed = planRetention(listSnapshots(options.to), options, name).remove;
      for (const old of removed) removeTree(join(options.to, old));
      if (removed.length > 0) fsyncDir(options.to);
    }
    return { name, path: final, manifest, removed, failedUsers };
  } finally {
    if (tmp) removeTree(tmp);
    if (stageRoot) removeTree(stageRoot);
    await coordinator?.close();
    unlock();
  }
}
