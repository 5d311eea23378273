// Reading an uploadChanges zip (already decompressed from zstd into a temp
// file by the router). Everything is checked before anything reaches the
// media folder: on any problem the whole batch is refused with 400.
//
// Format: an entry `_meta` holding a JSON array with one element per change,
// either [actual_filename, filename_in_zip] or {"actual_filename": ..,
// "filename_in_zip": ..}; filename_in_zip names another entry holding the
// file's bytes, or is null / "" for a deletion. Other entries are ignored.
//
// Each referenced entry is streamed (never trusting its declared size) into a
// temp file in the user folder and hashed on the way. Once the whole batch is
// extracted, its temp files are fsynced together (in parallel, on libuv's
// thread pool) rather than one after the other as each is written.
import { createHash } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import yauzl from "yauzl";
import { asHttpError, badRequest, orBadRequestAsync } from "../protocol/errors.js";
import { MAX_FILES_PER_ZIP, MAX_FILE_BYTES, MAX_META_BYTES, MAX_UPLOAD_BATCH_BYTES, MAX_ZIP_ENTRIES } from "./limits.js";
import { mediaNameProblem, nameForLog } from "./names.js";
import { newUploadTempName } from "./paths.js";

export interface UploadedFile {
  kind: "file";
  name: string;
  /** Temp file name inside the user folder. */
  temp: string;
  size: number;
  sha1: Buffer;
}

export interface UploadedDeletion {
  kind: "delete";
  name: string;
}

export type UploadedChange = UploadedFile | UploadedDeletion;

interface MetaRow {
  name: string;
  /** undefined for a deletion. */
  inZip: string | undefined;
}

/** Parses the upload `_meta` JSON into rows; throws 400 on anything malformed. */
export function parseUploadMeta(text: string): MetaRow[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest("uploadChanges: _meta is not valid JSON");
  }
  if (!Array.isArray(value)) throw badRequest("uploadChanges: _meta is not an array");
  if (value.length > MAX_FILES_PER_ZIP) throw badRequest(`uploadChanges: ${value.length} entries in one zip (limit ${MAX_FILES_PER_ZIP})`);
  return value.map((item: unknown, i): MetaRow => {
    let name: unknown;
    let inZip: unknown;
    if (Array.isArray(item)) {
      if (item.length !== 2) throw badRequest(`uploadChanges: _meta entry ${i} is not a pair`);
      [name, inZip] = item;
    } else if (typeof item === "object" && item !== null) {
      name = (item as Record<string, unknown>).actual_filename;
      inZip = (item as Record<string, unknown>).filename_in_zip;
    } else {
      throw badRequest(`uploadChanges: _meta entry ${i} is neither a pair nor an object`);
    }
    if (typeof name !== "string") throw badRequest(`uploadChanges: _meta entry ${i} has no file name`);
    const problem = mediaNameProblem(name);
    if (problem) throw badRequest(`uploadChanges: refused file name ${nameForLog(JSON.stringify(name))}: ${problem}`);
    if (inZip !== null && inZip !== undefined && typeof inZip !== "string") throw badRequest(`uploadChanges: _meta entry ${i} has a bad zip entry name`);
    // Older clients (AnkiDroid) mark a deletion with "" instead of null.
    return { name, inZip: typeof inZip === "string" && inZip !== "" ? inZip : undefined };
  });
}

async function openZip(path: string): Promise<yauzl.ZipFile> {
  const zip = await orBadRequestAsync("uploadChanges: not a readable zip", () => yauzl.openPromise(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true }));
  // Errors reach the caller through eachEntry()/the entry streams; an
  // emission with no listener (e.g. after iteration ended) must not crash.
  zip.on("error", () => undefined);
  return zip;
}

async function readEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  if (zip.entryCount > MAX_ZIP_ENTRIES) throw badRequest(`uploadChanges: zip has ${zip.entryCount} entries (limit ${MAX_ZIP_ENTRIES})`);
  const entries = new Map<string, yauzl.Entry>();
  await orBadRequestAsync("uploadChanges: corrupt zip directory", async () => {
    for await (const entry of zip.eachEntry()) {
      if (entries.has(entry.fileName)) throw badRequest(`uploadChanges: zip entry "${nameForLog(entry.fileName)}" appears twice`);
      entries.set(entry.fileName, entry);
    }
  });
  return entries;
}

/**
 * Opens an entry's (decompressed, size-checked) data stream. Data starts
 * flowing through yauzl's internal pipes before anyone reads, so a size or
 * inflate error can be emitted right away: it is caught here (an unheard
 * 'error' event would take the process down) and rethrown by chunksOf().
 */
interface EntryStream {
  stream: Readable;
  /** The first error the stream emitted, if any. */
  error(): Error | undefined;
}

async function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<EntryStream> {
  if (entry.isEncrypted() || !entry.canDecodeFileData()) throw badRequest(`uploadChanges: zip entry "${nameForLog(entry.fileName)}" uses an unsupported method`);
  const stream: Readable = await orBadRequestAsync(`uploadChanges: cannot read zip entry "${nameForLog(entry.fileName)}"`, () => zip.openReadStreamPromise(entry));
  let first: Error | undefined;
  stream.on("error", (err: Error) => (first ??= err));
  return { stream, error: () => first };
}

/** Iterates an entry's chunks; throws if the stream failed, even before iteration began. */
async function* chunksOf(entry: EntryStream): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of entry.stream) {
      const early = entry.error();
      if (early) throw early;
      yield chunk as Buffer;
    }
  } finally {
    entry.stream.destroy();
  }
  const late = entry.error();
  if (late) throw late;
}

/** Reads a whole small entry, refusing more than `limit` bytes. */
async function readSmallEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, limit: number): Promise<Buffer> {
  if (entry.uncompressedSize > limit) throw badRequest(`uploadChanges: ${entry.fileName} is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  await orBadRequestAsync(`uploadChanges: corrupt zip entry ${entry.fileName}`, async () => {
    for await (const chunk of chunksOf(await openEntry(zip, entry))) {
      total += chunk.length;
      if (total > limit) throw badRequest(`uploadChanges: ${entry.fileName} is larger than ${limit} bytes`);
      chunks.push(chunk);
    }
  });
  return Buffer.concat(chunks);
}

interface Budget {
  /** File bytes still allowed in this batch. */
  remaining: number;
}

/** Chunks are gathered up to this many bytes and written with one writev. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Streams one entry into a new temp file (left open in `file`, not yet
 * fsynced: the caller syncs the whole batch); returns its size and SHA-1.
 */
async function extractEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, file: FileHandle, budget: Budget): Promise<{ size: number; sha1: Buffer }> {
  const hash = createHash("sha1");
  let size = 0;
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  // A failure while writing our own temp file is a server problem (500), not a bad zip.
  let writing = false;
  const flush = async () => {
    if (gathered.length === 0) return;
    const chunks = gathered;
    gathered = [];
    gatheredBytes = 0;
    writing = true;
    await file.writev(chunks);
    writing = false;
  };
  try {
    for await (const buf of chunksOf(await openEntry(zip, entry))) {
      size += buf.length;
      if (size > MAX_FILE_BYTES) throw badRequest(`uploadChanges: zip entry "${nameForLog(entry.fileName)}" is larger than ${MAX_FILE_BYTES} bytes`);
      if (size > budget.remaining) throw badRequest(`uploadChanges: batch holds more than ${MAX_UPLOAD_BATCH_BYTES} bytes of files`);
      hash.update(buf);
      gathered.push(buf);
      gatheredBytes += buf.length;
      if (gatheredBytes >= WRITE_BATCH_BYTES) await flush();
    }
    await flush();
  } catch (err) {
    if (writing) throw err;
    throw asHttpError(`uploadChanges: corrupt zip entry "${nameForLog(entry.fileName)}"`, err);
  }
  if (size === 0) throw badRequest(`uploadChanges: zip entry "${nameForLog(entry.fileName)}" is zero bytes`);
  budget.remaining -= size;
  return { size, sha1: hash.digest() };
}

/**
 * Validates an upload zip and extracts its files to temp files in `tempDir`,
 * each fsynced before this returns (the directory entries are not: the
 * caller fsyncs `tempDir` once before it commits). Returns the changes in
 * `_meta` order. Throws a 400 HttpError (after removing its temp files) when
 * anything about the batch is wrong.
 */
export async function readUploadZip(zipPath: string, tempDir: string): Promise<UploadedChange[]> {
  const zip = await openZip(zipPath);
  const temps: string[] = [];
  const files: FileHandle[] = [];
  try {
    const entries = await readEntries(zip);
    const metaEntry = entries.get("_meta");
    if (!metaEntry) throw badRequest("uploadChanges: zip has no _meta");
    const rows = parseUploadMeta((await readSmallEntry(zip, metaEntry, MAX_META_BYTES)).toString("utf8"));

    // Everything that can be judged from the directory, before extracting anything.
    let declared = 0;
    for (const row of rows) {
      if (row.inZip === undefined) continue;
      const entry = entries.get(row.inZip);
      if (!entry) throw badRequest(`uploadChanges: _meta names missing zip entry "${nameForLog(row.inZip)}"`);
      if (entry.uncompressedSize > MAX_FILE_BYTES) throw badRequest(`uploadChanges: "${nameForLog(row.name)}" is larger than ${MAX_FILE_BYTES} bytes`);
      if (entry.uncompressedSize === 0) throw badRequest(`uploadChanges: "${nameForLog(row.name)}" is zero bytes`);
      declared += entry.uncompressedSize;
    }
    if (declared > MAX_UPLOAD_BATCH_BYTES) throw badRequest(`uploadChanges: batch declares ${declared} bytes of files (limit ${MAX_UPLOAD_BATCH_BYTES})`);

    const budget: Budget = { remaining: MAX_UPLOAD_BATCH_BYTES };
    const changes: UploadedChange[] = [];
    for (const row of rows) {
      if (row.inZip === undefined) {
        changes.push({ kind: "delete", name: row.name });
        continue;
      }
      const entry = entries.get(row.inZip)!;
      const temp = newUploadTempName();
      temps.push(temp);
      const file = await open(join(tempDir, temp), "wx", 0o600);
      files.push(file);
      const { size, sha1 } = await extractEntry(zip, entry, file, budget);
      changes.push({ kind: "file", name: row.name, temp, size, sha1 });
    }
    // The batch's file contents reach the disk together (the kernel and the
    // file system's journal group them) before anything refers to them.
    await Promise.all(files.map((file) => file.datasync()));
    return changes;
  } catch (err) {
    await Promise.all(temps.map((t) => rm(join(tempDir, t), { force: true })));
    throw err;
  } finally {
    await Promise.all(files.map((file) => file.close().catch(() => undefined)));
    zip.close();
  }
}
