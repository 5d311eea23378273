// Shared helpers for the media unit tests: temp user folders and zips.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import yazl from "yazl";
import yauzl from "yauzl";
import { setLogLevel } from "../../../src/log.js";
import { mediaConnections } from "../../../src/media/connections.js";
import { UserState } from "../../../src/users/user.js";

setLogLevel("error");

export function tempUserDir(): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), "media-test-"));
  const dir = join(root, "alice");
  mkdirSync(dir);
  return {
    dir,
    cleanup: () => {
      mediaConnections.closeAll();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A real UserState for the folder `dir`. Its media DB is reopened on first
 * use, so each call sees the folder as a freshly started server would
 * (crash recovery included); tempUserDir's cleanup closes what is open.
 */
export function fakeUser(dir: string): UserState {
  mediaConnections.close(dir);
  return new UserState(basename(dir), dirname(dir));
}

export interface ZipEntrySpec {
  name: string;
  data: Buffer;
  compress?: boolean;
}

export async function zipBuffer(entries: ZipEntrySpec[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(e.data, e.name, { compress: e.compress ?? false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** An upload zip as rslib clients build it: entries "0", "1", ... and a `_meta` array of pairs. */
export async function uploadZip(files: [string, Buffer | null][], opts: { meta?: unknown; compress?: boolean } = {}): Promise<Buffer> {
  const entries: ZipEntrySpec[] = [];
  const meta: [string, string | null][] = [];
  files.forEach(([name, data], i) => {
    if (data === null) meta.push([name, null]);
    else {
      entries.push({ name: String(i), data, compress: opts.compress });
      meta.push([name, String(i)]);
    }
  });
  entries.push({ name: "_meta", data: Buffer.from(JSON.stringify(opts.meta ?? meta)) });
  return zipBuffer(entries);
}

export function writeTemp(dir: string, name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Reads a zip fully: entry name -> bytes. */
/** Reads a zip (from a file or a buffer); throws if an entry's CRC-32 does not match its data (yauzl does not check). */
export async function readZip(source: string | Buffer): Promise<Map<string, Buffer>> {
  const zip = typeof source === "string" ? await yauzl.openPromise(source, { lazyEntries: true }) : await yauzl.fromBufferPromise(source, { lazyEntries: true });
  const out = new Map<string, Buffer>();
  for await (const entry of zip.eachEntry()) {
    const stream = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const data = Buffer.concat(chunks);
    if (crc32(data) !== entry.crc32) throw new Error(`zip entry ${entry.fileName}: CRC-32 mismatch`);
    out.set(entry.fileName, data);
  }
  return out;
}

/** Rewrites the uncompressed-size fields of the first entry (local header and central directory). */
export function lieAboutFirstEntrySize(zip: Buffer, declared: number): Buffer {
  const out = Buffer.from(zip);
  const local = out.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  out.writeUInt32LE(declared, local + 22);
  const central = out.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  out.writeUInt32LE(declared, central + 24);
  return out;
}
