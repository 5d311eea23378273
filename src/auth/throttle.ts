// Brute-force protection for /sync/hostKey.
//
// Failed logins are counted per client address (per /64 for IPv6) and per
// (user name, address) pair over a sliding window. Once either count reaches
// its limit, further logins from that address (or for that name from that
// address) are refused without checking the password until the oldest failure
// leaves the window. The name is never locked for everyone: failures from
// other addresses cannot lock out the right password sent from the user's own
// devices. Guessing spread over many addresses is bounded by the per-address
// limit times the addresses an attacker has, and every failure is logged for
// fail2ban. Refused (throttled) attempts do not count again. Host-key requests
// (normal syncing of devices that are already logged in) are never throttled.
//
// An attempt is counted as a failure from the moment it starts and taken back
// if the password turns out right, so a burst of parallel attempts cannot slip
// past the limit while their hashes are still being checked.
//
// Also here: the bound on concurrent password-hash checks. argon2 and PBKDF2 run
// on libuv's thread pool (off the event loop), which file I/O shares; with
// at most a few checks at a time and a short queue, a login flood costs a
// couple of pool threads and quick 503s, not stalled syncs.
import { throttleKey } from "./address.js";
import { DEFAULT_LOGIN_SETTINGS } from "./settings.js";

export interface ThrottleLimits {
  /** Failed logins per address within the window; 0 disables. */
  failuresPerAddress: number;
  /** Failed logins for one user name from one address within the window; 0 disables. */
  failuresPerUser: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = {
  failuresPerAddress: DEFAULT_LOGIN_SETTINGS.failuresPerAddress,
  failuresPerUser: DEFAULT_LOGIN_SETTINGS.failuresPerUser,
  windowMs: DEFAULT_LOGIN_SETTINGS.windowMs,
};

/** Upper bound on tracked keys per table, so an address or name flood cannot grow memory without end. */
const MAX_TRACKED_KEYS = 50_000;

class FailureLog {
  /** key -> failure times (oldest first), at most `limit` entries each. */
  private readonly entries = new Map<string, number[]>();
  private operations = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until the key may try again, or 0 if it may now. */
  blockedFor(key: string, now: number): number {
    if (this.limit <= 0) return 0;
    const times = this.live(key, now);
    if (!times || times.length < this.limit) return 0;
    return Math.max(1, (times[0] ?? now) + this.windowMs - now);
  }

  add(key: string, now: number): void {
    if (this.limit <= 0) return;
    const times = this.live(key, now) ?? [];
    times.push(now);
    while (times.length > this.limit) times.shift();
    // Re-insert so that Map order is least-recently-failed first (eviction order).
    this.entries.delete(key);
    this.entries.set(key, times);
    if (this.entries.size > MAX_TRACKED_KEYS) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    if (++this.operations % 1000 === 0) this.sweep(now);
  }

  /** Takes back one failure recorded at `at` (an attempt that turned out fine). */
  remove(key: string, at: number): void {
    const times = this.entries.get(key);
    if (!times) return;
    const index = times.lastIndexOf(at);
    if (index >= 0) times.splice(index, 1);
    if (times.length === 0) this.entries.delete(key);
  }

  size(): number {
    return this.entries.size;
  }

  private live(key: string, now: number): number[] | undefined {
    const times = this.entries.get(key);
    if (!times) return undefined;
    const cutoff = now - this.windowMs;
    while (times.length > 0 && (times[0] ?? 0) <= cutoff) times.shift();
    if (times.length === 0) {
      this.entries.delete(key);
      return undefined;
    }
    return times;
  }

  private sweep(now: number): void {
    for (const key of [...this.entries.keys()]) this.live(key, now);
  }
}

export type ThrottleDecision =
  | { allowed: true; attempt: LoginAttempt }
  | { allowed: false; scope: "address" | "user"; retryAfterMs: number };

export interface LoginAttempt {
  /** The password was right: the attempt does not count as a failure. */
  succeeded(): void;
  /** The attempt never got to a password check (e.g. server busy): forget it. */
  cancel(): void;
  /** The password was wrong: keep it counted (the default). */
  failed(): void;
}

export class LoginThrottle {
  private readonly byAddress: FailureLog;
  private readonly byUser: FailureLog;

  constructor(
    readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {
    this.byAddress = new FailureLog(limits.failuresPerAddress, limits.windowMs);
    this.byUser = new FailureLog(limits.failuresPerUser, limits.windowMs);
  }

  /** Decides whether a login may be tried; if so it is counted as failed until told otherwise. */
  begin(address: string, userName: string): ThrottleDecision {
    const now = this.now();
    const addressKey = throttleKey(address);
    // Per (name, address): a name is never locked for the addresses that did not fail.
    const userKey = `${addressKey}\u0000${userName.slice(0, 256)}`;
    const addressWait = this.byAddress.blockedFor(addressKey, now);
    if (addressWait > 0) return { allowed: false, scope: "address", retryAfterMs: addressWait };
    const userWait = this.byUser.blockedFor(userKey, now);
    if (userWait > 0) return { allowed: false, scope: "user", retryAfterMs: userWait };
    this.byAddress.add(addressKey, now);
    this.byUser.add(userKey, now);
    let settled = false;
    const undo = () => {
      if (settled) return;
      settled = true;
      this.byAddress.remove(addressKey, now);
      this.byUser.remove(userKey, now);
    };
    return {
      allowed: true,
      attempt: {
        succeeded: undo,
        cancel: undo,
        failed: () => {
          settled = true;
        },
      },
    };
  }

  /** For tests and metrics. */
  trackedKeys(): { addresses: number; users: number } {
    return { addresses: this.byAddress.size(), users: this.byUser.size() };
  }
}

export class BusyError extends Error {
  constructor() {
    super("too many logins being checked at once");
  }
}

/** Runs at most `max` tasks at once with at most `maxQueued` waiting; beyond that, BusyError. */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly max: number,
    readonly maxQueued: number,
  ) {
    if (!(max >= 1)) throw new RangeError("ConcurrencyLimiter needs max >= 1");
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      if (this.waiting.length >= this.maxQueued) throw new BusyError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      if (next) next();
      else this.active--;
    }
  }

  stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}
