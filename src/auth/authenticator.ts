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
import { randomBytes } from "node:crypto";
import { type Credential, credentialFingerprint, hashPasswordArgon2id, parseCredential, verifyPassword } from "./passwords.js";
import { BusyError, ConcurrencyLimiter, DEFAULT_THROTTLE, LoginThrottle, type ThrottleLimits } from "./throttle.js";
import type { LoginFailureReason } from "./login-log.js";
import { OperatorError } from "../errors.js";

interface KnownUser {
  name: string;
  source: string;
  credential: Credential;
  fingerprint: string;
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
  /** Fingerprints of plain passwords are slow to compute; remember them across reloads. */
  private fingerprintCache = new Map<string, string>();
  readonly throttle: LoginThrottle;
  private readonly checks: ConcurrencyLimiter;
  /** A slow external backend must not hold up local logins: it has its own bound. */
  private readonly externalChecks: ConcurrencyLimiter;
  readonly external: LoginBackend | undefined;
  /** Users of the external backend that logged in or synced since the start (their folders are closed at shutdown). */
  private readonly externalSeen = new Set<string>();
  /**
   * What unknown names (and wrong passwords of users whose hash is cheaper)
   * are checked against: an argon2id hash of a random password, made at
   * start-up with the parameters real hashes get, so every rejection costs
   * one argon2id verification whatever users exist.
   */
  private readonly decoy: Promise<Credential> = hashPasswordArgon2id(randomBytes(24).toString("base64")).then((phc) => parseCredential(phc, true));

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
    this.setUsers(users);
  }

  /**
   * Replaces the user list (start-up and reload). Throws on any invalid entry,
   * keeping the old list. Host keys of users whose password changed are deleted.
   */
  setUsers(users: readonly UserSpec[]): UserChanges {
    const next = new Map<string, KnownUser>();
    const cache = new Map<string, string>();
    for (const spec of users) {
      try {
        checkUserName(spec.name);
        const previous = next.get(spec.name);
        if (previous) throw new Error(`user "${spec.name}" is also defined by ${previous.source}`);
        const credential = parseCredential(spec.secret, spec.hashed);
        const cacheKey = `${spec.hashed ? "h" : "p"}\u0000${spec.name}\u0000${spec.secret}`;
        const fingerprint = this.fingerprintCache.get(cacheKey) ?? credentialFingerprint(spec.name, spec.secret, spec.hashed);
        cache.set(cacheKey, fingerprint);
        next.set(spec.name, { name: spec.name, source: spec.source, credential, fingerprint });
      } catch (err) {
        throw new StartupError(`${spec.source}: ${(err as Error).message}`);
      }
    }
    const changes: UserChanges = { added: [], removed: [], changed: [], revokedKeys: 0 };
    for (const [name, user] of next) {
      const old = this.users.get(name);
      if (!old) changes.added.push(name);
      else if (old.fingerprint !== user.fingerprint) changes.changed.push(name);
    }
    for (const name of this.users.keys()) if (!next.has(name)) changes.removed.push(name);
    this.users = next;
    this.fingerprintCache = cache;
    this.derivedKeys = this.acceptDerivedHostKeys ? derivedKeyMap(users) : new Map();
    changes.revokedKeys = this.hostKeys.prune(new Map([...next].map(([name, user]) => [name, user.fingerprint])));
    return changes;
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
    const user = this.users.get(name);
    const ok = await verifyPassword(user?.credential ?? (await this.decoy), password);
    // A wrong password of a plain or PBKDF2 user costs what an unknown name costs.
    if (user && !ok && user.credential.kind !== "argon2id") await verifyPassword(await this.decoy, password);
    // The user list may have been reloaded while the hash was checked.
    const current = this.users.get(name);
    if (!user || !ok || current?.fingerprint !== user.fingerprint) {
      return { ok: false, reason: user ? "wrong-password" : "unknown-user" };
    }
    return { ok: true, user: user.name, fingerprint: user.fingerprint };
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
    if (!user || user.fingerprint !== record.credentialFingerprint) return undefined;
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
    if (user) return user.fingerprint === record.credentialFingerprint ? { ok: true, user: user.name } : UNKNOWN_KEY;
    if (!this.external?.owns(record)) return UNKNOWN_KEY;
    const verdict = await this.external.checkKey(hostKey, record);
    // A local user of that name may have appeared while the backend was asked.
    if (verdict.ok && this.users.has(verdict.user)) return UNKNOWN_KEY;
    if (verdict.ok) this.externalSeen.add(verdict.user);
    return verdict;
  }
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
