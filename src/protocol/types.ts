// The typed shape of a decoded request, of a reply and of a route table entry,
// shared by the HTTP layer (which decodes and encodes) and every route handler.
import type { UserState } from "../users/user.js";

/** The `anki-sync` header of a v11 request (or its legacy-form equivalent). */
export interface SyncHeader {
  version: number;
  hostKey: string;
  clientVersion: string;
  sessionKey: string;
}

/** Size limits for one request body. */
export interface BodyLimits {
  /** Bytes on the wire. */
  compressed: number;
  /** Bytes after decompression. */
  decompressed: number;
  /** JSON routes: the most containers and values the payload may hold (src/http/budgets.ts). */
  jsonTokens?: number;
  /** Writes to disk keep the free-space reserve (src/disk-space.ts). */
  disk?: WriteRoom;
}

/** Checks free space as a request writes: `writer(what)(bytes)` throws 507 below the reserve. */
export interface WriteRoom {
  writer(what: string): (bytes: number) => void;
}

export interface SpoolOptions {
  transient?: boolean;
  /** A payload of at most this many bytes is returned in `data` and no file is created (transient routes). */
  keepInMemoryUpTo?: number;
}

export interface FileBodyResult {
  bytes: number;
  /** The decompressed body reached the limit; the file holds only a prefix. */
  tooLarge: boolean;
  /** The whole payload, when it stayed in memory (then there is no file). */
  data?: Buffer;
}

export interface RequestInfo {
  header: SyncHeader;
  /** Remote address, for logs and the device list. */
  address: string;
  /**
   * The request's sync protocol version as the official server counts it:
   * the `anki-sync` header's `v`, or 10 for every legacy multipart request
   * (and the GET form of msync/begin). Below 11 the reply is raw (no zstd, no
   * anki-original-size) and a full download is a schema-11 file.
   */
  protocol: number;
}

/** Legacy clients (protocol 8-10) get raw replies and schema-11 collections. */
export const isLegacyProtocol = (protocol: number): boolean => protocol < 11;

/** How a request's metadata and payload arrived: the v11 header + zstd body, or a legacy multipart form. */
export interface RequestEnvelope {
  header: SyncHeader;
  protocol: number;
  /** The whole decoded payload (small routes). */
  readPayload(limits: BodyLimits): Promise<Buffer>;
  /**
   * Streams the decoded payload into a new file at `path`, fsynced before this
   * resolves unless `transient` (the file is read back and deleted within the
   * request, so a power loss can lose nothing acknowledged with it).
   */
  writePayloadToFile(limits: BodyLimits, path: string, options?: SpoolOptions): Promise<FileBodyResult>;
  /** Removes whatever the envelope spooled; runs once the request is done. */
  dispose?(): void;
}

export type Reply =
  /**
   * `compressionLevel`: zstd level of a v11 reply when not the default (media zips are incompressible).
   * `release`, when given, runs once `data` has been sent (or the reply failed): its memory may then be reused.
   */
  | { kind: "payload"; data: Buffer; compressionLevel?: number; release?: () => void }
  /** `cleanup`, when given, runs once the file has been streamed out (or the reply failed). */
  | { kind: "file"; path: string; size: number; cleanup?: () => void };

export const jsonReply = (value: unknown): Reply => ({ kind: "payload", data: Buffer.from(JSON.stringify(value), "utf8") });
export const textReply = (text: string): Reply => ({ kind: "payload", data: Buffer.from(text, "utf8") });

/** A route whose (small) payload is read into memory before the handler runs. */
export interface JsonRoute {
  body: "json";
  /** Also answered to GET with the host key in the query (msync/begin from Rust clients 2.1.28-2.1.56). */
  allowGet?: boolean;
  handle(user: UserState, payload: Buffer, info: RequestInfo): Promise<Reply> | Reply;
}

export interface ReceivedFile {
  path: string;
  bytes: number;
  /** The decompressed body reached the configured limit; the file is incomplete. */
  tooLarge: boolean;
  /** A small payload of an `inMemoryUpTo` route: the whole payload, and `path` was never created. */
  data?: Buffer;
}

/** A route whose payload is streamed to a temporary file in the user's folder first. */
export interface FileRoute {
  body: "file";
  /**
   * The handler only reads the payload file (it is deleted after the
   * request), so it need not be fsynced: whatever the handler acknowledges,
   * it makes durable itself.
   */
  transient?: boolean;
  /**
   * Transient routes: a payload of at most this many bytes is handed over in
   * memory (`ReceivedFile.data`) instead of being written to a file and read
   * back; a larger one spills to the file as it arrives.
   */
  inMemoryUpTo?: number;
  handle(user: UserState, file: ReceivedFile, info: RequestInfo): Promise<Reply> | Reply;
}

export type UserRoute = JsonRoute | FileRoute;

/**
 * `/sync/hostKey`: no user yet, so no handler here; the HTTP layer checks the
 * credentials with the authenticator and answers the host key itself.
 */
export interface LoginRoute {
  body: "login";
}

export type Route = UserRoute | LoginRoute;

/** Method name (the last path segment) -> route, for one of `/sync/` and `/msync/`. */
export type RouteTable = Readonly<Record<string, Route>>;
