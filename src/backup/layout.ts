// Where things are: users in a data folder, snapshots in a backup folder, and
// the manifest that describes a snapshot.
//
//   <backup dir>/
//     2026-08-23T031500Z/             one complete snapshot (UTC time it was taken)
//       manifest.json                 what is in it, with sizes and checksums
//       data/                         the data folder's layout: usable as --base
//         .anki-sync-server.sqlite3   host keys and the user store
//         <user>/collection.anki2
//         <user>/media.db
//         <user>/media/<files>
//     .incomplete-<name>-<pid>/       a snapshot being written (renamed when complete)
//     .backup.lock                    held (pid inside) while a backup runs
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { COLLECTION_FILE, MEDIA_DB_FILE, MEDIA_FOLDER, userDir } from "../data-folder.js";
import { OperatorError } from "../errors.js";

export const MANIFEST_FILE = "manifest.json";
export const SNAPSHOT_DATA = "data";
export const MANIFEST_FORMAT = "anki-sync-server-backup";
export const MANIFEST_VERSION = 1;
export const INCOMPLETE_PREFIX = ".incomplete-";
export const BACKUP_LOCK = ".backup.lock";

const SNAPSHOT_NAME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d+))?$/;

/** 2026-08-23T031500Z: sortable, no colons (they upset some file systems and tools). */
export function snapshotName(date: Date): string {
  const iso = date.toISOString(); // 2026-08-23T03:15:00.000Z
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** The time a snapshot name stands for, or undefined when the name is not a snapshot's. */
export function parseSnapshotName(name: string): Date | undefined {
  const m = SNAPSHOT_NAME.exec(name);
  if (!m) return undefined;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  // Date.UTC rolls over (month 13, second 99): only names that are real times count.
  if (Number.isNaN(date.getTime()) || snapshotName(date) !== name.replace(/-\d+$/, "")) return undefined;
  return date;
}

export interface CollectionInfo {
  path: string;
  bytes: number;
  sha256: string;
  integrity: "ok";
  scm: number;
  mod: number;
  usn: number;
  notes: number;
  cards: number;
  revlog: number;
}

export interface MediaDbInfo {
  path: string;
  bytes: number;
  sha256: string;
  integrity: "ok";
  lastUsn: number;
  /** Non-deleted entries (what mediaSanity counts). */
  files: number;
  totalBytes: number;
}

export interface MediaFilesInfo {
  /** Files in the snapshot's media/ folder. */
  files: number;
  bytes: number;
  /** Hard-linked from the previous snapshot (unchanged), and copied. */
  linked: number;
  copied: number;
  bytesCopied: number;
  /** Entries of media.db whose file was missing, or whose content did not match its checksum, on the server. */
  missing: string[];
  mismatched: string[];
  /** Files in media/ that media.db does not list (not copied). */
  untracked: number;
}

export interface UserManifest {
  name: string;
  collection: CollectionInfo | null;
  mediaDb: MediaDbInfo | null;
  media: MediaFilesInfo;
  /** Set when this user could not be backed up (the snapshot has nothing usable for them). */
  error?: string;
}

export interface ServerDbInfo {
  path: string;
  bytes: number;
  sha256: string;
  integrity: "ok";
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  name: string;
  created: string;
  /** The data folder it was taken from, and whether a server was serving it. */
  source: { base: string; host: string; serverRunning: boolean };
  serverDb: ServerDbInfo | null;
  users: UserManifest[];
  totals: { users: number; bytes: number; bytesCopied: number; mediaLinked: number; mediaCopied: number };
  durationMs: number;
}

export class ManifestError extends OperatorError {}

export function readManifest(snapshotDir: string): Manifest {
  const path = join(snapshotDir, MANIFEST_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ManifestError(`${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "missing (not a complete snapshot)" : (err as Error).message}`);
  }
  const m = parsed as Partial<Manifest>;
  if (m.format !== MANIFEST_FORMAT) throw new ManifestError(`${path}: not an anki-sync-server backup manifest`);
  if (m.version !== MANIFEST_VERSION) throw new ManifestError(`${path}: manifest version ${String(m.version)} is not supported (this build reads ${MANIFEST_VERSION})`);
  if (!Array.isArray(m.users)) throw new ManifestError(`${path}: no user list`);
  return m as Manifest;
}

/** A folder in the data folder that holds a user's data (not the server's own dot files). */
export function isUserFolder(base: string, name: string): boolean {
  if (name.startsWith(".")) return false;
  const dir = userDir(base, name);
  try {
    if (!statSync(dir).isDirectory()) return false;
  } catch {
    return false;
  }
  if (existsSync(join(dir, COLLECTION_FILE)) || existsSync(join(dir, MEDIA_DB_FILE))) return true;
  try {
    return readdirSync(join(dir, MEDIA_FOLDER)).length > 0;
  } catch {
    return false;
  }
}

/** Users with data in `base`, sorted. A folder the server created at start for a user who never synced does not count. */
export function listUsers(base: string): string[] {
  return readdirSync(base)
    .filter((name) => isUserFolder(base, name))
    .sort();
}

/** Complete snapshots in a backup folder (with a manifest), oldest first. */
export function listSnapshots(backupDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(backupDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names.filter((n) => parseSnapshotName(n) !== undefined && existsSync(join(backupDir, n, MANIFEST_FILE))).sort();
}
