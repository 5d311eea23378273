// Login (user name + password -> host key) and host-key authentication of
// every later request.
//
// "User name + password -> identity" has two implementations behind one
// interface (LoginBackend): the local users (below) and, with --auth cognito,
// an AWS Cognito user pool (src/auth/cognito/). Throttling, the bound on
// checks running at once, host-key issuing and the login log lines are shared
// by both and stay here.
import { createHash } from "node:crypto";
import { DEFAULT_LOGIN_SETTINGS, type UserSpec } from "./settings.js";
import type { HostKeyRecord, HostKeyStore } from "./hostkeys.js";
import { checkUserName, folderFoldedName } from "./username.js";
import { type Credential, credentialFingerprint, decoyCredential, parseCredential, verifyPassword } from "./passwords.js";
import { BusyError, ConcurrencyLimiter, DEFAULT_THROTTLE, LoginThrottle, type ThrottleLimits } from "./throttle.js";
import type { LoginFailureReason } from "./login-log.js";
import { OperatorError } from "../errors.js";
import { logger } from "../log.js";

/**
 * The fingerprint of one user's current secret (see credentialFingerprint).
 * A plain password's fingerprint costs an scrypt (30 ms, 16 MiB), so at
 * start-up it is left for the user's first login or first host-key check;
 * whoever computes it also deletes the user's host keys issued under another
 * credential. A reload passes the object on while the secret is unchanged.
 */
interface Fingerprint {
  /** Cheap to compare: the PHC string's hash, or the plain password's SHA-256 (which the credential holds anyway). */
  readonly secretId: string;
  /** Undefined until first needed. Holds the password (never logged) only until then. */
  value: string | undefined;
  pending: { name: string; secret: string } | undefined;
}

interface KnownUser {
  name: string;
  source: string;
  credential: Credential;
  fingerprint: Fingerprint;
}

export class StartupError extends OperatorError {}

/** What a backend says about a user name and password. */
export type BackendVerdict =
  /** `user` is the data folder; `keyIssued` stores what the backend keeps beside the new host key. */
  | { ok: true; user: string; fingerprint: string; keyIssued?: (hostKey: string) => void }
  /** Wrong credentials: counted by the throttle, logged in the fail2ban format, answered 403. */
  | { ok: false; reason: "wrong-password" | "unknown-user"; detail?: string }
  /**
   * Not a matter of wrong credentials (an account that needs an action, the
   * backend unreachable, ...): answered with `status`; `counted` says whether
   * the throttle counts it as a failed login. `detail` goes to the log.
   */
  | { ok: false; reason: "refused"; status: number; detail: string; counted: boolean; retryAfterSeconds?: number };

/** Whether a host key may be used now. */
export type KeyVerdict = { ok: true; user: string } | { ok: false; status: number; reason: string; retryAfterSeconds?: number };

/**
 * A source of users other than the local ones: it answers for every name the
 * local users do not have, and re-validates the host keys it had issued
 * (recognised by their credential fingerprint).
 */
export interface LoginBackend {
  readonly name: string;
  verify(name: string, password: string): Promise<BackendVerdict>;
  /** Whether the key was issued by this backend. */
  owns(record: HostKeyRecord): boolean;
  checkKey(hostKey: string, record: HostKeyRecord): Promise<KeyVerdict>;
}

export interface LoginOptions {
  throttle?: ThrottleLimits;
  /** Password-hash checks running at once. */
  maxConcurrentChecks?: number;
  /** Logins waiting for a check before new ones are refused as busy. */
  maxQueuedChecks?: number;
  /** Backend for the names the local users do not have (--auth cognito). */
  external?: LoginBackend;
  /** --accept-derived-host-keys: also accept the official server's key, sha1("user:secret"), for users declared in the environment or a password file. */
  acceptDerivedHostKeys?: boolean;
}

export const DEFAULT_MAX_CONCURRENT_CHECKS = DEFAULT_LOGIN_SETTINGS.maxConcurrentChecks;
export const DEFAULT_MAX_QUEUED_CHECKS = 64;
/** Logins being checked by the external backend at once: network waits, not CPU, so apart from the hash checks. */
export const DEFAULT_MAX_CONCURRENT_EXTERNAL_CHECKS = 8;

export type LoginResult =
  | { ok: true; user: string; key: string }
  | { ok: false; reason: LoginFailureReason; retryAfterSeconds?: number; detail?: string }
  | { ok: false; reason: "busy"; retryAfterSeconds: number }
  | { ok: false; reason: "refused"; status: number; detail: string; retryAfterSeconds?: number };

const UNKNOWN_KEY: KeyVerdict = { ok: false, status: 403, reason: "unknown host key" };

export interface UserChanges {
  added: string[];
  removed: string[];
  changed: string[];
  /** Host keys deleted because their user has a new password. */
  revokedKeys: number;
}

export class Authenticator {
  private users = new Map<string, KnownUser>();
  /** With --accept-derived-host-keys: official-server host key -> user name (see derivedHostKey). */
  private derivedKeys = new Map<string, string>();
  private readonly acceptDerivedHostKeys: boolean;
  readonly throttle: LoginThrottle;
  private readonly checks: ConcurrencyLimiter;
  /** A slow external backend must not hold up local logins: it has its own bound. */
  private readonly externalChecks: ConcurrencyLimiter;
  readonly external: LoginBackend | undefined;
  /** Users of the external backend that logged in or synced since the start (their folders are closed at shutdown). */
  private readonly externalSeen = new Set<string>();

  constructor(
    users: readonly UserSpec[],
    private readonly hostKeys: HostKeyStore,
    options: LoginOptions = {},
  ) {
    this.throttle = new LoginThrottle(options.throttle ?? DEFAULT_THROTTLE);
    this.checks = new ConcurrencyLimiter(options.maxConcurrentChecks ?? DEFAULT_MAX_CONCURRENT_CHECKS, options.maxQueuedChecks ?? DEFAULT_MAX_QUEUED_CHECKS);
    this.externalChecks = new ConcurrencyLimiter(DEFAULT_MAX_CONCURRENT_EXTERNAL_CHECKS, options.maxQueuedChecks ?? DEFAULT_MAX_QUEUED_CHECKS);
    this.external = options.external;
    this.acceptDerivedHostKeys = options.acceptDerivedHostKeys ?? false;
    this.setUsers(users, { lazy: true });
  }

  /**
   * Replaces the user list (start-up and reload). Throws on any invalid entry,
   * keeping the old list. Host keys of users whose password changed are
   * deleted: on a reload at once; at start-up (`lazy`), for plain passwords,
   * when the user first logs in or uses a host key, as the fingerprint those
   * keys are compared with is only computed then.
   */
  setUsers(users: readonly UserSpec[], options: { lazy?: boolean } = {}): UserChanges {
    const next = new Map<string, KnownUser>();
    for (const spec of users) {
      try {
        checkUserName(spec.name);
        const previous = next.get(spec.name);
        if (previous) throw new Error(`user "${spec.name}" is also defined by ${previous.source}`);
        const credential = parseCredential(spec.secret, spec.hashed);
        const secretId = secretIdOf(spec, credential);
        const old = this.users.get(spec.name);
        const fingerprint: Fingerprint =
          old?.fingerprint.secretId === secretId
            ? old.fingerprint
            : spec.hashed
              ? { secretId, value: credentialFingerprint(spec.name, spec.secret, true), pending: undefined }
              : { secretId, value: undefined, pending: { name: spec.name, secret: spec.secret } };
        next.set(spec.name, { name: spec.name, source: spec.source, credential, fingerprint });
      } catch (err) {
        throw new StartupError(`${spec.source}: ${(err as Error).message}`);
      }
    }
    const changes: UserChanges = { added: [], removed: [], changed: [], revokedKeys: 0 };
    for (const [name, user] of next) {
      const old = this.users.get(name);
      if (!old) changes.added.push(name);
      else if (old.fingerprint.secretId !== user.fingerprint.secretId) changes.changed.push(name);
    }
    for (const name of this.users.keys()) if (!next.has(name)) changes.removed.push(name);
    // A reload is rare and deliberate: new and changed users' fingerprints
    // are computed now, so their old keys go at once (and stay gone should
    // the password be changed back before the user next syncs).
    if (!options.lazy) for (const name of [...changes.added, ...changes.changed]) fingerprintValue(next.get(name)!.fingerprint);
    this.users = next;
    this.derivedKeys = this.acceptDerivedHostKeys ? derivedKeyMap(users) : new Map();
    const known = new Map<string, string>();
    for (const [name, user] of next) if (user.fingerprint.value !== undefined) known.set(name, user.fingerprint.value);
    changes.revokedKeys = this.hostKeys.prune(known);
    return changes;
  }

  /**
   * The user's fingerprint, computed on first need; the first computation
   * also deletes the user's keys issued under another credential (a password
   * changed while the server was stopped).
   */
  private fingerprintOf(user: KnownUser): string {
    const fingerprint = user.fingerprint;
    if (fingerprint.value !== undefined) return fingerprint.value;
    const value = fingerprintValue(fingerprint);
    const revoked = this.hostKeys.pruneUser(user.name, value);
    if (revoked > 0) logger.info("host keys revoked: the password changed since they were issued", { user: user.name, revoked_keys: revoked });
    return value;
  }

  userNames(): string[] {
    return [...this.users.keys()];
  }

  /** Data folders of external-backend users seen since the start. */
  externalUserNames(): string[] {
    return [...this.externalSeen];
  }

  /** Names and where they come from (no secrets), for the CLI's `user list`. */
  userSources(): { name: string; source: string }[] {
    return [...this.users.values()].map((user) => ({ name: user.name, source: user.source }));
  }

  /**
   * Checks a password and issues a new host key. Throttled attempts are
   * refused without a password check. An unknown user still costs one
   * verification, so timing does not reveal which user names exist. Names the
   * local users do not have go to the external backend when there is one.
   */
  async login(name: string, password: string, clientVersion: string, address: string): Promise<LoginResult> {
    const decision = this.throttle.begin(address, name);
    if (!decision.allowed) {
      return {
        ok: false,
        reason: decision.scope === "address" ? "throttled-address" : "throttled-user",
        retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000),
      };
    }
    const { attempt } = decision;
    const external = this.users.has(name) ? undefined : this.external;
    let verdict: BackendVerdict;
    try {
      verdict = await (external ? this.externalChecks.run(() => external.verify(name, password)) : this.checks.run(() => this.verifyLocal(name, password)));
    } catch (err) {
      attempt.cancel();
      if (err instanceof BusyError) return { ok: false, reason: "busy", retryAfterSeconds: 5 };
      throw err;
    }
    if (verdict.ok && external) verdict = this.checkExternalFolder(verdict);
    if (!verdict.ok) {
      if (verdict.reason !== "refused") {
        attempt.failed();
        return verdict.detail === undefined ? { ok: false, reason: verdict.reason } : { ok: false, reason: verdict.reason, detail: verdict.detail };
      }
      if (verdict.counted) attempt.failed();
      else attempt.cancel();
      const { status, detail, retryAfterSeconds } = verdict;
      return retryAfterSeconds === undefined ? { ok: false, reason: "refused", status, detail } : { ok: false, reason: "refused", status, detail, retryAfterSeconds };
    }
    attempt.succeeded();
    // With the switch, such a user gets the official server's key, as a device logging in there would.
    const derived = external ? undefined : this.derivedKeyOf(verdict.user);
    if (derived !== undefined) return { ok: true, user: verdict.user, key: derived };
    const key = this.hostKeys.issue(verdict.user, verdict.fingerprint, clientVersion, address);
    if (verdict.keyIssued) {
      try {
        verdict.keyIssued(key);
      } catch (err) {
        this.hostKeys.revokeKey(key);
        throw err;
      }
    }
    if (external) this.externalSeen.add(verdict.user);
    return { ok: true, user: verdict.user, key };
  }

  /** The local users' side of login: one password check, against a decoy for unknown names. */
  private async verifyLocal(name: string, password: string): Promise<BackendVerdict> {
    const decoy = decoyCredential();
    const user = this.users.get(name);
    const ok = await verifyPassword(user?.credential ?? decoy, password);
    // A wrong password of a plain or PBKDF2 user costs what an unknown name costs.
    if (user && !ok && user.credential.kind !== "argon2id") await verifyPassword(decoy, password);
    // The user list may have been reloaded while the hash was checked.
    const current = this.users.get(name);
    if (!user || !ok || current?.fingerprint.secretId !== user.fingerprint.secretId) {
      return { ok: false, reason: user ? "wrong-password" : "unknown-user" };
    }
    return { ok: true, user: user.name, fingerprint: this.fingerprintOf(current) };
  }

  /** A folder of a local user (or one a case-insensitive file system would merge with it) is never handed to an external identity. */
  private checkExternalFolder(verdict: BackendVerdict & { ok: true }): BackendVerdict {
    const folded = folderFoldedName(verdict.user);
    const clash = [...this.users.keys()].find((local) => folderFoldedName(local) === folded);
    if (clash === undefined) return verdict;
    return {
      ok: false,
      reason: "refused",
      status: 500,
      counted: false,
      detail: `the ${this.external?.name ?? "external"} identity maps to the data folder of the local user "${clash}"; remove or rename one of them`,
    };
  }

  /** The official server's key of a local user, when --accept-derived-host-keys covers them. */
  private derivedKeyOf(user: string): string | undefined {
    for (const [key, name] of this.derivedKeys) if (name === user) return key;
    return undefined;
  }

  /** The user a host key belongs to, if the key exists and the user's password has not changed since. Local users only. */
  authenticate(hostKey: string, clientVersion: string, address: string): string | undefined {
    const record = this.hostKeys.lookup(hostKey, clientVersion, address);
    if (!record) return this.derivedKeys.get(hostKey);
    const user = this.users.get(record.user);
    if (!user || this.fingerprintOf(user) !== record.credentialFingerprint) return undefined;
    return user.name;
  }

  /**
   * What the HTTP server asks on every request: like authenticate(), and for
   * keys of the external backend, that backend's verdict (which may consult
   * its server at an interval, or say it is unavailable: 503).
   */
  async authorize(hostKey: string, clientVersion: string, address: string): Promise<KeyVerdict> {
    const record = this.hostKeys.lookup(hostKey, clientVersion, address);
    if (!record) {
      const derivedUser = this.derivedKeys.get(hostKey);
      return derivedUser === undefined ? UNKNOWN_KEY : { ok: true, user: derivedUser };
    }
    const user = this.users.get(record.user);
    if (user) return this.fingerprintOf(user) === record.credentialFingerprint ? { ok: true, user: user.name } : UNKNOWN_KEY;
    if (!this.external?.owns(record)) return UNKNOWN_KEY;
    const verdict = await this.external.checkKey(hostKey, record);
    // A local user of that name may have appeared while the backend was asked.
    if (verdict.ok && this.users.has(verdict.user)) return UNKNOWN_KEY;
    if (verdict.ok) this.externalSeen.add(verdict.user);
    return verdict;
  }
}

/** What tells a changed secret from an unchanged one without computing a fingerprint. */
function secretIdOf(spec: UserSpec, credential: Credential): string {
  if (credential.kind === "plain") return "p:" + credential.digest.toString("hex");
  return "h:" + createHash("sha256").update(`${spec.name}\u0000${spec.secret}`, "utf8").digest("hex");
}

/** Computes a fingerprint left for later (once), forgetting the password it needed. */
function fingerprintValue(fingerprint: Fingerprint): string {
  if (fingerprint.value === undefined) {
    const { name, secret } = fingerprint.pending!;
    fingerprint.value = credentialFingerprint(name, secret, false);
    fingerprint.pending = undefined;
  }
  return fingerprint.value;
}

/**
 * The host key the official server hands out: lowercase hex SHA-1 of the
 * SYNC_USERn value, "name:secret" (the secret being the password, or the PHC
 * string with PASSWORDS_HASHED). Deterministic, so it cannot be revoked
 * without changing the password; hence opt-in.
 */
export function derivedHostKey(name: string, secret: string): string {
  return createHash("sha1").update(`${name}:${secret}`, "utf8").digest("hex");
}

/** Users an official server could have served: the environment and password files, not our argon2id user store. */
function derivedKeyMap(users: readonly UserSpec[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const spec of users) {
    if (spec.hashed && !spec.secret.startsWith("$pbkdf2-")) continue;
    map.set(derivedHostKey(spec.name, spec.secret), spec.name);
  }
  return map;
}
