// node:http server: finds the route in the tables, decodes the envelope (v11
// header + zstd, or a legacy multipart form, see legacy.ts), hands login to
// login.ts and user routes to run-route.ts, and logs one line per request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { logger } from "../log.js";
import { HttpError } from "../protocol/errors.js";
import type { Route } from "../protocol/types.js";
import type { RequestLog, ServerDeps } from "./context.js";
import { parseSyncHeader, readPayload, sendError, writePayloadToFile } from "./envelope.js";
import { readLegacyEnvelope } from "./legacy.js";
import { login } from "./login.js";
import { runAuthorizedRoute, runGetRoute } from "./run-route.js";
import { serveRoot } from "./root.js";
import type { RequestEnvelope, SyncHeader } from "../protocol/types.js";

export type { ServerDeps } from "./context.js";

export function createSyncServer(deps: ServerDeps): Server {
  const server = createServer((req, res) => void handleRequest(deps, req, res));
  // Full uploads and downloads of large collections take a while on slow links.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return server;
}

/** Answers one request, turning a thrown error into its status, and logs it. */
async function handleRequest(deps: ServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const entry: RequestLog = { route: req.url?.slice(0, 100) ?? "" };
  const recorded = deps.ops?.track(req, res);
  try {
    await dispatch(deps, req, res, entry);
  } catch (err: unknown) {
    const status = err instanceof HttpError ? err.status : 500;
    entry.reason = (err as Error).message;
    if (status === 500) entry.reason += ` ${(err as Error).stack?.split("\n")[1]?.trim() ?? ""}`;
    if (!req.complete) {
      // Unread body: close the connection after the reply rather than parse garbage as the next request.
      res.setHeader("connection", "close");
      req.resume();
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
  logger[level]("request", { user: entry.user, route: entry.route, cv: entry.clientVersion, status, ms: Math.round(ms), reason: entry.reason });
}

/** The route a path names in the tables, or a thrown 404. */
function findRoute(deps: ServerDeps, path: string): Route {
  const match = /^\/(sync|msync)\/([A-Za-z0-9]+)$/.exec(path);
  const group = match?.[1] as "sync" | "msync" | undefined;
  const name = match?.[2];
  if (!group || !name || !Object.hasOwn(deps.routes[group], name)) throw new HttpError(404, "unknown route");
  return deps.routes[group][name]!;
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
    writePayloadToFile: (limits, path) => writePayloadToFile(req, limits, path),
  };
}

async function dispatch(deps: ServerDeps, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const path = url.pathname;
  entry.route = path;
  if (path === "/") return serveRoot(req, res);
  if (deps.admin && (path === "/admin" || path.startsWith("/admin/"))) return deps.admin.handle(req, res, path);
  if (path === "/metrics" && deps.metricsAllowed && !deps.metricsAllowed(deps.clientAddress(req))) throw new HttpError(403, "/metrics is not open to this address");
  if (path === "/health" || path === "/metrics") return serveOps(deps, path, req, res);
  deps.ops?.admit();
  const route = findRoute(deps, path);
  const getAllowed = route.body === "json" && route.allowGet === true;
  if (req.method !== "POST" && !(req.method === "GET" && getAllowed)) throw new HttpError(405, `${req.method} not allowed`);
  if (req.method === "GET" && route.body !== "login") return runGetRoute(deps, route, url, req, res, entry);

  // No anki-sync header: a protocol 8-10 client's multipart form, read whole
  // (the host key may follow the payload) before the key is checked.
  const headerValue = req.headers["anki-sync"];
  const envelope =
    typeof headerValue === "string"
      ? v11Envelope(req, parseSyncHeader(headerValue))
      : await readLegacyEnvelope(req, { maxBodyBytes: deps.maxLegacyFormBytes, spoolDir: deps.legacySpoolDir, mediaBegin: path === "/msync/begin" });
  try {
    entry.clientVersion = envelope.header.clientVersion;
    if (route.body === "login") return await login(deps, envelope, req, res, entry);
    await runAuthorizedRoute(deps, route, envelope, req, res, entry);
  } finally {
    envelope.dispose?.();
  }
}
