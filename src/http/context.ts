// What every request handler in this folder is given: the server's
// dependencies, passed explicitly from createSyncServer down to each step.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Authenticator } from "../auth/authenticator.js";
import type { RouteTable } from "../protocol/types.js";
import type { DiskSpace } from "../disk-space.js";
import type { BudgetSettings } from "./budgets.js";
import type { ConnectionLimits } from "./connections.js";
import type { SpoolBudget } from "./legacy.js";
import type { UserRegistry } from "../users/user.js";
import type { ServerOps } from "./ops.js";

export interface ServerDeps {
  auth: Authenticator;
  users: UserRegistry;
  routes: { sync: RouteTable; msync: RouteTable };
  /** What each route's body budget is computed from (budgets.ts). */
  budgets: BudgetSettings;
  /** Free-space reserve for everything a request writes. */
  disk: DiskSpace;
  /** Timeouts and the per-address connection cap. */
  connections: ConnectionLimits;
  /** The largest legacy multipart form accepted, in bytes. */
  maxLegacyFormBytes: number;
  /** Where legacy payloads wait until the form's host key names the user. */
  legacySpoolDir: string;
  /** Bytes spooled by legacy forms whose host key comes after the payload. */
  unauthenticatedSpool: SpoolBudget;
  /** Peers exempt from the per-address connection cap (trusted reverse proxies). */
  isTrustedProxy: (address: string) => boolean;
  /** The client's address (forwarded headers from trusted proxies). */
  clientAddress: (req: IncomingMessage) => string;
  /** /health, /metrics, request accounting, and refusing requests during shutdown or maintenance. */
  ops?: ServerOps;
  /** The status page (src/admin/), when turned on: answers every /admin path. */
  admin?: { handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> };
  /** With --metrics-allow: whether a client address may read /metrics. */
  metricsAllowed?: (address: string) => boolean;
  /** Told of every failed login (the status page lists the recent ones). */
  onLoginFailure?: (address: string, user: string, reason: string) => void;
  /**
   * Awaited after each successful login, before the host key is answered:
   * the app loads the sync and media code then, so the client's first sync
   * step finds it loaded. A failure is logged, not the login's: every route
   * loads its code again on its own first use.
   */
  onLogin?: (user: string) => Promise<void> | void;
}

/** One request's log line, filled in as the request is understood. */
export interface RequestLog {
  route: string;
  user?: string;
  clientVersion?: string;
  /** Why the request failed; logged on the same line as the request. */
  reason?: string;
  /** A 413's limit, on the same line as the route. */
  limit?: number;
}
