// Reading an uploadChanges zip (already decompressed from zstd into a temp
// file by the router). Everything is checked before anything reaches the
// media folder: on any problem the whole batch is refused with 400.
//
// Format: an entry `_meta` holding a JSON array with one element per change,
// either [actual_filename, filename_in_zip] or {"actual_filename": ..,
// "filename_in_zip": ..}; filename_in_zip names another entry holding the
// file's bytes, or is null / "" for a deletion. Other entries are ignored.
//
// A zip up to MAX_IN_MEMORY_UPLOAD_BYTES (a typical batch: 2.5 MiB plus one
// file) is read whole into memory; when its files also add up to no more than
// that, they are taken from the buffer directly: a stored entry is a slice, a
// deflated one is inflated in one call bounded by its declared size.
// Otherwise (a big file, or a small zip of very compressible data) each entry
// is streamed (never trusting its declared size), so memory stays bounded.
// Either way every file goes to a temp file in the user folder, hashed on the
// way, and the batch's temp files are fsynced together (in parallel, on
// libuv's thread pool) rather than one after the other.
import { createHash } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { inflateRawSync } from "node:zlib";
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

/** Upload zips up to this size are parsed from memory (see the top of this file). */
export const MAX_IN_MEMORY_UPLOAD_BYTES = 16 * 1024 * 1024;

async function openZip(source: string | Buffer): Promise<yauzl.ZipFile> {
  const options = { lazyEntries: true, autoClose: false, validateEntrySizes: true };
  const zip = await orBadRequestAsync("uploadChanges: not a readable zip", () =>
    typeof source === "string" ? yauzl.openPromise(source, options) : yauzl.fromBufferPromise(source, options),
  );
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

/** Where an entry's data lies in an in-memory zip, from its local header; 400 when outside the buffer. */
function dataRange(zip: Buffer, entry: yauzl.Entry): { start: number; end: number } {
  const at = entry.relativeOffsetOfLocalHeader;
  if (at + LOCAL_HEADER_BYTES > zip.length || zip.readUInt32LE(at) !== LOCAL_HEADER_SIGNATURE) {
    throw badRequest(`uploadChanges: zip entry "${nameForLog(entry.fileName)}" has no valid local header`);
  }
  const start = at + LOCAL_HEADER_BYTES + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const end = start + entry.compressedSize;
  if (end > zip.length) throw badRequest(`uploadChanges: zip entry "${nameForLog(entry.fileName)}" runs past the end of the zip`);
  return { start, end };
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_BYTES = 30;

/**
 * An entry's bytes from an in-memory zip, exactly its declared uncompressed
 * size (which the caller has checked against the limits): a stored entry is
 * a slice of `zip`, a deflated one is inflated with its output capped one
 * byte past the declared size, so a lying header costs no more than that.
 */
export function entryBytes(zip: Buffer, entry: yauzl.Entry): Buffer {
  const label = `zip entry "${nameForLog(entry.fileName)}"`;
  if (entry.isEncrypted() || !entry.canDecodeFileData()) throw badRequest(`uploadChanges: ${label} uses an unsupported method`);
  const { start, end } = dataRange(zip, entry);
  const raw = zip.subarray(start, end);
  const expected = entry.uncompressedSize;
  let data: Buffer;
  if (entry.compressionMethod === 0) {
    data = raw;
  } else {
    try {
      data = inflateRawSync(raw, { maxOutputLength: expected + 1 });
    } catch (err) {
      // Output past the cap is a RangeError: more bytes than declared.
      if (err instanceof RangeError) throw badRequest(`uploadChanges: ${label}: too many bytes in the stream, expected ${expected}`);
      throw badRequest(`uploadChanges: corrupt ${label}: ${(err as Error).message}`);
    }
  }
  if (data.length > expected) throw badRequest(`uploadChanges: ${label}: too many bytes in the stream, expected ${expected}`);
  if (data.length < expected) throw badRequest(`uploadChanges: ${label}: too few bytes in the stream, expected ${expected}`);
  return data;
}

/**
 * Writes each file to its new temp path, all at once on the thread pool, then
 * fsyncs them all at once: started together, the fsyncs share the file
 * system's journal commits, where an fsync right after each write would force
 * one commit per file. Creating a file is the expensive part on ext4 (about
 * 1 ms of system time each on the bench machine); spread over the pool's
 * threads the creations of a batch overlap instead of queueing on the event
 * loop (media upload wall time 1.60-1.80 -> 1.25-1.54 s for 1,000 files).
 * Every file that was created is closed (and listed in `created`) whatever
 * happens: each write is waited for, even after one has failed, so no file
 * appears after the caller has cleaned up.
 */
async function writeTempFiles(files: { path: string; data: Buffer }[], created: string[]): Promise<void> {
  const handles: FileHandle[] = [];
  try {
    const writes = await Promise.allSettled(
      files.map(async ({ path, data }) => {
        const file = await open(path, "wx", 0o600);
        created.push(path);
        handles.push(file);
        await file.writeFile(data);
      }),
    );
    const failed = writes.find((w) => w.status === "rejected");
    if (failed) throw failed.reason;
    const syncs = await Promise.allSettled(handles.map((file) => file.datasync()));
    const failedSync = syncs.find((w) => w.status === "rejected");
    if (failedSync) throw failedSync.reason;
  } finally {
    await Promise.all(handles.map((file) => file.close().catch(() => undefined)));
  }
}


interface Plan {
  rows: MetaRow[];
  entries: Map<string, yauzl.Entry>;
  /** File bytes the directory declares. */
  declared: number;
}

/**
 * Reads `_meta` and judges everything the directory tells (missing entries,
 * declared sizes per file and per batch) before anything is extracted.
 */
async function planBatch(zip: yauzl.ZipFile, readMeta: (entry: yauzl.Entry) => Promise<Buffer> | Buffer): Promise<Plan> {
  const entries = await readEntries(zip);
  const metaEntry = entries.get("_meta");
  if (!metaEntry) throw badRequest("uploadChanges: zip has no _meta");
  if (metaEntry.uncompressedSize > MAX_META_BYTES) throw badRequest(`uploadChanges: _meta is larger than ${MAX_META_BYTES} bytes`);
  const rows = parseUploadMeta((await readMeta(metaEntry)).toString("utf8"));
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
  return { rows, entries, declared };
}

/**
 * Validates an upload zip and extracts its files to temp files in `tempDir`,
 * each fsynced before this returns (the directory entries are not: the
 * caller fsyncs `tempDir` once before it commits). `source` is the zip
 * itself (up to MAX_IN_MEMORY_UPLOAD_BYTES) or the path of its file.
 * Returns the changes in `_meta` order. Throws a 400 HttpError (after
 * removing its temp files) when anything about the batch is wrong.
 */
export async function readUploadZip(source: string | Buffer, tempDir: string): Promise<UploadedChange[]> {
  return typeof source === "string" ? readZipFile(source, tempDir) : readZipBuffer(source, tempDir);
}

async function readZipBuffer(buffer: Buffer, tempDir: string): Promise<UploadedChange[]> {
  const zip = await openZip(buffer);
  const created: string[] = [];
  try {
    const plan = await planBatch(zip, (meta) => entryBytes(buffer, meta));
    if (plan.declared > MAX_IN_MEMORY_UPLOAD_BYTES) return await extractStreamed(zip, plan, tempDir);
    const files: { path: string; data: Buffer }[] = [];
    const pending: Array<{ kind: "delete"; name: string } | { kind: "file"; name: string; temp: string; data: Buffer }> = [];
    for (const row of plan.rows) {
      if (row.inZip === undefined) {
        pending.push({ kind: "delete", name: row.name });
        continue;
      }
      const data = entryBytes(buffer, plan.entries.get(row.inZip)!);
      const temp = newUploadTempName();
      files.push({ path: join(tempDir, temp), data });
      pending.push({ kind: "file", name: row.name, temp, data });
    }
    // Nothing is written until the whole batch has been judged. The thread
    // pool writes the files while this thread hashes them.
    const writing = writeTempFiles(files, created);
    let changes: UploadedChange[];
    try {
      changes = pending.map((c) =>
        c.kind === "delete" ? c : { kind: "file", name: c.name, temp: c.temp, size: c.data.length, sha1: createHash("sha1").update(c.data).digest() },
      );
    } finally {
      await writing;
    }
    return changes;
  } catch (err) {
    await Promise.all(created.map((path) => rm(path, { force: true })));
    throw err;
  } finally {
    zip.close();
  }
}

async function readZipFile(zipPath: string, tempDir: string): Promise<UploadedChange[]> {
  const zip = await openZip(zipPath);
  try {
    return await extractStreamed(zip, await planBatch(zip, (meta) => readSmallEntry(zip, meta, MAX_META_BYTES)), tempDir);
  } finally {
    zip.close();
  }
}

/** Streams each file of a planned batch into its temp file; on a failure removes them all. */
async function extractStreamed(zip: yauzl.ZipFile, plan: Plan, tempDir: string): Promise<UploadedChange[]> {
  const temps: string[] = [];
  const files: FileHandle[] = [];
  try {
    const budget: Budget = { remaining: MAX_UPLOAD_BATCH_BYTES };
    const changes: UploadedChange[] = [];
    for (const row of plan.rows) {
      if (row.inZip === undefined) {
        changes.push({ kind: "delete", name: row.name });
        continue;
      }
      const entry = plan.entries.get(row.inZip)!;
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
  }
}
