// node:http server: finds the route in the tables, decodes the envelope (v11
// header + zstd, or a legacy multipart form, see legacy.ts), hands login to
// login.ts and user routes to run-route.ts, and logs one line per request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { logger } from "../log.js";
import { HttpError } from "../protocol/errors.js";
import type { BodyLimits, Route } from "../protocol/types.js";
import type { RequestLog, ServerDeps } from "./context.js";
import { BodyTooLargeError, parseSyncHeader, readPayload, sendError, writePayloadToFile } from "./envelope.js";
import { LEGACY_TOO_LARGE, readLegacyEnvelope } from "./legacy.js";
import { login } from "./login.js";
import { authorizedUser, runAuthorizedRoute, runGetRoute } from "./run-route.js";
import { serveRoot } from "./root.js";
import type { RequestEnvelope, SyncHeader } from "../protocol/types.js";
import { routeBudget, wireLimit } from "./budgets.js";
import { ConnectionGuard } from "./connections.js";
import { DISK_FULL_STATUS, isNoSpace } from "../disk-space.js";

/**
 * After an error with the body still coming: what is read (and dropped) so
 * that a client which sends its whole body before reading (most HTTP
 * libraries) still sees the reply, before the connection is cut.
 */
const DRAIN_BYTES = 16 * 1024 * 1024;
const DRAIN_MS = 10_000;

export type { ServerDeps } from "./context.js";

export function createSyncServer(deps: ServerDeps): Server {
  const guard = new ConnectionGuard(deps.connections, deps.isTrustedProxy);
  const server = createServer((req, res) => void handleRequest(deps, guard, req, res));
  // Full uploads and downloads of large collections take a while on slow links:
  // no overall request timeout; a body that stalls is cut by its rate instead
  // (connections.ts, which also sets the header and keep-alive timeouts).
  server.requestTimeout = 0;
  guard.attach(server);
  return server;
}

/** Answers one request, turning a thrown error into its status, and logs it. */
async function handleRequest(deps: ServerDeps, guard: ConnectionGuard, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const entry: RequestLog = { route: req.url?.slice(0, 100) ?? "" };
  const recorded = deps.ops?.track(req, res);
  try {
    await dispatch(deps, guard, req, res, entry);
  } catch (err: unknown) {
    // ENOSPC / SQLITE_FULL from anywhere (a sync step's commit, a media batch's
    // files), also when a handler wrapped it as a 400: 507, "disk full".
    const noSpace = err instanceof HttpError ? err.status === 400 && isNoSpace(err.cause) : isNoSpace(err);
    const status = noSpace ? DISK_FULL_STATUS : err instanceof HttpError ? err.status : 500;
    entry.reason ??= noSpace ? `disk full: ${(err as Error).message}${err instanceof HttpError ? ` (${(err.cause as Error).message})` : ""}` : (err as Error).message;
    if (err instanceof BodyTooLargeError) entry.limit = err.limit;
    if (status === 500) entry.reason += ` ${(err as Error).stack?.split("\n")[1]?.trim() ?? ""}`;
    if (!req.complete && !res.headersSent) {
      // Unread body: the reply goes out at once and the rest of the body is
      // read and dropped, so a client still sending sees it; past a bound the
      // connection is cut (an early 413 is not an invitation to upload).
      drainThenClose(req);
    }
    sendError(res, status);
  } finally {
    recorded?.(entry.route, entry.user, entry.clientVersion);
    logRequest(entry, res.statusCode, performance.now() - started);
  }
}

function logRequest(entry: RequestLog, status: number, ms: number): void {
  const quiet = entry.route === "/health" || entry.route === "/metrics";
  const level = status >= 500 && status !== 501 ? "error" : status >= 400 ? "warn" : quiet ? "debug" : "info";
  logger[level]("request", { user: entry.user, route: entry.route, cv: entry.clientVersion, status, ms: Math.round(ms), limit: entry.limit, reason: entry.reason });
}

function drainThenClose(req: IncomingMessage): void {
  // node reads (and drops) the rest of a well-framed body itself; this only
  // bounds how much and how long, watching the socket's byte count.
  const socket = req.socket;
  const startBytes = socket.bytesRead;
  const started = Date.now();
  req.resume();
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) {
      clearInterval(timer);
    } else if (socket.bytesRead - startBytes > DRAIN_BYTES || Date.now() - started > DRAIN_MS) {
      clearInterval(timer);
      socket.destroy();
    }
  }, 100);
  timer.unref();
}

/** The route a path names in the tables (with its group and name), or a thrown 404. */
function findRoute(deps: ServerDeps, path: string): { route: Route; group: "sync" | "msync"; name: string } {
  const match = /^\/(sync|msync)\/([A-Za-z0-9]+)$/.exec(path);
  const group = match?.[1] as "sync" | "msync" | undefined;
  const name = match?.[2];
  if (!group || !name || !Object.hasOwn(deps.routes[group], name)) throw new HttpError(404, "unknown route");
  return { route: deps.routes[group][name]!, group, name };
}

/**
 * The route's body limits, known before a byte of the body is read; a
 * declared length above them is refused at once (413; a legacy form 400, as
 * from the official server, and never more than MAX_SYNC_PAYLOAD_MEGS).
 */
function bodyLimits(deps: ServerDeps, group: "sync" | "msync", name: string, req: IncomingMessage): { limits: BodyLimits; wire: number } {
  const budget = routeBudget(group, name, deps.budgets);
  const limits: BodyLimits = { compressed: wireLimit(budget), decompressed: budget.bytes, jsonTokens: budget.jsonTokens, disk: deps.disk };
  const v11 = typeof req.headers["anki-sync"] === "string";
  const wire = v11 ? limits.compressed : Math.min(limits.compressed, deps.maxLegacyFormBytes);
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > wire) throw new BodyTooLargeError(wire, "declared content-length", "bytes", v11 ? 413 : LEGACY_TOO_LARGE);
  return { limits, wire };
}

/**
 * The request's envelope. No anki-sync header: a protocol 8-10 client's
 * multipart form, whose host key, when sent before the payload, is checked
 * before the payload touches the disk.
 */
async function readEnvelope(deps: ServerDeps, req: IncomingMessage, res: ServerResponse, path: string, wire: number, checkKey: boolean): Promise<RequestEnvelope> {
  const headerValue = req.headers["anki-sync"];
  if (typeof headerValue === "string") return v11Envelope(req, parseSyncHeader(headerValue));
  return readLegacyEnvelope(req, {
    maxBodyBytes: wire,
    spoolDir: deps.legacySpoolDir,
    mediaBegin: path === "/msync/begin",
    disk: deps.disk,
    unauthenticated: deps.unauthenticatedSpool,
    checkKey: checkKey ? async (key) => void (await authorizedUser(deps, key, "", deps.clientAddress(req), res)) : undefined,
  });
}

function serveOps(deps: ServerDeps, path: "/health" | "/metrics", req: IncomingMessage, res: ServerResponse): void {
  if (deps.ops) return deps.ops.serve(path, req, res);
  if (path === "/metrics") throw new HttpError(404, "unknown route");
  if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "health check takes GET");
  res.writeHead(200, { "content-length": "0" });
  res.end();
}

function v11Envelope(req: IncomingMessage, header: SyncHeader): RequestEnvelope {
  return {
    header,
    protocol: header.version,
    readPayload: (limits) => readPayload(req, limits),
    writePayloadToFile: (limits, path, options) => writePayloadToFile(req, limits, path, options),
  };
}

async function dispatch(deps: ServerDeps, guard: ConnectionGuard, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const path = url.pathname;
  entry.route = path;
  if (path === "/") return serveRoot(req, res);
  if (deps.admin && (path === "/admin" || path.startsWith("/admin/"))) return deps.admin.handle(req, res, path);
  if (path === "/metrics" && deps.metricsAllowed && !deps.metricsAllowed(deps.clientAddress(req))) throw new HttpError(403, "/metrics is not open to this address");
  if (path === "/health" || path === "/metrics") return serveOps(deps, path, req, res);
  deps.ops?.admit();
  const { route, group, name } = findRoute(deps, path);
  const getAllowed = route.body === "json" && route.allowGet === true;
  if (req.method !== "POST" && !(req.method === "GET" && getAllowed)) throw new HttpError(405, `${req.method} not allowed`);
  if (req.method === "GET" && route.body !== "login") return runGetRoute(deps, route, url, req, res, entry);

  const { limits, wire } = bodyLimits(deps, group, name, req);
  guard.watchBody(req, res, (reason) => {
    entry.reason = reason;
  });
  const envelope = await readEnvelope(deps, req, res, path, wire, route.body !== "login");
  try {
    entry.clientVersion = envelope.header.clientVersion;
    if (route.body === "login") return await login(deps, envelope, req, res, entry);
    await runAuthorizedRoute(deps, route, envelope, req, res, entry, limits);
  } finally {
    envelope.dispose?.();
  }
}
