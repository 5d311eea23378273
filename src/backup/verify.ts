// Checking a snapshot before it is trusted: the manifest, every database's
// size, SHA-256 and integrity, and every media file against media.db.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MEDIA_DB_FILE, MEDIA_FOLDER } from "../data-folder.js";
import { type Manifest, SNAPSHOT_DATA, readManifest } from "./layout.js";
import type { ProgressReporter } from "./snapshot.js";
import { hashFile, verifyDb } from "./sqlite.js";

export interface VerifyOptions {
  /** Only these users (default: all in the manifest, plus the server database). */
  users?: string[];
  progress?: ProgressReporter;
}

export interface VerifyReport {
  manifest: Manifest;
  users: string[];
  /** Anything that makes the snapshot unsafe to restore. */
  problems: string[];
  /** Known gaps recorded when the snapshot was taken (the server's own state was inconsistent). */
  warnings: string[];
}

async function checkFile(root: string, info: { path: string; bytes: number; sha256: string }, kind: "collection" | "plain", problems: string[]): Promise<void> {
  const path = join(root, info.path);
  if (!existsSync(path)) {
    problems.push(`${info.path} is missing`);
    return;
  }
  const { hex, bytes } = await hashFile(path, "sha256");
  if (bytes !== info.bytes || hex !== info.sha256) {
    problems.push(`${info.path} does not match its checksum in the manifest (damaged or modified)`);
    return;
  }
  try {
    verifyDb(path, kind);
  } catch (err) {
    problems.push((err as Error).message);
  }
}

export async function verifySnapshot(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const manifest = readManifest(dir);
  const problems: string[] = [];
  const warnings: string[] = [];
  const names = manifest.users.map((u) => u.name);
  const selected = options.users ?? names;
  for (const name of selected) {
    if (!names.includes(name)) problems.push(`the snapshot has no user ${name} (it has: ${names.join(", ") || "none"})`);
  }
  if (!options.users && manifest.serverDb) await checkFile(dir, manifest.serverDb, "plain", problems);

  for (const user of manifest.users.filter((u) => selected.includes(u.name))) {
    options.progress?.status(`verifying ${user.name}`);
    if (user.error !== undefined) {
      problems.push(`user ${user.name} could not be backed up when the snapshot was taken: ${user.error}`);
      continue;
    }
    if (user.collection) await checkFile(dir, user.collection, "collection", problems);
    if (user.mediaDb) await checkFile(dir, user.mediaDb, "plain", problems);
    if (user.media.missing.length > 0) {
      warnings.push(`user ${user.name}: ${user.media.missing.length} media file(s) listed in media.db were already missing on the server`);
    }
    if (user.media.mismatched.length > 0) {
      warnings.push(`user ${user.name}: ${user.media.mismatched.length} media file(s) already differed from media.db on the server`);
    }
    if (!user.mediaDb || problems.length > 0) continue;
    const known = new Set([...user.media.missing, ...user.media.mismatched]);
    const userDir = join(dir, SNAPSHOT_DATA, user.name);
    const db = new Database(join(userDir, MEDIA_DB_FILE), { readonly: true, fileMustExist: true });
    let rows: { fname: string; sha1: string; size: number }[];
    try {
      rows = db.prepare("SELECT fname, lower(hex(csum)) AS sha1, size FROM media WHERE size > 0 ORDER BY fname").all() as typeof rows;
    } finally {
      db.close();
    }
    let checked = 0;
    for (const row of rows) {
      if (++checked % 200 === 0) options.progress?.status(`verifying ${user.name}: media ${checked}/${rows.length}`);
      if (known.has(row.fname)) continue;
      const path = join(userDir, MEDIA_FOLDER, row.fname);
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        problems.push(`user ${user.name}: media file ${row.fname} is missing from the snapshot`);
        continue;
      }
      const { hex } = size === row.size ? await hashFile(path, "sha1") : { hex: "" };
      if (hex !== row.sha1) problems.push(`user ${user.name}: media file ${row.fname} is damaged (does not match media.db)`);
    }
  }
  return { manifest, users: selected, problems, warnings };
}
