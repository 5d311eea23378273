// node:http server: finds the route, decodes the v11 envelope, authenticates
// the host key, runs the handler under the user's lock and encodes the reply.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { rmSync } from "node:fs";
import type { Authenticator } from "../auth/authenticator.js";
import type { Config } from "../config.js";
import { logger } from "../log.js";
import type { UserRegistry, UserState } from "../sync/user.js";
import { parseSyncHeader, readPayload, sendError, sendFile, sendPayload, writePayloadToFile, type BodyLimits, type SyncHeader } from "./envelope.js";
import { HttpError, badRequest, forbidden } from "./errors.js";
import { parseJsonObject, requireString } from "./json.js";
import type { RouteTable } from "./routes.js";
import type { Reply, RequestInfo } from "./types.js";

export interface ServerDeps {
  config: Config;
  auth: Authenticator;
  users: UserRegistry;
  routes: { sync: RouteTable; msync: RouteTable };
}

/** GET is allowed only where old clients use it. */
const GET_ROUTES = new Set(["/msync/begin"]);

interface RequestLog {
  route: string;
  user?: string;
  clientVersion?: string;
  /** Why the request failed; logged on the same line as the request. */
  reason?: string;
}

async function sendReply(res: ServerResponse, reply: Reply): Promise<void> {
  if (reply.kind === "payload") sendPayload(res, reply.data);
  else await sendFile(res, reply.path, reply.size);
}

export function createSyncServer(deps: ServerDeps): Server {
  const limits: BodyLimits = {
    compressed: deps.config.maxPayloadBytes * 3,
    decompressed: deps.config.maxPayloadBytes * 3,
  };

  async function login(header: SyncHeader, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
    const body = parseJsonObject(await readPayload(req, limits), "hostKey");
    const name = requireString(body, "u", "hostKey");
    const password = requireString(body, "p", "hostKey");
    entry.user = name.slice(0, 100);
    const key = await deps.auth.login(name, password, header.clientVersion, req.socket.remoteAddress ?? "");
    if (key === undefined) throw forbidden("wrong user name or password");
    sendPayload(res, Buffer.from(JSON.stringify({ key }), "utf8"));
  }

  async function runUserRoute(route: RouteTable[string], user: UserState, info: RequestInfo, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (route.body === "json") {
      const payload = await readPayload(req, limits);
      await user.lock.run(async () => sendReply(res, await route.handle(user, payload, info)));
      return;
    }
    user.ensureFolders();
    const tempPath = join(user.dir, `.incoming-${randomBytes(6).toString("hex")}.tmp`);
    try {
      const received = await writePayloadToFile(req, limits, tempPath);
      const file = { path: tempPath, bytes: received.bytes, tooLarge: received.tooLarge };
      await user.lock.run(async () => sendReply(res, await route.handle(user, file, info)));
    } finally {
      rmSync(tempPath, { force: true });
    }
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    entry.route = path;
    if (path === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "health check takes GET");
      res.writeHead(200, { "content-length": "0" });
      res.end();
      return;
    }
    const match = /^\/(sync|msync)\/([A-Za-z0-9]+)$/.exec(path);
    const group = match?.[1] as "sync" | "msync" | undefined;
    const name = match?.[2];
    if (!group || !name) throw new HttpError(404, "unknown route");
    const route = Object.hasOwn(deps.routes[group], name) ? deps.routes[group][name] : undefined;
    if (!route && !(group === "sync" && name === "hostKey")) throw new HttpError(404, "unknown route");
    if (req.method !== "POST" && !(req.method === "GET" && GET_ROUTES.has(path))) throw new HttpError(405, `${req.method} not allowed`);

    const headerValue = req.headers["anki-sync"];
    if (typeof headerValue !== "string") {
      throw badRequest("request has no anki-sync header (protocol v8-v10 multipart clients are not supported yet)");
    }
    const header = parseSyncHeader(headerValue);
    entry.clientVersion = header.clientVersion;
    if (!route) return login(header, req, res, entry);

    const address = req.socket.remoteAddress ?? "";
    const userName = deps.auth.authenticate(header.hostKey, header.clientVersion, address);
    if (userName === undefined) throw forbidden("unknown host key");
    entry.user = userName;
    await runUserRoute(route, deps.users.get(userName), { header, address }, req, res);
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    const entry: RequestLog = { route: req.url?.slice(0, 100) ?? "" };
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
        const level = status >= 500 && status !== 501 ? "error" : status >= 400 ? "warn" : "info";
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
