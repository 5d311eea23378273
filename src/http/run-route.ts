// Runs a user route: authorizes the host key, reads the payload (into memory
// or a temporary file), and calls the handler under the user's lock.
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { newIncomingTempName } from "../data-folder.js";
import { HttpError, badRequest } from "../protocol/errors.js";
import type { BodyLimits, RequestEnvelope, RequestInfo, SyncHeader, UserRoute } from "../protocol/types.js";
import type { UserState } from "../users/user.js";
import type { RequestLog, ServerDeps } from "./context.js";
import { LEGACY_PROTOCOL } from "./legacy.js";
import { sendReply } from "./reply.js";

/** The user a host key belongs to; otherwise throws its status (403, or 503 while an external login backend cannot be asked). */
export async function authorizedUser(deps: ServerDeps, hostKey: string, clientVersion: string, address: string, res: ServerResponse): Promise<string> {
  const verdict = await deps.auth.authorize(hostKey, clientVersion, address);
  if (verdict.ok) return verdict.user;
  if (verdict.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(verdict.retryAfterSeconds));
  throw new HttpError(verdict.status, verdict.reason);
}

/** Authorizes the request's host key and runs `route` for that user, reading its body within `limits`. */
export async function runAuthorizedRoute(
  deps: ServerDeps,
  route: UserRoute,
  envelope: RequestEnvelope,
  req: IncomingMessage,
  res: ServerResponse,
  entry: RequestLog,
  limits: BodyLimits,
): Promise<void> {
  const header = envelope.header;
  const address = deps.clientAddress(req);
  const userName = await authorizedUser(deps, header.hostKey, header.clientVersion, address, res);
  entry.user = userName;
  deps.ops?.admit(userName);
  await runUserRoute(route, deps.users.get(userName), { header, address, protocol: envelope.protocol }, envelope, res, limits);
}

export async function runUserRoute(route: UserRoute, user: UserState, info: RequestInfo, envelope: RequestEnvelope, res: ServerResponse, limits: BodyLimits): Promise<void> {
  if (route.body === "json") {
    const payload = await envelope.readPayload(limits);
    await user.lock.run(async () => sendReply(res, await route.handle(user, payload, info), info.protocol));
    return;
  }
  user.ensureFolders();
  const tempPath = join(user.dir, newIncomingTempName());
  try {
    const received = await envelope.writePayloadToFile(limits, tempPath, { transient: route.transient === true, keepInMemoryUpTo: route.inMemoryUpTo });
    const file = { path: tempPath, bytes: received.bytes, tooLarge: received.tooLarge, data: received.data };
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
export async function runGetRoute(deps: ServerDeps, route: UserRoute, url: URL, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
  const hostKey = url.searchParams.get("k");
  const version = url.searchParams.get("v");
  if (hostKey === null || version === null) throw badRequest("msync/begin: k and v query parameters are required");
  if (route.body !== "json") throw new HttpError(405, "GET not allowed");
  const header: SyncHeader = { version: LEGACY_PROTOCOL, hostKey, clientVersion: version.slice(0, 200), sessionKey: "" };
  entry.clientVersion = header.clientVersion;
  const address = deps.clientAddress(req);
  const userName = await authorizedUser(deps, hostKey, header.clientVersion, address, res);
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
