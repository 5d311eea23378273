// The typed shape of a decoded request and of a reply, shared by the router
// and every route handler.
import type { SyncHeader } from "./envelope.js";
import type { UserState } from "../sync/user.js";

export interface RequestInfo {
  header: SyncHeader;
  /** Remote address, for logs and the device list. */
  address: string;
}

export type Reply =
  | { kind: "payload"; data: Buffer }
  /** `cleanup`, when given, runs once the file has been streamed out (or the reply failed). */
  | { kind: "file"; path: string; size: number; cleanup?: () => void };

export const jsonReply = (value: unknown): Reply => ({ kind: "payload", data: Buffer.from(JSON.stringify(value), "utf8") });
export const textReply = (text: string): Reply => ({ kind: "payload", data: Buffer.from(text, "utf8") });

/** A route whose (small) payload is read into memory before the handler runs. */
export interface JsonRoute {
  body: "json";
  handle(user: UserState, payload: Buffer, info: RequestInfo): Promise<Reply> | Reply;
}

export interface ReceivedFile {
  path: string;
  bytes: number;
  /** The decompressed body reached the configured limit; the file is incomplete. */
  tooLarge: boolean;
}

/** A route whose payload is streamed to a temporary file in the user's folder first. */
export interface FileRoute {
  body: "file";
  handle(user: UserState, file: ReceivedFile, info: RequestInfo): Promise<Reply> | Reply;
}

export type UserRoute = JsonRoute | FileRoute;
