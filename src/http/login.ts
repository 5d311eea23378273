// /sync/hostKey: checks the credentials and answers the host key. Failures are
// answered here (not thrown) so each is logged exactly once, in the fail2ban format.
import type { IncomingMessage, ServerResponse } from "node:http";
import { logLoginBusy, logLoginFailure } from "../auth/login-log.js";
import { logger } from "../log.js";
import { parseJsonObject, requireString } from "../protocol/json.js";
import { type BodyLimits, type RequestEnvelope, jsonReply } from "../protocol/types.js";
import type { RequestLog, ServerDeps } from "./context.js";
import { sendError } from "./envelope.js";
import { sendReply } from "./reply.js";
import { LOGIN_BUDGET, wireLimit } from "./budgets.js";

/** A hostKey body is two short strings; anything bigger is not a login. */
const LOGIN_BODY_LIMITS: BodyLimits = { compressed: wireLimit(LOGIN_BUDGET), decompressed: LOGIN_BUDGET.bytes, jsonTokens: LOGIN_BUDGET.jsonTokens };

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

export async function login(deps: ServerDeps, envelope: RequestEnvelope, req: IncomingMessage, res: ServerResponse, entry: RequestLog): Promise<void> {
  const header = envelope.header;
  const body = parseJsonObject(await envelope.readPayload(LOGIN_BODY_LIMITS), "hostKey");
  const name = requireString(body, "u", "hostKey");
  const password = requireString(body, "p", "hostKey");
  entry.user = name.slice(0, 100);
  const address = deps.clientAddress(req);
  const result = await deps.auth.login(name, password, header.clientVersion, address);
  if (result.ok) {
    try {
      await deps.onLogin?.(result.user);
    } catch (err) {
      logger.error("loading the sync handlers failed", { reason: (err as Error).message });
    }
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
    deps.onLoginFailure?.(address, name, result.reason);
    status = result.reason === "throttled-address" || result.reason === "throttled-user" ? THROTTLED_STATUS : 403;
  }
  if (result.reason !== "busy" && result.detail !== undefined) entry.reason = result.detail;
  if (result.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(result.retryAfterSeconds));
  sendError(res, status);
}
