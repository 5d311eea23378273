// The Cognito login backend: user name + password -> Cognito identity -> data
// folder, and re-validation of the host keys it issued.
//
// Login: InitiateAuth USER_PASSWORD_AUTH, then GetUser for Cognito's own user
// name and the immutable sub; the data folder is one of them
// (COGNITO_USER_FOLDER), checked like any local user name. The refresh token is
// stored, sealed under the new host key (sessions.ts).
//
// Re-validation happens on use: a request whose key was last confirmed more
// than the re-validation interval ago first refreshes the tokens
// (REFRESH_TOKEN_AUTH) and asks GetUser with the new access token. A user
// disabled, deleted or signed out in the pool is refused there: their key is
// revoked (403, the client asks for a new login, which Cognito refuses). So a
// user loses sync at most one interval after Cognito stopped accepting them.
//
// Cognito unreachable (or throttling, or answering 5xx): a key confirmed less
// than the grace period ago keeps working; older ones get 503 (the client keeps
// its key and works again once Cognito answers). After a failed attempt the
// server waits a little before asking Cognito again, so an outage costs one
// timeout per retry window, not one per request. New logins fail with 503.
import { createHash } from "node:crypto";
import { logger } from "../../log.js";
import type { BackendVerdict, KeyVerdict, LoginBackend } from "../authenticator.js";
import { type HostKeyRecord, type HostKeyStore, hashKey } from "../hostkeys.js";
import { checkUserName } from "../username.js";
import { type CognitoApi, CognitoFailure, classifyError } from "./api.js";
import { type CognitoSession, type CognitoSessionStore, openToken } from "./sessions.js";
import type { CognitoSettings } from "./settings.js";

/**
 * Status for a login Cognito answered with a challenge the server cannot
 * complete, or with "confirm the account" / "reset the password": 428. The
 * password may well be right, so not 403 (the client would say "Email or
 * password was incorrect" and the desktop would drop its login), and nothing
 * is broken, so not 5xx ("AnkiWeb encountered a problem"). The client shows
 * "A network error occurred" with "428 Precondition Required" as the details;
 * the server log says what the user must do.
 */
export const ACTION_REQUIRED_STATUS = 428;
/** Cognito unreachable or failing: 503, "please try again in a few minutes". */
export const UNAVAILABLE_STATUS = 503;
/** The server is set up wrong (pool, client, secret, auth flow) or cannot host the identity: 500. */
export const MISCONFIGURED_STATUS = 500;
/** Cognito's own lock-out after wrong passwords: 429, like our own throttle. */
export const LOCKED_STATUS = 429;

const UNAVAILABLE_RETRY_AFTER_SECONDS = 60;
/** After Cognito failed to answer a re-validation, wait this long (at most) before asking again. */
export const DEFAULT_RETRY_MS = 30_000;

/** Cognito's user name rules (1-128 letters, marks, symbols, digits, punctuation); other names cannot exist there. */
const COGNITO_NAME = /^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$/u;
/** Cognito refuses longer passwords anyway. */
const MAX_PASSWORD_LENGTH = 256;

const MFA_ADVICE =
  "Anki's login cannot answer multi-factor authentication: make MFA optional in the user pool and turn it off for this user, or use a user pool / app client without MFA for Anki";

/** What the user (or the admin) must do about a challenge, for the log. */
export function challengeAdvice(challenge: string): string {
  switch (challenge) {
    case "NEW_PASSWORD_REQUIRED":
      return "Cognito requires a new password (first sign-in with a temporary password): the user must set a new password through the pool's sign-in page or app (or an admin sets a permanent one: admin-set-user-password --permanent), then log in to Anki with it";
    case "SMS_MFA":
    case "SOFTWARE_TOKEN_MFA":
    case "EMAIL_OTP":
    case "SMS_OTP":
    case "SELECT_MFA_TYPE":
      return MFA_ADVICE;
    case "MFA_SETUP":
      return "the user pool requires this user to set up multi-factor authentication, which Anki's login can neither do nor answer: make MFA optional in the pool (and off for this user), or use a pool / app client without MFA for Anki";
    case "CUSTOM_CHALLENGE":
      return "the user pool's custom authentication Lambda asks a question Anki's login cannot answer: let this app client sign in with USER_PASSWORD_AUTH alone";
    case "DEVICE_SRP_AUTH":
    case "DEVICE_PASSWORD_VERIFIER":
      return "the user pool remembers devices and asks for device authentication, which Anki's login cannot do: set device remembering to off (or user opt-in) for the pool";
    default:
      return "the server cannot complete this step with only a user name and password: let the app client sign in with USER_PASSWORD_AUTH alone";
  }
}

export interface CognitoBackendOptions {
  now?: () => number;
  /** Pause after a failed re-validation before asking Cognito again (default min(30 s, interval)). */
  retryMs?: number;
}

export class CognitoBackend implements LoginBackend {
  readonly name = "Cognito";
  /** Host keys issued by this backend carry it; another pool, app client or folder mapping makes old keys invalid. */
  readonly fingerprint: string;
  private readonly now: () => number;
  private readonly retryMs: number;
  private readonly inflight = new Map<string, Promise<KeyVerdict>>();
  /** Until when re-validations do not ask Cognito (it just failed to answer). */
  private quietUntil = 0;
  private outage: CognitoFailure | undefined;

  constructor(
    private readonly settings: CognitoSettings,
    private readonly api: CognitoApi,
    private readonly sessions: CognitoSessionStore,
    private readonly hostKeys: HostKeyStore,
    options: CognitoBackendOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.retryMs = options.retryMs ?? Math.min(DEFAULT_RETRY_MS, settings.revalidateMs);
    const digest = createHash("sha256").update(`${settings.userPoolId}\u0000${settings.clientId}\u0000${settings.userFolder}`, "utf8").digest("hex");
    this.fingerprint = `cognito:${digest.slice(0, 24)}`;
  }

  owns(record: HostKeyRecord): boolean {
    return record.credentialFingerprint.startsWith("cognito:");
  }

  async verify(name: string, password: string): Promise<BackendVerdict> {
    if (!COGNITO_NAME.test(name)) return { ok: false, reason: "unknown-user", detail: "Cognito: not a possible Cognito user name" };
    if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) return { ok: false, reason: "wrong-password", detail: "Cognito: not a possible password" };
    let refreshToken: string;
    let identity: { username: string; sub: string };
    try {
      const answer = await this.api.passwordAuth(name, password);
      if (answer.kind === "challenge") {
        const challenge = /^[A-Z_]{1,40}$/.test(answer.challenge) ? answer.challenge : "an unknown challenge";
        return {
          ok: false,
          reason: "refused",
          status: ACTION_REQUIRED_STATUS,
          counted: true,
          detail: `Cognito asks for ${challenge}: ${challengeAdvice(answer.challenge)}`,
        };
      }
      if (answer.refreshToken === undefined) {
        return { ok: false, reason: "refused", status: MISCONFIGURED_STATUS, counted: false, detail: "Cognito issued no refresh token to the app client" };
      }
      refreshToken = answer.refreshToken;
      identity = await this.api.getUser(answer.accessToken);
    } catch (err) {
      return this.loginFailure(classifyError(err));
    }
    const folder = this.settings.userFolder === "sub" ? identity.sub : identity.username;
    try {
      checkUserName(folder);
    } catch (err) {
      return {
        ok: false,
        reason: "refused",
        status: MISCONFIGURED_STATUS,
        counted: true,
        detail:
          `the Cognito ${this.settings.userFolder === "sub" ? "sub" : "user name"} cannot name a data folder (${(err as Error).message})` +
          (this.settings.userFolder === "username" ? "; COGNITO_USER_FOLDER=sub names folders by the immutable sub instead" : ""),
      };
    }
    const validated = this.now();
    return {
      ok: true,
      user: folder,
      fingerprint: this.fingerprint,
      keyIssued: (hostKey) => this.sessions.add(hostKey, { username: identity.username, sub: identity.sub, refreshToken, validated }),
    };
  }

  private loginFailure(failure: CognitoFailure): BackendVerdict {
    const what = `${failure.why} (${failure.code})`;
    switch (failure.kind) {
      case "rejected":
        return { ok: false, reason: failure.unknownUser ? "unknown-user" : "wrong-password", detail: `Cognito: ${what}` };
      case "action":
        return { ok: false, reason: "refused", status: ACTION_REQUIRED_STATUS, counted: true, detail: `Cognito: ${what}` };
      case "locked":
        return { ok: false, reason: "refused", status: LOCKED_STATUS, counted: true, detail: `Cognito: ${what}`, retryAfterSeconds: 60 };
      case "config":
        return { ok: false, reason: "refused", status: MISCONFIGURED_STATUS, counted: false, detail: `Cognito login backend misconfigured: ${what}` };
      case "unavailable":
        return {
          ok: false,
          reason: "refused",
          status: UNAVAILABLE_STATUS,
          counted: false,
          detail: `Cognito unavailable, new logins fail until it answers: ${what}`,
          retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
        };
    }
  }

  async checkKey(hostKey: string, record: HostKeyRecord): Promise<KeyVerdict> {
    if (record.credentialFingerprint !== this.fingerprint) {
      return this.end(hostKey, record, "issued under another user pool, app client or COGNITO_USER_FOLDER");
    }
    const keyHash = hashKey(hostKey);
    const session = this.sessions.get(keyHash);
    if (!session) return this.end(hostKey, record, "no Cognito session is stored for it");
    const age = this.now() - session.validated;
    if (age >= 0 && age < this.settings.revalidateMs) return { ok: true, user: record.user };
    let pending = this.inflight.get(keyHash);
    if (!pending) {
      pending = this.revalidate(hostKey, record, session).finally(() => this.inflight.delete(keyHash));
      this.inflight.set(keyHash, pending);
    }
    return pending;
  }

  private async revalidate(hostKey: string, record: HostKeyRecord, session: CognitoSession): Promise<KeyVerdict> {
    if (this.now() < this.quietUntil && this.outage) return this.withinGrace(record, session, this.outage);
    const token = openToken(hostKey, session);
    if (token === undefined) return this.end(hostKey, record, "its stored refresh token cannot be opened");
    try {
      const answer = await this.api.refresh(session.username, token);
      if (answer.kind === "challenge") return this.end(hostKey, record, "Cognito asked for a challenge on refresh");
      const identity = await this.api.getUser(answer.accessToken);
      if (identity.sub !== session.sub) return this.end(hostKey, record, "the Cognito user was replaced (another sub)");
      this.sessions.validated(hostKey, session, this.now(), answer.refreshToken);
    } catch (err) {
      const failure = classifyError(err);
      if (failure.kind === "rejected" || failure.kind === "action") return this.end(hostKey, record, `${failure.why} (${failure.code})`);
      this.quietUntil = this.now() + this.retryMs;
      this.outage = failure;
      const verdict = this.withinGrace(record, session, failure);
      const fields = { user: record.user, why: failure.why, code: failure.code, retry_in_s: Math.round(this.retryMs / 1000) };
      if (verdict.ok) logger.warn("Cognito re-validation failed; host key accepted within the grace period", { ...fields, grace_left_s: Math.round((session.validated + this.settings.graceMs - this.now()) / 1000) });
      else logger.error("Cognito re-validation failed and the grace period is over; host key refused until Cognito answers", fields);
      return verdict;
    }
    if (this.outage) {
      logger.info("Cognito answers again", { after: this.outage.code });
      this.outage = undefined;
      this.quietUntil = 0;
    }
    return { ok: true, user: record.user };
  }

  private withinGrace(record: HostKeyRecord, session: CognitoSession, failure: CognitoFailure): KeyVerdict {
    const age = this.now() - session.validated;
    if (age <= this.settings.graceMs) return { ok: true, user: record.user };
    return {
      ok: false,
      status: UNAVAILABLE_STATUS,
      reason: `Cognito unavailable (${failure.why}, ${failure.code}) and the key was last validated ${Math.round(age / 1000)} s ago, past the ${Math.round(this.settings.graceMs / 1000)} s grace period`,
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
    };
  }

  /** Cognito no longer accepts the user (or the key is unusable): the key is revoked, its session row goes with it. */
  private end(hostKey: string, record: HostKeyRecord, why: string): KeyVerdict {
    this.hostKeys.revokeKey(hostKey);
    logger.info("Cognito host key revoked", { user: record.user, why });
    return { ok: false, status: 403, reason: `Cognito host key revoked: ${why}` };
  }
}
