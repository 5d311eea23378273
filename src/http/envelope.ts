// The v11 request/response envelope: metadata in the `anki-sync` header, body
// zstd-compressed both ways, `anki-original-size` on every successful reply.
import { type FileHandle, open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type * as Zstd from "zstd-napi";
import type * as ZstdBinding from "zstd-napi/binding.js";
import { HttpError, badRequest } from "../protocol/errors.js";
import type { BodyLimits, FileBodyResult, SpoolOptions, SyncHeader } from "../protocol/types.js";
import { JsonTokenCounter } from "./budgets.js";
import { replyBuffers } from "../buffer-pool.js";
import { rethrowNoSpace } from "../disk-space.js";

export const MIN_SYNC_VERSION = 8;
export const MAX_SYNC_VERSION = 11;

/** Parses the `anki-sync` header; all four keys are required, as in the official server. */
export function parseSyncHeader(value: string): SyncHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw badRequest("bad sync header: not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw badRequest("bad sync header: not an object");
  }
  const { v, k, c, s } = parsed as Record<string, unknown>;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255) throw badRequest("bad sync header: v");
  if (typeof k !== "string" || typeof c !== "string" || typeof s !== "string") {
    throw badRequest("bad sync header: k, c and s must be strings");
  }
  if (v < MIN_SYNC_VERSION || v > MAX_SYNC_VERSION) throw badRequest(`unsupported sync version: ${v}`);
  return { version: v, hostKey: k, clientVersion: c.slice(0, 200), sessionKey: s.slice(0, 200) };
}

/** Over a budget: 413 for v11 requests; legacy forms get 400, as from the official server (see legacy.ts). */
export class BodyTooLargeError extends HttpError {
  constructor(
    readonly limit: number,
    what = "request body",
    unit = "bytes",
    status = 413,
  ) {
    super(status, `${what} exceeds the limit of ${limit} ${unit}`);
  }
}

// zstd-napi (a native module) is loaded by the first request that needs it,
// not at server start: an idle server does not keep it in memory. require()
// is synchronous, so callers stay as they were; the binding is its low-level
// streaming context, a CommonJS module whose named exports ESM cannot see.
const require = createRequire(import.meta.url);
let zstdModule: typeof Zstd | undefined;
let zstdBinding: typeof ZstdBinding | undefined;
const zstd = (): typeof Zstd => (zstdModule ??= require("zstd-napi") as typeof Zstd);
const binding = (): typeof ZstdBinding => (zstdBinding ??= require("zstd-napi/binding.js") as typeof ZstdBinding);

const OUTPUT_CHUNK = 128 * 1024;

/** Decompresses a zstd stream chunk by chunk (zstd-napi's streaming context). */
export async function* zstdDecode(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const dctx = new (binding().DCtx)();
  let inFrame = false;
  for await (const chunk of source) {
    let input = chunk;
    if (input.length === 0) continue;
    for (;;) {
      const output = Buffer.allocUnsafe(OUTPUT_CHUNK);
      const [ret, produced, consumed] = dctx.decompressStream(output, input);
      input = input.subarray(consumed);
      inFrame = ret !== 0;
      if (produced > 0) yield output.subarray(0, produced);
      // Done with this chunk once it is consumed and nothing is left to flush:
      // either the output buffer had room to spare or the frame is complete
      // (calling again after a complete frame would start reading the next one).
      if (input.length === 0 && (produced < OUTPUT_CHUNK || ret === 0)) break;
    }
  }
  if (inFrame) throw new Error("body ends in the middle of a zstd frame");
}

/**
 * zstdDecode for a consumer that is done with each piece before asking for
 * the next (a file write): the output fills one buffer, handed out whole (or
 * the last part at the end), so a 100 MB body leaves no trail of 128 KiB
 * buffers for the garbage collector, whose freed memory the allocator would
 * keep as resident.
 */
export async function* zstdDecodeReusing(source: AsyncIterable<Buffer>, buffer: Buffer): AsyncGenerator<Buffer> {
  const dctx = new (binding().DCtx)();
  let inFrame = false;
  let filled = 0;
  for await (const chunk of source) {
    let input = chunk;
    if (input.length === 0) continue;
    for (;;) {
      const [ret, produced, consumed] = dctx.decompressStream(buffer.subarray(filled), input);
      input = input.subarray(consumed);
      filled += produced;
      inFrame = ret !== 0;
      if (filled === buffer.length) {
        yield buffer;
        filled = 0;
        // A full buffer may mean more output is waiting: call again, unless
        // the frame is complete and the input used up.
        if (input.length === 0 && ret === 0) break;
        continue;
      }
      // Room to spare: everything this input gives has been written out.
      if (input.length === 0) break;
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
  if (inFrame) throw new Error("body ends in the middle of a zstd frame");
}

/** Counts the wire bytes of the request and refuses more than `limit`. */
async function* limitedSource(req: IncomingMessage, limit: number, seen: { bytes: number }): AsyncGenerator<Buffer> {
  // destroyOnReturn: false keeps the socket usable for the error reply when decoding fails midway.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buf = chunk as Buffer;
    seen.bytes += buf.length;
    if (seen.bytes > limit) throw new BodyTooLargeError(limit, "body on the wire");
    yield buf;
  }
}

/**
 * Feeds the decompressed payload of a v11 request to `onChunk`. An empty body
 * (zero bytes) is an empty payload. Past `decompressedLimit` the rest of the
 * body is drained and discarded (so a reply can still be sent) and the
 * function reports `overLimit`.
 */
async function decodeZstdBody(
  req: IncomingMessage,
  limits: BodyLimits,
  buffer: Buffer,
  onChunk: (chunk: Buffer) => Promise<void> | void,
): Promise<{ decompressed: number; overLimit: boolean }> {
  const wire = { bytes: 0 };
  let decompressed = 0;
  let overLimit = false;
  try {
    for await (const chunk of zstdDecodeReusing(limitedSource(req, limits.compressed, wire), buffer)) {
      if (overLimit) continue;
      decompressed += chunk.length;
      if (decompressed >= limits.decompressed) {
        overLimit = true;
        continue;
      }
      await onChunk(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw badRequest(`bad zstd body: ${(err as Error).message}`);
  }
  return { decompressed, overLimit };
}

/**
 * Reads a whole (small) decompressed payload into memory. Past the byte or
 * JSON-structure budget it stops inflating at once: 413, the rest unread.
 */
export async function readPayload(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const tokens = limits.jsonTokens === undefined ? undefined : new JsonTokenCounter(limits.jsonTokens);
  try {
    for await (const chunk of zstdDecode(limitedSource(req, limits.compressed, { bytes: 0 }))) {
      size += chunk.length;
      if (size >= limits.decompressed) throw new BodyTooLargeError(limits.decompressed, "decompressed body");
      if (tokens && !tokens.add(chunk)) throw new BodyTooLargeError(tokens.limit, "JSON structure", "values");
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw badRequest(`bad zstd body: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks);
}

/** The spool's decode buffer: the body is written this many bytes at a time. */
const SPOOL_WRITE_BYTES = 1024 * 1024;

/**
 * Streams the decompressed payload into a new file at `path`, never holding
 * more than SPOOL_WRITE_BYTES of it in memory (one buffer, written 1 MiB at a
 * time); fsynced unless transient. With `keepInMemoryUpTo`, a payload up to
 * that size is kept in memory and returned in `data` without creating the
 * file (creating, writing, reading back and deleting it cost a media batch
 * more than parsing it); a larger one spills to the file once it passes the
 * size.
 */
export async function writePayloadToFile(req: IncomingMessage, limits: BodyLimits, path: string, options: SpoolOptions = {}): Promise<FileBodyResult> {
  const room = limits.disk?.writer("upload");
  const memoryLimit = options.transient ? (options.keepInMemoryUpTo ?? 0) : 0;
  let held: Buffer[] | undefined = memoryLimit > 0 ? [] : undefined;
  let heldBytes = 0;
  let file: FileHandle | undefined;
  const writeOut = async (chunk: Buffer) => {
    file ??= await open(path, "wx", 0o600).catch((err: unknown) => rethrowNoSpace(err, "upload"));
    // The buffer may be reused for the next piece: write all of it first.
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await file.write(chunk, done, chunk.length - done).catch((err: unknown) => rethrowNoSpace(err, "upload"));
      done += bytesWritten;
    }
  };
  try {
    if (!held) file = await open(path, "wx", 0o600).catch((err: unknown) => rethrowNoSpace(err, "upload"));
    const result = await decodeZstdBody(req, limits, Buffer.allocUnsafe(SPOOL_WRITE_BYTES), async (chunk) => {
      // Counted against the free-space reserve in memory too: the handler
      // writes these bytes to disk (a media batch's files).
      room?.(chunk.length);
      if (held && heldBytes + chunk.length <= memoryLimit) {
        held.push(Buffer.from(chunk));
        heldBytes += chunk.length;
        return;
      }
      if (held) {
        // Past the in-memory size: what was held goes to the file first.
        const earlier = held;
        held = undefined;
        for (const piece of earlier) await writeOut(piece);
      }
      await writeOut(chunk);
    });
    if (held) return { bytes: result.decompressed, tooLarge: result.overLimit, data: Buffer.concat(held, heldBytes) };
    // Not kept in memory: the file was opened up front, or when the payload spilled.
    if (!options.transient) await file!.sync().catch((err: unknown) => rethrowNoSpace(err, "upload"));
    return { bytes: result.decompressed, tooLarge: result.overLimit };
  } finally {
    await file?.close();
  }
}

/** Runs `done` once, when the response has been handed to the socket or has failed. */
export function whenSent(res: ServerResponse, done: () => void): void {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    done();
  };
  res.once("finish", once);
  res.once("close", once);
}

/** Replies from this size on are compressed into a pooled buffer (media zips). */
const POOLED_REPLY_BYTES = 256 * 1024;
let replyCCtx: ZstdBinding.CCtx | undefined;

/**
 * A v11 reply: zstd body and the uncompressed size in `anki-original-size`.
 * `onSent` runs once the socket has the bytes (or the reply failed): the
 * caller may then reuse `payload`'s memory.
 */
export function sendPayload(res: ServerResponse, payload: Buffer, compressionLevel?: number, onSent?: () => void): void {
  let body: Buffer;
  if (payload.length < POOLED_REPLY_BYTES) {
    body = zstd().compress(payload, compressionLevel === undefined ? {} : { compressionLevel });
    if (onSent) whenSent(res, onSent);
  } else {
    const b = binding();
    const cctx = (replyCCtx ??= new b.CCtx());
    // Level 0 is zstd's default (3). compress2 starts a fresh frame each time.
    cctx.setParameter(b.CParameter.compressionLevel, compressionLevel ?? 0);
    const dest = replyBuffers.take(b.compressBound(payload.length));
    try {
      body = dest.subarray(0, cctx.compress2(dest, payload));
    } catch (err) {
      replyBuffers.give(dest);
      throw err;
    }
    whenSent(res, () => {
      replyBuffers.give(dest);
      onSent?.();
    });
  }
  res.writeHead(200, {
    "anki-original-size": String(payload.length),
    "content-type": "application/octet-stream",
    "content-length": String(body.length),
  });
  res.end(body);
}

/** Bytes read from the file per step of sendFile. */
const SEND_READ_BYTES = 1024 * 1024;
/** Compressed output buffers in flight per sendFile (each OUTPUT_CHUNK). */
const SEND_OUTPUT_BUFFERS = 4;

/**
 * Streams a file as a v11 reply, compressing on the fly. Level 1 halves the
 * CPU of zstd's default on a 100 MB collection for about 7% more bytes, and
 * media zips are mostly already-compressed images and audio.
 *
 * One read buffer and a few output buffers are reused for the whole file (an
 * output buffer goes back to the pool once the socket has taken its bytes):
 * a stream pipeline allocated a buffer per 64 KiB read and per compressed
 * piece, and the memory the garbage collector freed stayed resident.
 * The pool also bounds what waits for a slow client.
 */
export async function sendFile(res: ServerResponse, path: string, size: number): Promise<void> {
  const b = binding();
  const cctx = new b.CCtx();
  cctx.setParameter(b.CParameter.compressionLevel, 1);
  const file = await open(path, "r");
  const free: Buffer[] = Array.from({ length: SEND_OUTPUT_BUFFERS }, () => Buffer.allocUnsafe(OUTPUT_CHUNK));
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    wake?.();
  };
  // Set before any other 'close' listener runs (this one is registered first).
  const onClose = () => {
    if (!res.writableFinished) fail(new Error("the client closed the connection before the file was sent"));
  };
  res.on("close", onClose);
  const takeBuffer = async (): Promise<Buffer> => {
    while (free.length === 0 && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
    if (failure) throw failure;
    return free.pop() as Buffer;
  };
  const send = (out: Buffer, bytes: number) => {
    res.write(out.subarray(0, bytes), (err) => {
      if (err) return fail(err);
      free.push(out);
      wake?.();
    });
  };
  try {
    res.writeHead(200, { "anki-original-size": String(size), "content-type": "application/octet-stream" });
    const input = Buffer.allocUnsafe(SEND_READ_BYTES);
    for (let eof = false; !eof; ) {
      const { bytesRead } = await file.read(input, 0, input.length, null);
      eof = bytesRead === 0;
      let src = input.subarray(0, bytesRead);
      const op = eof ? b.EndDirective.end : b.EndDirective.continue;
      for (;;) {
        const out = await takeBuffer();
        const [remaining, produced, consumed] = cctx.compressStream2(out, src, op);
        src = src.subarray(consumed);
        if (produced > 0) send(out, produced);
        else free.push(out);
        // Continue: move on once the input is taken. End: once the frame is flushed.
        if (eof ? remaining === 0 : src.length === 0) break;
      }
    }
    if (failure) throw failure;
    const finished = new Promise<void>((resolve, reject) => {
      res.once("finish", resolve);
      res.once("close", () => (res.writableFinished ? resolve() : reject(failure)));
    });
    res.end();
    await finished;
  } finally {
    res.off("close", onClose);
    await file.close();
  }
}

export function sendError(res: ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = String(status);
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": String(body.length) });
  res.end(body);
}
