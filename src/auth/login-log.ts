// The log lines of failed logins, in one fixed shape that a fail2ban filter
// can match (see docs/accounts.md):
//
//   warn "login failed" address=203.0.113.7 user=alice reason=wrong-password
//
// The address comes right after the fixed message, before anything the client
// chose, so a crafted user name cannot make the filter read a different
// address (log.ts quotes and escapes values). The password is never logged.
import { logger } from "../log.js";

export type LoginFailureReason =
  | "wrong-password"
  | "unknown-user"
  | "throttled-address"
  | "throttled-user";

export const LOGIN_FAILED_MESSAGE = "login failed";

/**
 * The fail2ban failregex matching logLoginFailure's lines. Under journald the
 * line is the MESSAGE; the optional `<4>` is the syslog priority prefix log.ts
 * adds when told to (journald strips it, a log file keeps it).
 */
export const FAIL2BAN_FAILREGEX = '^(?:<\\d>)?warn "login failed" address=<ADDR> user=';

/** Longest user name written to the log; longer ones are cut (they cannot exist anyway). */
const MAX_LOGGED_NAME = 100;

export function logLoginFailure(address: string, userName: string, reason: LoginFailureReason): void {
  logger.warn(LOGIN_FAILED_MESSAGE, { address: address || "unknown", user: userName.slice(0, MAX_LOGGED_NAME), reason });
}

export function logLoginBusy(address: string, userName: string): void {
  logger.warn("login refused, server busy", { address: address || "unknown", user: userName.slice(0, MAX_LOGGED_NAME) });
}
