// node:http server: finds the route, decodes the envelope (v11 header + zstd,
// or a legacy multipart form, see legacy.ts), authenticates the host key, runs
// the handler under the user's lock and encodes the reply for the protocol.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { rmSync } from "node:fs";
import type { Authenticator } from "../auth/authenticator.js";
import { logLoginBusy, logLoginFailure } from "../auth/login-log.js";
import type { Config } from "../config.js";
import { logger } from "../log.js";
import type { UserRegistry, UserState } from "../sync/user.js";
import { parseSyncHeader, readPayload, sendError, sendFile, sendPayload, writePayloadToFile, type BodyLimits, type SyncHeader } from "./envelope.js";
import { LEGACY_PROTOCOL, readLegacyEnvelope, sendRawFile, sendRawPayload } from "./legacy.js";
import { HttpError, badRequest } from "./errors.js";
import { parseJsonObject, requireString } from "./json.js";
import type { RouteTable } from "./routes.js";
import { type Reply, type RequestEnvelope, type RequestInfo, type UserRoute, isLegacyProtocol, jsonReply } from "./types.js";
import type { ServerOps } from "./health.js";

export interface ServerDeps {
  config: Config;
  auth: Authenticator;
  users: UserRegistry;
  routes: { sync: RouteTable; msync: RouteTable };
  /** The client's address (forwarded headers from trusted proxies); defaults to the socket peer. */
  clientAddress?: (req: IncomingMessage) => string;
  /** /health, /metrics, request accounting, and refusing requests during shutdown or maintenance. */
  ops?: ServerOps;
}

/** A hostKey body is two short strings; anything bigger is not a login. */
const LOGIN_BODY_LIMITS: BodyLimits = { compressed: 64 * 1024, decompressed: 64 * 1024 };

/**
 * Status for a throttled login: 429. The client shows it as "A network error
 * occurred. Error details: ... 429 Too Many Requests" — true, and it does not
 * claim the password is wrong (403 would, and would make the desktop forget its
 * login) or that the server is broken (5xx: "AnkiWeb encountered a problem").
 * When too many hash checks are queued the answer is 503 ("try again in a few
 * minutes"), which is exactly what it means.
 */
const THROTTLED_STATUS = 429;
const BUSY_STATUS = 503;

/** GET is allowed only where old clients use it. */
const GET_ROUTES = new Set(["/msync/begin"]);

interface RequestLog {
  route: string;
  user?: string;
  clientVersion?: string;
  /** Why the request failed; logged on the same line as the request. */
  reason?: string;
}

/** Below protocol 11 the reply is raw; from 11 on, zstd with anki-original-size. */
async function sendReply(res: ServerResponse, reply: Reply, protocol: number): Promise<void> {
  const legacy = isLegacyProtocol(protocol);
  if (reply.kind === "payload") (legacy ? sendRawPayload : sendPayload)(res, reply.data);
  else {
    try {
      await (legacy ? sendRawFile : sendFile)(res, reply.path, reply.size);
    } finally {
      reply.cleanup?.();
    }
  }
}

function v11Envelope(req: IncomingMessage, header: SyncHeader): RequestEnvelope {
  return {
    header,
    protocol: header.version,
    readPayload: (limits) => readPayload(req, limits),
    writePayloadToFile: (limits, path) => writePayloadToFile(req, limits, path),
  };
}

export function createSyncServer(deps: ServerDeps): Server {
  const limits: BodyLimits = {
    compressed: deps.config.maxPayloadBytes * 3,
    decompressed: deps.config.maxPayloadBytes * 3,
  };

  const clientAddress = deps.clientAddress ?? ((req: IncomingMessage) => req.socket.remoteAddress ?? "");
  /** Legacy payloads wait here until the form's host key names the user (a dot folder: never a user's). */
  const legacySpoolDir = join(deps.config.base, ".legacy-incoming");

  /** /sync/hostKey. Failures are answered here (not thrown) so each is logged exactly once, in the fail2ban format. */
  async function login(envelope: RequestEnvelope, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
    const header = envelope.header;
    const body = parseJsonObject(await envelope.readPayload(LOGIN_BODY_LIMITS), "hostKey");
    const name = requireString(body, "u", "hostKey");
    const password = requireString(body, "p", "hostKey");
    entry.user = name.slice(0, 100);
    const address = clientAddress(req);
    const result = await deps.auth.login(name, password, header.clientVersion, address);
    if (result.ok) {
      await sendReply(res, jsonReply({ key: result.key }), envelope.protocol);
      return;
    }
    let status: number;
    if (result.reason === "busy") {
      logLoginBusy(address, name);
      status = BUSY_STATUS;
    } else if (result.reason === "refused") {
      // Not a matter of wrong credentials (see LoginBackend): no fail2ban line; the reason says what to do.
      status = result.status;
      logger[status >= 500 ? "error" : "warn"]("login refused", { address: address || "unknown", user: name.slice(0, 100), status, why: result.detail });
    } else {
      logLoginFailure(address, name, result.reason);
      status = result.reason === "throttled-address" || result.reason === "throttled-user" ? THROTTLED_STATUS : 403;
    }
    if (result.reason !== "busy" && result.detail !== undefined) entry.reason = result.detail;
    if (result.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(result.retryAfterSeconds));
    sendError(res, status);
  }

  /** The user a host key belongs to; otherwise throws its status (403, or 503 while an external login backend cannot be asked). */
  async function authorizedUser(hostKey: string, clientVersion: string, address: string, res: ServerResponse): Promise<string> {
    const verdict = await deps.auth.authorize(hostKey, clientVersion, address);
    if (verdict.ok) return verdict.user;
    if (verdict.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(verdict.retryAfterSeconds));
    throw new HttpError(verdict.status, verdict.reason);
  }

  async function runUserRoute(route: RouteTable[string], user: UserState, info: RequestInfo, envelope: RequestEnvelope, res: ServerResponse): Promise<void> {
    if (route.body === "json") {
      const payload = await envelope.readPayload(limits);
      await user.lock.run(async () => sendReply(res, await route.handle(user, payload, info), info.protocol));
      return;
    }
    user.ensureFolders();
    const tempPath = join(user.dir, `.incoming-${randomBytes(6).toString("hex")}.tmp`);
    try {
      const received = await envelope.writePayloadToFile(limits, tempPath);
      const file = { path: tempPath, bytes: received.bytes, tooLarge: received.tooLarge };
      await user.lock.run(async () => sendReply(res, await route.handle(user, file, info), info.protocol));
    } finally {
      rmSync(tempPath, { force: true });
    }
  }

  /**
   * GET /msync/begin?k=<host key>&v=<client version>, sent by Rust clients
   * 2.1.28-2.1.56: no anki-sync header, host key in the query, treated as
   * protocol 10 and answered raw (no zstd, no anki-original-size).
   */
  async function legacyMediaBegin(route: UserRoute, url: URL, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
    const hostKey = url.searchParams.get("k");
    const version = url.searchParams.get("v");
    if (hostKey === null || version === null) throw badRequest("msync/begin: k and v query parameters are required");
    if (route.body !== "json") throw new HttpError(405, "GET not allowed");
    const header: SyncHeader = { version: LEGACY_PROTOCOL, hostKey, clientVersion: version.slice(0, 200), sessionKey: "" };
    entry.clientVersion = header.clientVersion;
    const address = clientAddress(req);
    const userName = await authorizedUser(hostKey, header.clientVersion, address, res);
    entry.user = userName;
    deps.ops?.admit(userName);
    const user = deps.users.get(userName);
    const payload = Buffer.from(JSON.stringify({ v: version }), "utf8");
    await user.lock.run(async () => {
      const reply = await route.handle(user, payload, { header, address, protocol: LEGACY_PROTOCOL });
      if (reply.kind !== "payload") throw new Error("msync/begin must reply with a payload");
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(reply.data.length) });
      res.end(reply.data);
    });
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    entry.route = path;
    if (path === "/health" || path === "/metrics") {
      if (deps.ops) return deps.ops.serve(path, req, res);
      if (path === "/metrics") throw new HttpError(404, "unknown route");
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "health check takes GET");
      res.writeHead(200, { "content-length": "0" });
      res.end();
      return;
    }
    deps.ops?.admit();
    const match = /^\/(sync|msync)\/([A-Za-z0-9]+)$/.exec(path);
    const group = match?.[1] as "sync" | "msync" | undefined;
    const name = match?.[2];
    if (!group || !name) throw new HttpError(404, "unknown route");
    const route = Object.hasOwn(deps.routes[group], name) ? deps.routes[group][name] : undefined;
    if (!route && !(group === "sync" && name === "hostKey")) throw new HttpError(404, "unknown route");
    if (req.method !== "POST" && !(req.method === "GET" && GET_ROUTES.has(path))) throw new HttpError(405, `${req.method} not allowed`);

    if (req.method === "GET") return legacyMediaBegin(route!, new URL(req.url ?? "/", "http://localhost"), req, res, entry);

    // No anki-sync header: a protocol 8-10 client's multipart form, read whole
    // (the host key may follow the payload) before the key is checked.
    const headerValue = req.headers["anki-sync"];
    const envelope =
      typeof headerValue === "string"
        ? v11Envelope(req, parseSyncHeader(headerValue))
        : await readLegacyEnvelope(req, { maxBodyBytes: deps.config.maxPayloadBytes, spoolDir: legacySpoolDir, mediaBegin: path === "/msync/begin" });
    try {
      const header = envelope.header;
      entry.clientVersion = header.clientVersion;
      if (!route) return await login(envelope, req, res, entry);

      const address = clientAddress(req);
      const userName = await authorizedUser(header.hostKey, header.clientVersion, address, res);
      entry.user = userName;
      deps.ops?.admit(userName);
      await runUserRoute(route, deps.users.get(userName), { header, address, protocol: envelope.protocol }, envelope, res);
    } finally {
      envelope.dispose?.();
    }
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    const entry: RequestLog = { route: req.url?.slice(0, 100) ?? "" };
    const recorded = deps.ops?.track(req, res);
    dispatch(req, res, entry)
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        entry.reason = (err as Error).message;
        if (status === 500) entry.reason += ` ${(err as Error).stack?.split("\n")[1]?.trim() ?? ""}`;
        if (!req.complete) {
          // Unread body: close the connection after the reply rather than parse garbage as the next request.
          res.setHeader("connection", "close");
          req.resume();
        }
        sendError(res, status);
      })
      .finally(() => {
        const status = res.statusCode;
        recorded?.(entry.route, entry.user);
        const quiet = entry.route === "/health" || entry.route === "/metrics";
        const level = status >= 500 && status !== 501 ? "error" : status >= 400 ? "warn" : quiet ? "debug" : "info";
        logger[level]("request", {
          user: entry.user,
          route: entry.route,
          cv: entry.clientVersion,
          status,
          ms: Math.round(performance.now() - started),
          reason: entry.reason,
        });
      });
  });
  // Full uploads and downloads of large collections take a while on slow links.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return server;
}
