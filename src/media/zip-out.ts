// Writing a downloadFiles zip: entries "0", "1", ... holding the files in the
// order given, stored (not compressed: media is mostly compressed already, and
// every client reads stored entries), then `_meta`, a JSON object mapping each
// entry name to the real file name. (The upload direction uses an array of
// pairs instead; the asymmetry is Anki's.)
//
// The zip is streamed from open file handles into `outPath`; no file is held
// in memory whole.
import { createWriteStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import yazl from "yazl";

export interface ZipSource {
  name: string;
  handle: FileHandle;
  size: number;
}

/** Writes the zip to `outPath` (created; must not exist) and returns its size. Closes the handles. */
export async function writeDownloadZip(files: ZipSource[], outPath: string): Promise<number> {
  const zip = new yazl.ZipFile();
  const meta: Record<string, string> = {};
  files.forEach((file, i) => {
    const entryName = String(i);
    meta[entryName] = file.name;
    zip.addReadStreamLazy(entryName, { size: file.size, compress: false }, (cb) => cb(null, file.handle.createReadStream({ autoClose: true, start: 0 })));
  });
  zip.addBuffer(Buffer.from(JSON.stringify(meta), "utf8"), "_meta", { compress: false });
  const failed = new Promise<never>((_, reject) => zip.on("error", reject));
  zip.end();
  const out = createWriteStream(outPath, { flags: "wx", mode: 0o600 });
  try {
    await Promise.race([pipeline(zip.outputStream, out), failed]);
  } catch (err) {
    out.destroy();
    // Handles whose streams never started are still open.
    await Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
    throw err;
  }
  return out.bytesWritten;
}
