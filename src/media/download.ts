// POST /msync/downloadFiles {"files": [names]}: a zip (no JSON wrapper) with
// a prefix of the requested files, in order: files are taken until their
// running size exceeds 2.5 MiB (so at least one, however large). The client
// assumes exactly the first N names were served and asks for the rest next.
//
// More than 25 names: 400. A name that is not a current (non-deleted) entry:
// 409. A current entry whose file is missing on disk is forgotten (row
// dropped, no deletion record, no usn, so no client deletes its copy) and
// answered 409, as the official server does; the client's next sync no
// longer sees it.
//
// A batch whose recorded sizes add up to at most SYNC_READ_BYTES (a typical
// batch) is read and zipped synchronously; a bigger one that still fits
// MAX_IN_MEMORY_ZIP_BYTES is built in memory with async reads, else into
// a temp file in the user folder that is streamed out and removed after the
// reply.
import { closeSync, fstatSync, openSync, rmSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { badRequest, conflict } from "../protocol/errors.js";
import { parseJsonObject } from "../protocol/json.js";
import type { Reply } from "../protocol/types.js";
import { logger } from "../log.js";
import type { UserState } from "../users/user.js";
import type { MediaDb, MediaEntry } from "./db.js";
import { MAX_FILES_PER_ZIP, TARGET_ZIP_BYTES } from "./limits.js";
import { nameForLog } from "./names.js";
import { newDownloadTempName } from "./paths.js";
import { MAX_IN_MEMORY_ZIP_BYTES, type SyncZipSource, type ZipSource, buildDownloadZip, buildDownloadZipSync, downloadZipSize, writeDownloadZip } from "./zip-out.js";
import { mediaDbOf } from "./connections.js";
import { replyBuffers } from "../buffer-pool.js";

/** Batches up to this many file bytes (by the DB's sizes) are read synchronously. */
export const SYNC_READ_BYTES = 4 * 1024 * 1024;

/**
 * zstd level of the reply: media is mostly compressed already (images, audio),
 * where level 1 costs a third of the CPU of the default 3 for the same size;
 * the big-reply path (sendFile) uses 1 too.
 */
const MEDIA_ZIP_LEVEL = 1;

function parseRequest(payload: Buffer): string[] {
  const request = parseJsonObject(payload, "msync/downloadFiles");
  const files = request.files;
  if (!Array.isArray(files) || !files.every((f): f is string => typeof f === "string")) {
    throw badRequest("msync/downloadFiles: \"files\" must be an array of strings");
  }
  if (files.length > MAX_FILES_PER_ZIP) throw badRequest(`msync/downloadFiles: too many files requested (${files.length})`);
  return files;
}

/** The entries to serve: a prefix of `names`, cut once past the byte target. */
export function selectEntries(db: MediaDb, names: string[]): MediaEntry[] {
  const selected: MediaEntry[] = [];
  let total = 0;
  for (const name of names) {
    const entry = db.nonemptyEntry(name);
    if (!entry) throw conflict(`msync/downloadFiles: no current file "${nameForLog(name)}"`);
    selected.push(entry);
    total += entry.size;
    if (total > TARGET_ZIP_BYTES) break;
  }
  return selected;
}

// Names come from the DB, which may have been adopted from elsewhere; never
// let one address anything but a file directly inside media/.
const unsafeOnDisk = (name: string) => name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0");

/** An open handle on the entry's file, or undefined if there is no such regular file. */
async function openEntryFile(folder: string, entry: MediaEntry): Promise<ZipSource | undefined> {
  if (unsafeOnDisk(entry.fname)) return undefined;
  let handle: FileHandle;
  try {
    handle = await open(join(folder, entry.fname), "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const st = await handle.stat();
    if (st.isFile()) return { name: entry.fname, handle, size: st.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
  await handle.close();
  return undefined;
}

/** Opens the selected files; forgets the first one that is missing and answers 409. */
async function openSources(db: MediaDb, entries: MediaEntry[], user: string): Promise<ZipSource[]> {
  const sources: ZipSource[] = [];
  try {
    for (const entry of entries) {
      const source = await openEntryFile(db.folder, entry);
      sources.push(source ?? forgetMissing(db, entry, user));
    }
    return sources;
  } catch (err) {
    await Promise.all(sources.map((s) => s.handle.close().catch(() => undefined)));
    throw err;
  }
}

/** The entry's file opened synchronously, or undefined if there is no such regular file. */
function openEntryFileSync(folder: string, entry: MediaEntry): SyncZipSource | undefined {
  if (unsafeOnDisk(entry.fname)) return undefined;
  let fd: number;
  try {
    fd = openSync(join(folder, entry.fname), "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return { name: entry.fname, fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  closeSync(fd);
  return undefined;
}

/** A missing file: forgotten, and the request answered 409. */
function forgetMissing(db: MediaDb, entry: MediaEntry, user: string): never {
  db.forget(entry);
  logger.warn("media file missing on disk; entry forgotten", { user, file: nameForLog(entry.fname) });
  throw conflict(`msync/downloadFiles: "${nameForLog(entry.fname)}" is missing on disk`);
}

/**
 * The whole reply built synchronously, or undefined when the files on disk
 * turn out too big for memory (the caller then takes the async path).
 */
function buildSmallReply(db: MediaDb, entries: MediaEntry[], user: string): Reply | undefined {
  const sources: SyncZipSource[] = [];
  try {
    for (const entry of entries) sources.push(openEntryFileSync(db.folder, entry) ?? forgetMissing(db, entry, user));
  } catch (err) {
    for (const s of sources) closeSync(s.fd);
    throw err;
  }
  if (downloadZipSize(sources) > MAX_IN_MEMORY_ZIP_BYTES) {
    for (const s of sources) closeSync(s.fd);
    return undefined;
  }
  // The zip goes into a buffer from the reply pool, given back once it is sent.
  let buffer: Buffer | undefined;
  const data = buildDownloadZipSync(sources, new Date(), (size) => (buffer = replyBuffers.take(size)));
  return {
    kind: "payload",
    data,
    compressionLevel: MEDIA_ZIP_LEVEL,
    release: () => {
      if (buffer) replyBuffers.give(buffer);
    },
  };
}

export async function downloadFiles(user: UserState, payload: Buffer): Promise<Reply> {
  const names = parseRequest(payload);
  const db = mediaDbOf(user);
  const entries = selectEntries(db, names);
  // A normal batch (~2.5 MiB) is read synchronously: per file, a few
  // page-cache reads cost less than the thread-pool round trips of async ones.
  if (entries.reduce((sum, e) => sum + e.size, 0) <= SYNC_READ_BYTES) {
    const reply = buildSmallReply(db, entries, user.name);
    if (reply) return reply;
  }
  const sources = await openSources(db, entries, user.name);
  if (downloadZipSize(sources) <= MAX_IN_MEMORY_ZIP_BYTES) return { kind: "payload", data: await buildDownloadZip(sources), compressionLevel: MEDIA_ZIP_LEVEL };
  const path = join(user.dir, newDownloadTempName());
  try {
    const size = await writeDownloadZip(sources, path);
    return { kind: "file", path, size, cleanup: () => rmSync(path, { force: true }) };
  } catch (err) {
    rmSync(path, { force: true });
    throw err;
  }
}
