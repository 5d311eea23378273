// The legacy (sync protocol 8-10) request/response envelope: requests without
// an `anki-sync` header are multipart forms whose `data` part carries the
// payload (gzip-compressed unless `c` is "0"), with the host key in `k` (or
// `sk`, the media "session key" that begin hands out, which is the host key),
// the session key in `s` and, for msync/begin, the client version in `v`.
// Every such request counts as protocol 10. Replies are the raw payload: no
// compression, no anki-original-size.
//
// The form is parsed as a stream (busboy). When the host key comes before the
// payload (Python-era clients and AnkiDroid), it is checked before a byte of
// the payload touches the disk, and a wrong key ends the request at once. The
// Rust client of 2.1.28-2.1.56 sends `data` first: that payload is spooled to
// a file under the data folder before the user is known, within a shared
// budget for such not-yet-authenticated spool files and the free-space
// reserve, and removed on every error path. It is decompressed only after the
// host key was checked (see server.ts).
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGunzip, gunzip } from "node:zlib";
import type busboy from "busboy";
import type { BodyLimits, FileBodyResult, SpoolOptions, SyncHeader, WriteRoom } from "../protocol/types.js";
import { HttpError, badRequest } from "../protocol/errors.js";
import type { RequestEnvelope } from "../protocol/types.js";
import { BodyTooLargeError } from "./envelope.js";
import { JsonTokenCounter } from "./budgets.js";
import { isNoSpace, rethrowNoSpace } from "../disk-space.js";

const gunzipAsync = promisify(gunzip);

/** What every multipart request is taken to be, as in the official server (the form carries no version). */
export const LEGACY_PROTOCOL = 10;

/** `c`, `k`, `sk`, `s`, `v`: host keys are 40 characters and versions short; anything this big is not a real client. */
export const MAX_TEXT_FIELD_BYTES = 4096;
/** A `data` part sent without a filename (no known client does) is buffered by the parser, so it is kept small. */
export const MAX_INLINE_DATA_BYTES = 1024 * 1024;
/**
 * Over a limit, a legacy form gets 400, as from the official server (whose
 * multipart reader fails that way), and legacy clients expect.
 */
export const LEGACY_TOO_LARGE = 400;
/**
 * A payload sent after a host key that is not valid is held in memory up to
 * this size (a later `k` part could still replace the key: the last one wins);
 * past it the form is refused with 403. Nothing reaches the disk either way.
 */
export const MAX_UNVERIFIED_PREFIX_BYTES = 1024 * 1024;
/** Real clients send four or five parts. */
const MAX_PARTS = 64;

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
  /** Gives back what the form charged to the unauthenticated spool budget. */
  releaseSpoolCharge?: () => void;
}

export interface LegacyFormOptions {
  /** Bytes of the whole multipart body on the wire (the route's budget, see budgets.ts). */
  maxBodyBytes: number;
  /** Folder for the spooled `data` part. */
  spoolDir: string;
  /** Throws (403, ...) when a host key that arrived before `data` is not valid. */
  checkKey?: (hostKey: string) => Promise<void>;
  /** Spool writes keep the free-space reserve. */
  disk?: WriteRoom;
  /** Bytes spooled before any key was seen are charged here. */
  unauthenticated?: SpoolBudget;
}

/**
 * The bytes all requests together may hold in spool files whose host key has
 * not been seen yet (only forms that send `data` before `k` spool such files).
 */
export class SpoolBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** A charge against the budget; `add` throws 503 once the budget is spent, `release` gives it all back. */
  open(): { add(bytes: number): void; release(): void } {
    let charged = 0;
    return {
      add: (bytes: number) => {
        if (this.used + bytes > this.limit) {
          throw new HttpError(503, `unauthenticated spool budget of ${this.limit} bytes spent (forms sending data before their host key)`);
        }
        this.used += bytes;
        charged += bytes;
      },
      release: () => {
        this.used -= charged;
        charged = 0;
      },
    };
  }

  inUse(): number {
    return this.used;
  }
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

/** Counts the wire bytes and refuses a body larger than the limit (413). */
async function* limitedBody(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let seen = 0;
  // destroyOnReturn: false keeps the socket usable for the error reply.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buf = chunk as Buffer;
    seen += buf.length;
    if (seen > limit) throw new BodyTooLargeError(limit, "multipart body", "bytes", LEGACY_TOO_LARGE);
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

async function formParser(req: IncomingMessage): Promise<busboy.Busboy> {
  // Loaded on the first legacy request: current clients never need it.
  const createParser = (await import("busboy")).default;
  try {
    return createParser({ headers: req.headers, defCharset: "latin1", limits: { fieldSize: MAX_INLINE_DATA_BYTES, parts: MAX_PARTS, fieldNameSize: 100 } });
  } catch (err) {
    throw badRequest(`multipart: ${(err as Error).message}`);
  }
}

/**
 * Reads a whole multipart form. Unknown parts are skipped; repeated parts: the
 * last one wins. Any malformed form, a body over the limit or an oversized
 * text field is a 400, and nothing is left behind.
 */
export async function parseLegacyForm(req: IncomingMessage, options: LegacyFormOptions): Promise<LegacyForm> {
  const parser = await formParser(req);
  const form: LegacyForm = { hostKey: "", sessionKey: "", compressed: false, clientVersion: undefined, data: { kind: "none" } };
  const spooled: string[] = [];
  const work: Array<Promise<void>> = [];
  let failure: Error | undefined;
  // Any failure ends the whole form at once: nothing more is read or written.
  const abort = new AbortController();
  const fail = (err: Error) => {
    failure ??= err;
    abort.abort();
  };
  const charge = options.unauthenticated?.open();
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
    // Aborting the form destroys the part streams; their errors are already
    // reported through `failure`, and an unhandled one would end the process.
    stream.on("error", () => {});
    if (failure) {
      stream.resume();
    } else if (name === "data") {
      const spool: DataSpool = { options, form, charge, signal: abort.signal, setData, spooled };
      work.push(receiveDataPart(stream, spool).catch((err: unknown) => fail(asFormError(err))));
    } else if (TEXT_FIELDS.has(name)) {
      work.push(collectSmall(stream, MAX_TEXT_FIELD_BYTES, `multipart field "${name}"`).then((bytes) => setText(name, bytes), fail));
    } else {
      stream.resume();
    }
  });
  parser.on("partsLimit", () => fail(badRequest(`multipart form has more than ${MAX_PARTS} parts`)));

  try {
    try {
      await pipeline(limitedBody(req, options.maxBodyBytes), parser, { signal: abort.signal });
    } catch (err) {
      if (failure) throw failure;
      if (err instanceof HttpError) throw err;
      throw badRequest(`invalid multipart: ${(err as Error).message}`);
    } finally {
      await Promise.allSettled(work);
    }
    await Promise.all(work);
    if (failure) throw failure;
    form.releaseSpoolCharge = () => charge?.release();
    return form;
  } catch (err) {
    charge?.release();
    for (const path of spooled) rmSync(path, { force: true });
    throw err;
  }
}

/** What receiveDataPart works with: the form so far and where its spool file goes. */
interface DataSpool {
  options: LegacyFormOptions;
  form: LegacyForm;
  /** The unauthenticated spool budget's charge for this form. */
  charge: { add(bytes: number): void } | undefined;
  signal: AbortSignal;
  setData: (data: LegacyData) => void;
  /** Spool files written, removed if the form fails. */
  spooled: string[];
}

/**
 * The `data` part. A key that came first is checked before anything is
 * written (a refused one leaves the payload in memory, see unverifiedPrefix);
 * otherwise the payload is spooled, charged to the unauthenticated budget,
 * keeping the disk reserve.
 */
async function receiveDataPart(stream: Readable, spool: DataSpool): Promise<void> {
  const { options, form } = spool;
  const keyFirst = form.hostKey !== "" && options.checkKey !== undefined;
  if (keyFirst) {
    try {
      await options.checkKey!(form.hostKey);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 403) throw err;
      spool.setData({ kind: "memory", bytes: await unverifiedPrefix(stream, err) });
      return;
    }
  }
  const path = join(options.spoolDir, `${randomBytes(12).toString("hex")}.part`);
  const room = options.disk?.writer("legacy spool");
  const guarded = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      room?.(chunk.length);
      if (!keyFirst) spool.charge?.add(chunk.length);
      yield chunk;
    }
  };
  // The form may have failed while the key was checked: then nothing is created.
  if (spool.signal.aborted) throw new Error("form aborted");
  mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
  spool.spooled.push(path);
  const out = createWriteStream(path, { flags: "wx", mode: 0o600 });
  try {
    await pipeline(stream, guarded, out, { signal: spool.signal });
  } catch (err) {
    stream.resume();
    // An abort can come while the file is still being opened: remove it once it is closed.
    if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
    rmSync(path, { force: true });
    throw err;
  }
  spool.setData({ kind: "file", path, bytes: statSync(path).size });
}

/** A data part's failure as the form's status: its own, 507 for a full disk, else 400. */
function asFormError(err: unknown): Error {
  if (err instanceof HttpError) return err;
  if (isNoSpace(err)) return rethrowNoSpaceAsError(err);
  return badRequest(`multipart data part: ${(err as Error).message}`);
}

/** The payload after a refused key, in memory; past MAX_UNVERIFIED_PREFIX_BYTES, the key's refusal. */
async function unverifiedPrefix(stream: Readable, refusal: HttpError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_UNVERIFIED_PREFIX_BYTES) throw refusal;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function rethrowNoSpaceAsError(err: unknown): Error {
  try {
    rethrowNoSpace(err, "legacy spool");
  } catch (converted) {
    return converted as Error;
  }
}

export function disposeLegacyForm(form: LegacyForm): void {
  if (form.data.kind === "file") rmSync(form.data.path, { force: true });
  form.data = { kind: "none" };
  form.releaseSpoolCharge?.();
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
  let payload: Buffer;
  if (!form.compressed) {
    if (data.length >= limits.decompressed) throw new BodyTooLargeError(limits.decompressed, "payload", "bytes", LEGACY_TOO_LARGE);
    payload = data;
  } else {
    try {
      payload = await gunzipAsync(data, { maxOutputLength: limits.decompressed });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new BodyTooLargeError(limits.decompressed, "decompressed payload", "bytes", LEGACY_TOO_LARGE);
      throw badRequest(`invalid gzip: ${(err as Error).message}`);
    }
  }
  if (limits.jsonTokens !== undefined && !new JsonTokenCounter(limits.jsonTokens).add(payload)) {
    throw new BodyTooLargeError(limits.jsonTokens, "JSON structure", "values", LEGACY_TOO_LARGE);
  }
  return payload;
}

/**
 * Writes the decoded payload to a new file at `path` (in the user's folder),
 * streaming. Past `limits.decompressed` the file holds only a prefix and
 * `tooLarge` is set, as for v11 bodies.
 */
export async function legacyPayloadToFile(form: LegacyForm, limits: BodyLimits, path: string, options: SpoolOptions = {}): Promise<FileBodyResult> {
  const data = form.data;
  if (!form.compressed && data.kind === "file" && data.bytes > 0 && data.bytes < limits.decompressed) {
    // Already the payload: move it over (same file system unless configured oddly).
    try {
      renameSync(data.path, path);
      form.data = { kind: "none" };
      if (options.transient) return { bytes: data.bytes, tooLarge: false };
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
  const room = limits.disk?.writer("upload");
  const file = await open(path, "wx", 0o600).catch((err: unknown) => rethrowNoSpace(err, "upload"));
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
        room?.(buf.length);
        await file.write(buf);
      }
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (isNoSpace(err)) rethrowNoSpace(err, "upload");
      throw badRequest(`invalid gzip: ${(err as Error).message}`);
    } finally {
      source.destroy();
      decoded.destroy();
    }
    if (!options.transient) await file.sync().catch((err: unknown) => rethrowNoSpace(err, "upload"));
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
    writePayloadToFile: async (limits, path, options) => {
      try {
        return await legacyPayloadToFile(form, limits, path, options);
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
