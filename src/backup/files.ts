// File helpers for snapshots: copying with a checksum and fsync, hard links
// with a copy fallback, directory fsync, removing trees, stale-owner checks.
export { fsyncDir } from "../durable.js";
import { createHash } from "node:crypto";
import {
  constants,
  createReadStream,
  lchownSync,
  linkSync,
  lstatSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { open } from "node:fs/promises";
import { OperatorError } from "../errors.js";

/**
 * Copies `src` to `dest` (which must not exist), fsyncs it, keeps the
 * source's modification time, and returns the SHA-1 of what was written.
 */
export async function copyWithSha1(src: string, dest: string): Promise<{ sha1: string; bytes: number }> {
  const hash = createHash("sha1");
  let bytes = 0;
  const out = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: 1024 * 1024 })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      bytes += buf.length;
      let offset = 0;
      while (offset < buf.length) {
        const { bytesWritten } = await out.write(buf, offset, buf.length - offset);
        offset += bytesWritten;
      }
    }
    await out.sync();
  } catch (err) {
    await out.close().catch(() => undefined);
    rmSync(dest, { force: true });
    throw err;
  }
  await out.close();
  const st = statSync(src);
  utimesSync(dest, st.atime, st.mtime);
  return { sha1: hash.digest("hex"), bytes };
}

/** Hard-links `src` to `dest`; false when the file system cannot (other device, no links, too many links). */
export function tryLink(src: string, dest: string): boolean {
  try {
    linkSync(src, dest);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EXDEV" || code === "EPERM" || code === "EMLINK" || code === "ENOTSUP" || code === "EOPNOTSUPP") return false;
    throw err;
  }
}

/** Moves a file, copying across file systems. */
export async function moveFile(src: string, dest: string): Promise<void> {
  try {
    renameSync(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyWithSha1(src, dest);
    rmSync(src, { force: true });
  }
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class LockedError extends OperatorError {}

/** A lock file holding our pid; a lock left by a dead process is taken over. */
export function acquirePidLock(path: string, what: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(path, "utf8").trim());
      } catch {
        // vanished meanwhile: try again
      }
      if (isProcessAlive(owner) && owner !== process.pid) throw new LockedError(`${what} (pid ${owner}) is already running (lock file ${path})`);
      rmSync(path, { force: true });
    }
  }
  throw new LockedError(`could not take the lock ${path}`);
}

/**
 * When running as root (an operator's sudo), gives `path` and everything in
 * it the owner of `reference` (the data folder), so the server's own user
 * can still write what a maintenance command created.
 */
export function matchOwner(path: string, reference: string): void {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = statSync(reference);
  if (uid === 0 && gid === 0) return;
  const walk = (p: string) => {
    lchownSync(p, uid, gid);
    if (lstatSync(p).isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(path);
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true, maxRetries: 3 });
}
