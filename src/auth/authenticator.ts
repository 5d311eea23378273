// Login (user name + password -> host key) and host-key authentication of
// every later request.
import type { UserSpec } from "../config.js";
import type { HostKeyStore } from "./hostkeys.js";
import { checkUserName } from "./username.js";
import { type Credential, credentialFingerprint, parseCredential, verifyPassword } from "./passwords.js";
import { BusyError, ConcurrencyLimiter, DEFAULT_THROTTLE, LoginThrottle, type ThrottleLimits } from "./throttle.js";
import type { LoginFailureReason } from "./login-log.js";

interface KnownUser {
  name: string;
  source: string;
  credential: Credential;
  fingerprint: string;
}

export class StartupError extends Error {}

export interface LoginOptions {
  throttle?: ThrottleLimits;
  /** Password-hash checks running at once. */
  maxConcurrentChecks?: number;
  /** Logins waiting for a check before new ones are refused as busy. */
  maxQueuedChecks?: number;
}

export const DEFAULT_MAX_CONCURRENT_CHECKS = 2;
export const DEFAULT_MAX_QUEUED_CHECKS = 64;

export type LoginResult =
  | { ok: true; user: string; key: string }
  | { ok: false; reason: LoginFailureReason; retryAfterSeconds?: number }
  | { ok: false; reason: "busy"; retryAfterSeconds: number };

export interface UserChanges {
  added: string[];
  removed: string[];
  changed: string[];
  /** Host keys deleted because their user has a new password. */
  revokedKeys: number;
}

export class Authenticator {
  private users = new Map<string, KnownUser>();
  /** Fingerprints of plain passwords are slow to compute; remember them across reloads. */
  private fingerprintCache = new Map<string, string>();
  readonly throttle: LoginThrottle;
  private readonly checks: ConcurrencyLimiter;

  constructor(
    users: readonly UserSpec[],
    private readonly hostKeys: HostKeyStore,
    options: LoginOptions = {},
  ) {
    this.throttle = new LoginThrottle(options.throttle ?? DEFAULT_THROTTLE);
    this.checks = new ConcurrencyLimiter(options.maxConcurrentChecks ?? DEFAULT_MAX_CONCURRENT_CHECKS, options.maxQueuedChecks ?? DEFAULT_MAX_QUEUED_CHECKS);
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
    changes.revokedKeys = this.hostKeys.prune(new Map([...next].map(([name, user]) => [name, user.fingerprint])));
    return changes;
  }

  userNames(): string[] {
    return [...this.users.keys()];
  }

  /** Names and where they come from (no secrets), for the CLI's `user list`. */
  userSources(): { name: string; source: string }[] {
    return [...this.users.values()].map((user) => ({ name: user.name, source: user.source }));
  }

  /**
   * Checks a password and issues a new host key. Throttled attempts are
   * refused without a password check. An unknown user still costs one
   * verification, so timing does not reveal which user names exist.
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
    const user = this.users.get(name);
    const credential = user?.credential ?? this.decoyCredential();
    let ok: boolean;
    try {
      ok = await this.checks.run(() => verifyPassword(credential, password));
    } catch (err) {
      attempt.cancel();
      if (err instanceof BusyError) return { ok: false, reason: "busy", retryAfterSeconds: 5 };
      throw err;
    }
    // The user list may have been reloaded while the hash was checked.
    const current = this.users.get(name);
    if (!user || !ok || current?.fingerprint !== user.fingerprint) {
      attempt.failed();
      return { ok: false, reason: user ? "wrong-password" : "unknown-user" };
    }
    attempt.succeeded();
    return { ok: true, user: user.name, key: this.hostKeys.issue(user.name, user.fingerprint, clientVersion, address) };
  }

  /** The user a host key belongs to, if the key exists and the user's password has not changed since. */
  authenticate(hostKey: string, clientVersion: string, address: string): string | undefined {
    const record = this.hostKeys.lookup(hostKey, clientVersion, address);
    if (!record) return undefined;
    const user = this.users.get(record.user);
    if (!user || user.fingerprint !== record.credentialFingerprint) return undefined;
    return user.name;
  }

  private decoyCredential(): Credential {
    const first = this.users.values().next();
    return first.done ? parseCredential("", false) : first.value.credential;
  }
}
