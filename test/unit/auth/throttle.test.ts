import { describe, expect, it } from "vitest";
import { BusyError, ConcurrencyLimiter, LoginThrottle } from "../../../src/auth/throttle.js";

function clock(start = 1_000_000) {
  const c = { now: start, fn: () => c.now };
  return c;
}

describe("LoginThrottle", () => {
  const limits = { failuresPerAddress: 3, failuresPerUser: 5, windowMs: 60_000 };

  it("throttles an address after the configured number of failures, until the window passes", () => {
    const c = clock();
    const t = new LoginThrottle(limits, c.fn);
    for (let i = 0; i < 3; i++) {
      const d = t.begin("203.0.113.1", `user${i}`);
      expect(d.allowed).toBe(true);
      if (d.allowed) d.attempt.failed();
      c.now += 1000;
    }
    const blocked = t.begin("203.0.113.1", "someone");
    expect(blocked).toMatchObject({ allowed: false, scope: "address" });
    if (!blocked.allowed) expect(blocked.retryAfterMs).toBe(60_000 - 3000);
    // Another address is not affected.
    expect(t.begin("203.0.113.2", "someone").allowed).toBe(true);
    // After the oldest failure leaves the window, one more try.
    c.now += 60_000 - 3000;
    expect(t.begin("203.0.113.1", "someone").allowed).toBe(true);
    expect(t.begin("203.0.113.1", "someone").allowed).toBe(false);
  });

  it("does not count successful logins", () => {
    const t = new LoginThrottle(limits, clock().fn);
    for (let i = 0; i < 10; i++) {
      const d = t.begin("203.0.113.1", "alice");
      expect(d.allowed).toBe(true);
      if (d.allowed) d.attempt.succeeded();
    }
  });

  it("counts attempts in flight, so a parallel burst cannot pass the limit", () => {
    const t = new LoginThrottle(limits, clock().fn);
    const decisions = Array.from({ length: 20 }, () => t.begin("203.0.113.1", "alice"));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(3);
  });

  it("throttles a user name per address: failures elsewhere never lock out the right password", () => {
    const t = new LoginThrottle(limits, clock().fn);
    // 100 attempts from one address: the per-address limit (3) stops them.
    for (let i = 0; i < 100; i++) {
      const d = t.begin("198.51.100.1", "alice");
      if (d.allowed) d.attempt.failed();
    }
    expect(t.begin("198.51.100.1", "alice").allowed).toBe(false);
    expect(t.begin("198.51.100.99", "alice").allowed).toBe(true);
    // Spread over many addresses, the name stays open for every address that did not fail.
    const t2 = new LoginThrottle(limits, clock().fn);
    for (let i = 0; i < 50; i++) {
      const d = t2.begin(`198.51.100.${i}`, "alice");
      if (d.allowed) d.attempt.failed();
    }
    expect(t2.begin("198.51.100.200", "alice").allowed).toBe(true);
    // The (name, address) limit applies below the address limit when it is lower.
    const t3 = new LoginThrottle({ ...limits, failuresPerAddress: 100, failuresPerUser: 2 }, clock().fn);
    for (let i = 0; i < 2; i++) {
      const d = t3.begin("198.51.100.7", "alice");
      if (d.allowed) d.attempt.failed();
    }
    expect(t3.begin("198.51.100.7", "alice")).toMatchObject({ allowed: false, scope: "user" });
    expect(t3.begin("198.51.100.7", "bob").allowed).toBe(true);
    expect(t3.begin("198.51.100.8", "alice").allowed).toBe(true);
  });

  it("counts IPv6 clients per /64", () => {
    const t = new LoginThrottle(limits, clock().fn);
    for (let i = 1; i <= 3; i++) {
      const d = t.begin(`2001:db8:1:2::${i}`, "x");
      if (d.allowed) d.attempt.failed();
    }
    expect(t.begin("2001:db8:1:2:ffff:ffff:ffff:ffff", "x").allowed).toBe(false);
    expect(t.begin("2001:db8:1:3::1", "x").allowed).toBe(true);
  });

  it("can be switched off with limit 0", () => {
    const t = new LoginThrottle({ failuresPerAddress: 0, failuresPerUser: 0, windowMs: 60_000 }, clock().fn);
    for (let i = 0; i < 100; i++) expect(t.begin("203.0.113.1", "alice").allowed).toBe(true);
    expect(t.trackedKeys()).toEqual({ addresses: 0, users: 0 });
  });

  it("keeps memory bounded under a flood of distinct names", () => {
    const t = new LoginThrottle(limits, clock().fn);
    for (let i = 0; i < 60_000; i++) {
      const d = t.begin(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `u${i}`);
      if (d.allowed) d.attempt.failed();
    }
    const { addresses, users } = t.trackedKeys();
    expect(addresses).toBeLessThanOrEqual(50_000);
    expect(users).toBeLessThanOrEqual(50_000);
  });
});

describe("ConcurrencyLimiter", () => {
  it("runs at most max tasks at once and refuses beyond the queue", async () => {
    const limiter = new ConcurrencyLimiter(2, 3);
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const task = () =>
      new Promise<number>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        gates.push(() => {
          running--;
          resolve(1);
        });
      });
    const runs = Array.from({ length: 5 }, () => limiter.run(task));
    await expect(limiter.run(task)).rejects.toBeInstanceOf(BusyError);
    expect(limiter.stats()).toEqual({ active: 2, waiting: 3 });
    while (gates.length > 0 || running > 0) {
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(runs)).toEqual([1, 1, 1, 1, 1]);
    expect(peak).toBe(2);
    expect(limiter.stats()).toEqual({ active: 0, waiting: 0 });
  });

  it("frees the slot when a task throws", async () => {
    const limiter = new ConcurrencyLimiter(1, 0);
    await expect(limiter.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await limiter.run(async () => 7)).toBe(7);
  });
});
