// Writing a downloadFiles zip: entries "0", "1", ... holding the files in the
// order given, stored (not compressed: media is mostly compressed already, and
// every client reads stored entries), then `_meta`, a JSON object mapping each
// entry name to the real file name. (The upload direction uses an array of
// pairs instead; the asymmetry is Anki's.)
//
// A stored zip's layout is known from the names and sizes alone, so the whole
// archive is laid out up front: each file's bytes are read straight into their
// place and its CRC-32 (zlib's, native) is filled into the headers once read.
// A reply that fits MAX_IN_MEMORY_ZIP_BYTES is built in one buffer; a larger
// one (a single big file) goes through a temp file with a bounded scratch
// buffer, so no file is ever held in memory whole.
// A namespace import: a named import of an export this Node lacks would fail to link.
import * as zlib from "node:zlib";
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { closeSync, readSync } from "node:fs";

export interface ZipSource {
  name: string;
  handle: FileHandle;
  size: number;
}

/** Replies up to this size are built in memory (a normal batch is at most ~2.5 MiB plus one file). */
export const MAX_IN_MEMORY_ZIP_BYTES = 16 * 1024 * 1024;

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
/** Bit 11: names are UTF-8. No data descriptor: CRC and sizes are in the local header. */
const FLAGS = 0x0800;
const VERSION_NEEDED = 20;
/** Unix, spec 3.0. */
const VERSION_MADE_BY = (3 << 8) | 30;
/** Regular file, rw-r--r--, in the high 16 bits (Unix). */
const EXTERNAL_ATTRS = (0o100644 << 16) >>> 0;
const SCRATCH_BYTES = 1024 * 1024;

/** Node 20.15+ has zlib.crc32; older builds fall back to a table-driven one. */
const crc32: (data: Buffer, value?: number) => number = typeof zlib.crc32 === "function" ? zlib.crc32 : tableCrc32;

let table: Uint32Array | undefined;
function tableCrc32(data: Buffer, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~value >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

export { tableCrc32 as crc32ForTests };

interface Layout {
  names: Buffer[];
  sizes: number[];
  /** Offset of each entry's local header. */
  offsets: number[];
  centralOffset: number;
  centralSize: number;
  total: number;
}

function layOut(names: Buffer[], sizes: number[]): Layout {
  const offsets: number[] = [];
  let at = 0;
  for (let i = 0; i < names.length; i++) {
    offsets.push(at);
    at += LOCAL_HEADER + names[i]!.length + sizes[i]!;
  }
  const centralOffset = at;
  const centralSize = names.reduce((sum, name) => sum + CENTRAL_HEADER + name.length, 0);
  return { names, sizes, offsets, centralOffset, centralSize, total: centralOffset + centralSize + END_RECORD };
}

function dosTime(date: Date): { time: number; date: number } {
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((Math.max(1980, date.getFullYear()) - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

function localHeader(name: Buffer, size: number, crc: number, when: { time: number; date: number }): Buffer {
  const h = Buffer.alloc(LOCAL_HEADER + name.length);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(VERSION_NEEDED, 4);
  h.writeUInt16LE(FLAGS, 6);
  h.writeUInt16LE(0, 8); // stored
  h.writeUInt16LE(when.time, 10);
  h.writeUInt16LE(when.date, 12);
  h.writeUInt32LE(crc, 14);
  h.writeUInt32LE(size, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(name.length, 26);
  h.writeUInt16LE(0, 28);
  name.copy(h, LOCAL_HEADER);
  return h;
}

function centralDirectory(layout: Layout, crcs: number[], when: { time: number; date: number }): Buffer {
  const out = Buffer.alloc(layout.centralSize + END_RECORD);
  let at = 0;
  layout.names.forEach((name, i) => {
    out.writeUInt32LE(0x02014b50, at);
    out.writeUInt16LE(VERSION_MADE_BY, at + 4);
    out.writeUInt16LE(VERSION_NEEDED, at + 6);
    out.writeUInt16LE(FLAGS, at + 8);
    out.writeUInt16LE(0, at + 10);
    out.writeUInt16LE(when.time, at + 12);
    out.writeUInt16LE(when.date, at + 14);
    out.writeUInt32LE(crcs[i]!, at + 16);
    out.writeUInt32LE(layout.sizes[i]!, at + 20);
    out.writeUInt32LE(layout.sizes[i]!, at + 24);
    out.writeUInt16LE(name.length, at + 28);
    // extra, comment, disk number, internal attributes: 0
    out.writeUInt32LE(EXTERNAL_ATTRS, at + 38);
    out.writeUInt32LE(layout.offsets[i]!, at + 42);
    name.copy(out, at + CENTRAL_HEADER);
    at += CENTRAL_HEADER + name.length;
  });
  out.writeUInt32LE(0x06054b50, at);
  out.writeUInt16LE(layout.names.length, at + 8);
  out.writeUInt16LE(layout.names.length, at + 10);
  out.writeUInt32LE(layout.centralSize, at + 12);
  out.writeUInt32LE(layout.centralOffset, at + 16);
  return out;
}

/** Reads exactly `length` bytes from the start of `handle` into `into` at `at`; a file that shrank is an error. */
async function readExactly(handle: FileHandle, into: Buffer, at: number, length: number, filePosition: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(into, at + done, length - done, filePosition + done);
    if (bytesRead === 0) throw new Error("media file shrank while being served");
    done += bytesRead;
  }
}

function entries(files: { name: string; size: number }[]): { names: Buffer[]; sizes: number[]; meta: Buffer } {
  const metaMap: Record<string, string> = {};
  files.forEach((file, i) => (metaMap[String(i)] = file.name));
  const meta = Buffer.from(JSON.stringify(metaMap), "utf8");
  const names = [...files.map((_, i) => Buffer.from(String(i))), Buffer.from("_meta")];
  return { names, sizes: [...files.map((f) => f.size), meta.length], meta };
}

/** The size of the zip `files` make, before building it. */
export function downloadZipSize(files: { name: string; size: number }[]): number {
  const { names, sizes } = entries(files);
  return layOut(names, sizes).total;
}

async function closeAll(files: ZipSource[]): Promise<void> {
  await Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
}

/** A file opened synchronously: descriptor and size. */
export interface SyncZipSource {
  name: string;
  fd: number;
  size: number;
}

/**
 * A download zip built in one buffer: the caller reads each file's bytes
 * into its slot (synchronously or not) and seals it; `finish` adds `_meta`
 * and the central directory. Shared by the sync and async builders.
 */
class MemoryZip {
  readonly out: Buffer;
  private readonly names: Buffer[];
  private readonly sizes: number[];
  private readonly meta: Buffer;
  private readonly layout: Layout;
  private readonly when: { time: number; date: number };
  private readonly crcs: number[] = [];

  constructor(files: { name: string; size: number }[], now: Date, allocate: (size: number) => Buffer) {
    ({ names: this.names, sizes: this.sizes, meta: this.meta } = entries(files));
    this.layout = layOut(this.names, this.sizes);
    this.when = dosTime(now);
    // `allocate` may hand out a larger (reused) buffer: the zip is its start.
    this.out = allocate(this.layout.total).subarray(0, this.layout.total);
  }

  /** Where entry `i`'s data goes. */
  dataAt(i: number): number {
    return this.layout.offsets[i]! + LOCAL_HEADER + this.names[i]!.length;
  }

  /** Entry `i`'s data is in place: its CRC and local header. */
  seal(i: number): void {
    const at = this.dataAt(i);
    const crc = crc32(this.out.subarray(at, at + this.sizes[i]!));
    this.crcs[i] = crc;
    localHeader(this.names[i]!, this.sizes[i]!, crc, this.when).copy(this.out, this.layout.offsets[i]!);
  }

  /** Adds `_meta` (the last entry) and the central directory; returns the zip. */
  finish(): Buffer {
    const last = this.names.length - 1;
    this.meta.copy(this.out, this.dataAt(last));
    this.seal(last);
    centralDirectory(this.layout, this.crcs, this.when).copy(this.out, this.layout.centralOffset);
    return this.out;
  }
}

/**
 * Builds the zip in one buffer with synchronous reads (for a batch of a few
 * MiB: a handful of page-cache copies cost less than a thread-pool round trip
 * per file). Closes the descriptors.
 */
export function buildDownloadZipSync(
  files: SyncZipSource[],
  now = new Date(),
  allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): Buffer {
  try {
    const zip = new MemoryZip(files, now, allocate);
    files.forEach((file, i) => {
      readExactlySync(file.fd, zip.out, zip.dataAt(i), file.size);
      zip.seal(i);
    });
    return zip.finish();
  } finally {
    for (const f of files) closeQuietly(f.fd);
  }
}

function readExactlySync(fd: number, into: Buffer, at: number, length: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, at + done, length - done, done);
    if (n === 0) throw new Error("media file shrank while being served");
    done += n;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing left to do with it
  }
}

/** Builds the zip in one buffer. Closes the handles. */
export async function buildDownloadZip(files: ZipSource[], now = new Date()): Promise<Buffer> {
  try {
    const zip = new MemoryZip(files, now, (size) => Buffer.allocUnsafe(size));
    for (const [i, file] of files.entries()) {
      await readExactly(file.handle, zip.out, zip.dataAt(i), file.size, 0);
      zip.seal(i);
    }
    return zip.finish();
  } finally {
    await closeAll(files);
  }
}

/** Writes the zip to `outPath` (created; must not exist) and returns its size. Closes the handles. */
export async function writeDownloadZip(files: ZipSource[], outPath: string, now = new Date()): Promise<number> {
  let out: FileHandle | undefined;
  try {
    const { names, sizes, meta } = entries(files);
    const layout = layOut(names, sizes);
    const when = dosTime(now);
    out = await open(outPath, "wx", 0o600);
    const scratch = Buffer.allocUnsafe(Math.min(SCRATCH_BYTES, Math.max(...sizes, 1)));
    const crcs: number[] = [];
    for (let i = 0; i < names.length; i++) {
      const dataAt = layout.offsets[i]! + LOCAL_HEADER + names[i]!.length;
      let crc = 0;
      if (i < files.length) {
        for (let done = 0; done < sizes[i]!; ) {
          const n = Math.min(scratch.length, sizes[i]! - done);
          await readExactly(files[i]!.handle, scratch, 0, n, done);
          crc = crc32(scratch.subarray(0, n), crc);
          await out.write(scratch, 0, n, dataAt + done);
          done += n;
        }
      } else {
        crc = crc32(meta);
        await out.write(meta, 0, meta.length, dataAt);
      }
      crcs.push(crc);
      const header = localHeader(names[i]!, sizes[i]!, crc, when);
      await out.write(header, 0, header.length, layout.offsets[i]);
    }
    const central = centralDirectory(layout, crcs, when);
    await out.write(central, 0, central.length, layout.centralOffset);
    return layout.total;
  } finally {
    await out?.close();
    await closeAll(files);
  }
}
