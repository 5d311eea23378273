// What every request handler in this folder is given: the server's
// dependencies, passed explicitly from createSyncServer down to each step.
import type { IncomingMessage } from "node:http";
import type { Authenticator } from "../auth/authenticator.js";
import type { BodyLimits } from "../protocol/types.js";
import type { RouteTable } from "../protocol/types.js";
import type { UserRegistry } from "../users/user.js";
import type { ServerOps } from "./ops.js";

export interface ServerDeps {
  auth: Authenticator;
  users: UserRegistry;
  routes: { sync: RouteTable; msync: RouteTable };
  /** Body limits of user routes (login has its own, smaller ones). */
  limits: BodyLimits;
  /** The largest legacy multipart form accepted, in bytes. */
  maxLegacyFormBytes: number;
  /** Where legacy payloads wait until the form's host key names the user. */
  legacySpoolDir: string;
  /** The client's address (forwarded headers from trusted proxies). */
  clientAddress: (req: IncomingMessage) => string;
  /** /health, /metrics, request accounting, and refusing requests during shutdown or maintenance. */
  ops?: ServerOps;
  /** Called after each successful login (the app loads the sync code then, before the client's first sync step). */
  onLogin?: (user: string) => void;
}

/** One request's log line, filled in as the request is understood. */
export interface RequestLog {
  route: string;
  user?: string;
  clientVersion?: string;
  /** Why the request failed; logged on the same line as the request. */
  reason?: string;
}
