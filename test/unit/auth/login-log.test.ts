import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FAIL2BAN_FAILREGEX, logLoginFailure } from "../../../src/auth/login-log.js";
import { setPriorityPrefix } from "../../../src/log.js";

/** fail2ban's <ADDR> as a JS regex group (IPv4 or IPv6). */
const failregex = new RegExp(FAIL2BAN_FAILREGEX.replace("<ADDR>", "(?<addr>[0-9a-fA-F.:]+)"));

let lines: string[];
beforeEach(() => {
  lines = [];
  setPriorityPrefix(false);
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk).replace(/\n$/, ""));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  setPriorityPrefix(false);
});

describe("login failure log lines", () => {
  it("have one fixed shape that the fail2ban filter matches", () => {
    logLoginFailure("203.0.113.7", "alice", "wrong-password");
    logLoginFailure("2001:db8::1", "bob", "throttled-address");
    expect(lines[0]).toBe('warn "login failed" address=203.0.113.7 user=alice reason=wrong-password');
    expect(failregex.exec(lines[0] ?? "")?.groups?.addr).toBe("203.0.113.7");
    expect(failregex.exec(lines[1] ?? "")?.groups?.addr).toBe("2001:db8::1");
  });

  it("match with the syslog priority prefix too", () => {
    setPriorityPrefix(true);
    logLoginFailure("203.0.113.8", "alice", "throttled-user");
    expect(lines[0]).toBe('<4>warn "login failed" address=203.0.113.8 user=alice reason=throttled-user');
    expect(failregex.exec(lines[0] ?? "")?.groups?.addr).toBe("203.0.113.8");
  });

  it("cannot be made to name another address by a crafted user name", () => {
    const hostile = [
      'x" address=6.6.6.6 user=y',
      "x address=6.6.6.6",
      '\nwarn "login failed" address=6.6.6.6 user=z',
      'warn "login failed" address=6.6.6.6 user=',
    ];
    for (const name of hostile) logLoginFailure("198.51.100.2", name, "unknown-user");
    expect(lines).toHaveLength(hostile.length);
    for (const line of lines) {
      expect(line).not.toContain("\n");
      expect(failregex.exec(line)?.groups?.addr).toBe("198.51.100.2");
      // Also unanchored: the only match is the real one.
      const unanchored = new RegExp(FAIL2BAN_FAILREGEX.slice(1).replace("<ADDR>", "([0-9a-fA-F.:]+)"), "g");
      expect([...line.matchAll(unanchored)].map((m) => m[1])).toEqual(["198.51.100.2"]);
    }
  });
});
