// The legacy (sync protocol 8-10) request/response envelope: requests without
// an `anki-sync` header are multipart forms whose `data` part carries the
// payload (gzip-compressed unless `c` is "0"), with the host key in `k` (or
// `sk`, the media "session key" that begin hands out, which is the host key),
// the session key in `s` and, for msync/begin, the client version in `v`.
// Every such request counts as protocol 10. Replies are the raw payload: no
// compression, no anki-original-size.
//
// The form is parsed as a stream (busboy). The host key may come after the
// payload (the 2.1.56 client sends `data` first), so the payload part is
// spooled to a file under the data folder before the user is known; it is
// decompressed only after the host key was checked (see server.ts).
import { createReadStream, createWriteStream, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGunzip, gunzip } from "node:zlib";
import type busboy from "busboy";
import type { BodyLimits, FileBodyResult, SyncHeader } from "../protocol/types.js";
import { HttpError, badRequest } from "../protocol/errors.js";
import type { RequestEnvelope } from "../protocol/types.js";

const gunzipAsync = promisify(gunzip);

/** What every multipart request is taken to be, as in the official server (the form carries no version). */
export const LEGACY_PROTOCOL = 10;

/** `c`, `k`, `sk`, `s`, `v`: host keys are 40 characters and versions short; anything this big is not a real client. */
export const MAX_TEXT_FIELD_BYTES = 4096;
/** A `data` part sent without a filename (no known client does) is buffered by the parser, so it is kept small. */
export const MAX_INLINE_DATA_BYTES = 1024 * 1024;
/** Real clients send four or five parts. */
const MAX_PARTS = 64;
/** Spooled payloads left by a crash are removed once they are this old. */
const STALE_SPOOL_MS = 24 * 3600_000;

const TEXT_FIELDS = new Set(["c", "k", "sk", "s", "v"]);

export type LegacyData =
  | { kind: "none" }
  | { kind: "memory"; bytes: Buffer }
  | { kind: "file"; path: string; bytes: number };

export interface LegacyForm {
  /** `k` or `sk` (whichever came last), "" when absent. */
  hostKey: string;
  /** `s`, "" when absent. */
  sessionKey: string;
  /** `c` present and not exactly "0": `data` is gzip. */
  compressed: boolean;
  /** `v`: the client version, sent on msync/begin. */
  clientVersion: string | undefined;
  data: LegacyData;
}

export interface LegacyFormOptions {
  /** Bytes of the whole multipart body on the wire (MAX_SYNC_PAYLOAD_MEGS). */
  maxBodyBytes: number;
  /** Folder for the spooled `data` part. */
  spoolDir: string;
}

export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data\s*(;|$)/i.test(req.headers["content-type"] ?? "");
}

/**
 * Field values come from the parser as latin1 strings (the form's default
 * charset here), i.e. one char per byte; turn them back into the bytes sent.
 * A part that declared another charset was decoded with it and is used as is.
 */
function fieldBytes(value: string): Buffer {
  // eslint-disable-next-line no-control-regex
  return /^[\u0000-\u00ff]*$/.test(value) ? Buffer.from(value, "latin1") : Buffer.from(value, "utf8");
}

const sweptDirs = new Set<string>();

function prepareSpoolDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (sweptDirs.has(dir)) return;
  sweptDirs.add(dir);
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_SPOOL_MS) rmSync(path, { force: true });
    } catch {
      // gone already
    }
  }
}

/** Counts the wire bytes and refuses a body larger than the limit (400, as the official server does). */
async function* limitedBody(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let seen = 0;
  // destroyOnReturn: false keeps the socket usable for the error reply.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buf = chunk as Buffer;
    seen += buf.length;
    if (seen > limit) throw badRequest(`multipart body exceeds ${limit} bytes`);
    yield buf;
  }
}

/** Collects a small stream, failing past `limit` bytes. */
async function collectSmall(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.resume();
      throw badRequest(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads a whole multipart form. Unknown parts are skipped; repeated parts: the
 * last one wins. Any malformed form, a body over the limit or an oversized
 * text field is a 400, and nothing is left behind.
 */
export async function parseLegacyForm(req: IncomingMessage, options: LegacyFormOptions): Promise<LegacyForm> {
  // Loaded on the first legacy request: current clients never need it.
  const createParser = (await import("busboy")).default;
  let parser: busboy.Busboy;
  try {
    parser = createParser({
      headers: req.headers,
      defCharset: "latin1",
      limits: { fieldSize: MAX_INLINE_DATA_BYTES, parts: MAX_PARTS, fieldNameSize: 100 },
    });
  } catch (err) {
    throw badRequest(`multipart: ${(err as Error).message}`);
  }
  const form: LegacyForm = { hostKey: "", sessionKey: "", compressed: false, clientVersion: undefined, data: { kind: "none" } };
  const spooled: string[] = [];
  const work: Array<Promise<void>> = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
  };
  const setText = (name: string, bytes: Buffer) => {
    if (bytes.length > MAX_TEXT_FIELD_BYTES) return fail(badRequest(`multipart field "${name}" is larger than ${MAX_TEXT_FIELD_BYTES} bytes`));
    const text = bytes.toString("utf8");
    if (name === "c") form.compressed = text !== "0";
    else if (name === "k" || name === "sk") form.hostKey = text;
    else if (name === "s") form.sessionKey = text;
    else form.clientVersion = text;
  };
  const setData = (data: LegacyData) => {
    if (form.data.kind === "file") rmSync(form.data.path, { force: true });
    form.data = data;
  };

  parser.on("field", (name, value, info) => {
    if (info.valueTruncated) {
      fail(badRequest(`multipart field "${name}" is larger than ${name === "data" ? MAX_INLINE_DATA_BYTES : MAX_TEXT_FIELD_BYTES} bytes`));
    } else if (name === "data") {
      setData({ kind: "memory", bytes: fieldBytes(value) });
    } else if (TEXT_FIELDS.has(name)) {
      setText(name, fieldBytes(value));
    }
  });
  parser.on("file", (name, stream) => {
    if (failure) {
      stream.resume();
    } else if (name === "data") {
      prepareSpoolDir(options.spoolDir);
      const path = join(options.spoolDir, `${randomBytes(12).toString("hex")}.part`);
      spooled.push(path);
      work.push(
        pipeline(stream, createWriteStream(path, { flags: "wx", mode: 0o600 })).then(
          () => setData({ kind: "file", path, bytes: statSync(path).size }),
          (err: Error) => fail(badRequest(`multipart data part: ${err.message}`)),
        ),
      );
    } else if (TEXT_FIELDS.has(name)) {
      work.push(collectSmall(stream, MAX_TEXT_FIELD_BYTES, `multipart field "${name}"`).then((bytes) => setText(name, bytes), fail));
    } else {
      stream.resume();
    }
  });
  parser.on("partsLimit", () => fail(badRequest(`multipart form has more than ${MAX_PARTS} parts`)));

  try {
    try {
      await pipeline(limitedBody(req, options.maxBodyBytes), parser);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw badRequest(`invalid multipart: ${(err as Error).message}`);
    } finally {
      await Promise.allSettled(work);
    }
    await Promise.all(work);
    if (failure) throw failure;
    return form;
  } catch (err) {
    for (const path of spooled) rmSync(path, { force: true });
    throw err;
  }
}

export function disposeLegacyForm(form: LegacyForm): void {
  if (form.data.kind === "file") rmSync(form.data.path, { force: true });
  form.data = { kind: "none" };
}

const EMPTY_INPUT = Buffer.from("{}");

/** `data` missing or empty stands for `{}` (old AnkiDroid sends no data part on download). */
function isEmpty(data: LegacyData): boolean {
  return data.kind === "none" || (data.kind === "memory" ? data.bytes.length === 0 : data.bytes === 0);
}

/** The decoded payload in memory; past `limits.decompressed` it is a 400. */
export async function legacyPayload(form: LegacyForm, limits: BodyLimits): Promise<Buffer> {
  if (isEmpty(form.data)) return EMPTY_INPUT;
  const data = form.data.kind === "memory" ? form.data.bytes : form.data.kind === "file" ? await readFile(form.data.path) : EMPTY_INPUT;
  if (!form.compressed) {
    if (data.length >= limits.decompressed) throw badRequest(`payload exceeds ${limits.decompressed} bytes`);
    return data;
  }
  try {
    return await gunzipAsync(data, { maxOutputLength: limits.decompressed });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw badRequest(`decompressed payload exceeds ${limits.decompressed} bytes`);
    throw badRequest(`invalid gzip: ${(err as Error).message}`);
  }
}

/**
 * Writes the decoded payload to a new file at `path` (in the user's folder),
 * streaming. Past `limits.decompressed` the file holds only a prefix and
 * `tooLarge` is set, as for v11 bodies.
 */
export async function legacyPayloadToFile(form: LegacyForm, limits: BodyLimits, path: string): Promise<FileBodyResult> {
  const data = form.data;
  if (!form.compressed && data.kind === "file" && data.bytes > 0 && data.bytes < limits.decompressed) {
    // Already the payload: move it over (same file system unless configured oddly).
    try {
      renameSync(data.path, path);
      form.data = { kind: "none" };
      const file = await open(path, "r");
      try {
        await file.sync();
      } finally {
        await file.close();
      }
      return { bytes: data.bytes, tooLarge: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    }
  }
  const source: Readable = isEmpty(data)
    ? Readable.from([EMPTY_INPUT])
    : data.kind === "memory"
      ? Readable.from([data.bytes])
      : data.kind === "file"
        ? createReadStream(data.path)
        : Readable.from([EMPTY_INPUT]);
  const decoded: Readable = form.compressed && !isEmpty(data) ? source.pipe(createGunzip()) : source;
  source.on("error", (err) => decoded.destroy(err));
  const file = await open(path, "wx", 0o600);
  let bytes = 0;
  let tooLarge = false;
  try {
    try {
      for await (const chunk of decoded) {
        const buf = chunk as Buffer;
        if (bytes + buf.length >= limits.decompressed) {
          tooLarge = true;
          bytes += buf.length;
          break;
        }
        bytes += buf.length;
        await file.write(buf);
      }
    } catch (err) {
      throw badRequest(`invalid gzip: ${(err as Error).message}`);
    } finally {
      source.destroy();
      decoded.destroy();
    }
    await file.sync();
    return { bytes, tooLarge };
  } finally {
    await file.close();
  }
}

/**
 * Reads the form of a header-less request and wraps it as the request's
 * envelope. `mediaBegin`: msync/begin, where a `v` part replaces the payload
 * with {"v": ...}, as the official server does for old media clients.
 */
export async function readLegacyEnvelope(req: IncomingMessage, options: LegacyFormOptions & { mediaBegin: boolean }): Promise<RequestEnvelope> {
  if (!isMultipart(req)) throw badRequest("request has neither an anki-sync header nor a multipart body");
  const form = await parseLegacyForm(req, options);
  if (options.mediaBegin && form.clientVersion !== undefined) {
    disposeLegacyForm(form);
    form.compressed = false;
    form.data = { kind: "memory", bytes: Buffer.from(JSON.stringify({ v: form.clientVersion }), "utf8") };
  }
  const header: SyncHeader = {
    version: LEGACY_PROTOCOL,
    hostKey: form.hostKey,
    clientVersion: (form.clientVersion ?? "").slice(0, 200),
    sessionKey: form.sessionKey.slice(0, 200),
  };
  return {
    header,
    protocol: LEGACY_PROTOCOL,
    // The payload is read once; its spool file goes as soon as it has been.
    readPayload: async (limits) => {
      try {
        return await legacyPayload(form, limits);
      } finally {
        disposeLegacyForm(form);
      }
    },
    writePayloadToFile: async (limits, path) => {
      try {
        return await legacyPayloadToFile(form, limits, path);
      } finally {
        disposeLegacyForm(form);
      }
    },
    dispose: () => disposeLegacyForm(form),
  };
}

/** A legacy reply: the raw payload. */
export function sendRawPayload(res: ServerResponse, payload: Buffer): void {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(payload.length) });
  res.end(payload);
}

/** Streams a file as a legacy reply (raw, with its length). */
export async function sendRawFile(res: ServerResponse, path: string, size: number): Promise<void> {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) });
  await pipeline(createReadStream(path), res);
}
