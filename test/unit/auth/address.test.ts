import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { ClientAddressResolver, normalizeAddress, parseCidr, parseIpHeader, throttleKey } from "../../../src/auth/address.js";

function req(peer: string, headers: Record<string, string | string[]> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe("client address", () => {
  it("is the socket peer without trusted proxies, whatever the headers say", () => {
    const r = new ClientAddressResolver([], null);
    expect(r.resolve(req("::ffff:192.0.2.5", { "x-forwarded-for": "1.1.1.1" }))).toBe("192.0.2.5");
    const withHeader = new ClientAddressResolver([], "x-forwarded-for");
    expect(withHeader.resolve(req("192.0.2.5", { "x-forwarded-for": "1.1.1.1" }))).toBe("192.0.2.5");
  });

  it("comes from X-Forwarded-For only for requests from a trusted proxy", () => {
    const r = new ClientAddressResolver(["10.0.0.0/8", "::1"], "x-forwarded-for");
    expect(r.resolve(req("10.1.2.3", { "x-forwarded-for": "203.0.113.9" }))).toBe("203.0.113.9");
    expect(r.resolve(req("::1", { "x-forwarded-for": "203.0.113.9" }))).toBe("203.0.113.9");
    expect(r.resolve(req("192.0.2.7", { "x-forwarded-for": "203.0.113.9" }))).toBe("192.0.2.7");
    // No header: the proxy itself.
    expect(r.resolve(req("10.1.2.3"))).toBe("10.1.2.3");
  });

  it("takes the rightmost address that is not a trusted proxy (the client's own entries are not believed)", () => {
    const r = new ClientAddressResolver(["10.0.0.0/8"], "x-forwarded-for");
    expect(r.resolve(req("10.0.0.1", { "x-forwarded-for": "6.6.6.6, 203.0.113.9, 10.0.0.2" }))).toBe("203.0.113.9");
    expect(r.resolve(req("10.0.0.1", { "x-forwarded-for": ["6.6.6.6", "203.0.113.9"] }))).toBe("203.0.113.9");
    expect(r.resolve(req("10.0.0.1", { "x-forwarded-for": "garbage, 10.0.0.3" }))).toBe("10.0.0.3");
    expect(r.resolve(req("10.0.0.1", { "x-forwarded-for": "10.0.0.5, 10.0.0.3" }))).toBe("10.0.0.5");
    expect(r.resolve(req("10.0.0.1", { "x-forwarded-for": "[2001:db8::7]:443" }))).toBe("2001:db8::7");
  });

  it("reads Forwarded and single-address headers", () => {
    const fwd = new ClientAddressResolver(["127.0.0.1"], "forwarded");
    expect(fwd.resolve(req("127.0.0.1", { forwarded: 'for=6.6.6.6, for="[2001:db8::1]:4711";proto=https' }))).toBe("2001:db8::1");
    expect(fwd.resolve(req("127.0.0.1", { forwarded: "for=_hidden" }))).toBe("127.0.0.1");
    const real = new ClientAddressResolver(["127.0.0.1"], "x-real-ip");
    expect(real.resolve(req("127.0.0.1", { "x-real-ip": "203.0.113.4" }))).toBe("203.0.113.4");
    expect(real.resolve(req("127.0.0.1", { "x-real-ip": "not-an-ip" }))).toBe("127.0.0.1");
  });

  it("parses the official server's SYNC_IP_HEADER names", () => {
    expect(parseIpHeader("ConnectInfo")).toBeNull();
    expect(parseIpHeader("RightmostXForwardedFor")).toBe("x-forwarded-for");
    expect(parseIpHeader("XRealIp")).toBe("x-real-ip");
    expect(parseIpHeader("X-Forwarded-For")).toBe("x-forwarded-for");
    expect(parseIpHeader("bogus")).toBeUndefined();
  });

  it("parses CIDRs strictly", () => {
    expect(parseCidr("10.0.0.0/8")).toEqual({ address: "10.0.0.0", prefix: 8, family: "ipv4" });
    expect(parseCidr("fd00::/8")).toMatchObject({ prefix: 8, family: "ipv6" });
    expect(parseCidr("127.0.0.1")).toMatchObject({ prefix: 32 });
    for (const bad of ["10.0.0.0/33", "proxy.lan", "10.0.0.0/8/1", "", "::/129"]) expect(() => parseCidr(bad)).toThrow();
  });

  it("normalizes and groups addresses", () => {
    expect(normalizeAddress("::FFFF:1.2.3.4")).toBe("1.2.3.4");
    expect(normalizeAddress("fe80::1%eth0")).toBe("fe80::1");
    expect(throttleKey("1.2.3.4")).toBe("1.2.3.4");
    expect(throttleKey("2001:db8:0:1::5")).toBe(throttleKey("2001:0db8:0000:0001:ffff::1"));
    expect(throttleKey("2001:db8:0:1::5")).not.toBe(throttleKey("2001:db8:0:2::5"));
    expect(throttleKey("::1")).toBe("0:0:0:0::/64");
  });
});
