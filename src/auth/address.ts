// The client's address, for throttling, logs and the device list. Behind a
// reverse proxy the socket peer is the proxy, so the address is taken from a
// forwarded header — but only when the request really comes from a configured
// trusted proxy; anyone else could write any address into that header.
import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/** Headers a proxy can put the client address in. */
export type IpHeader =
  | "x-forwarded-for"
  | "forwarded"
  | "x-real-ip"
  | "cf-connecting-ip"
  | "true-client-ip"
  | "fly-client-ip"
  | "cloudfront-viewer-address";

/**
 * Accepted values of SYNC_IP_HEADER / --ip-header: the official server's
 * names (variants of axum-client-ip's ClientIpSource) and the header names.
 * `null` means the socket peer (no header).
 */
const IP_HEADER_NAMES: Record<string, IpHeader | null> = {
  connectinfo: null,
  rightmostxforwardedfor: "x-forwarded-for",
  rightmostforwarded: "forwarded",
  xrealip: "x-real-ip",
  cfconnectingip: "cf-connecting-ip",
  trueclientip: "true-client-ip",
  flyclientip: "fly-client-ip",
  cloudfrontvieweraddress: "cloudfront-viewer-address",
  "x-forwarded-for": "x-forwarded-for",
  forwarded: "forwarded",
  "x-real-ip": "x-real-ip",
  "cf-connecting-ip": "cf-connecting-ip",
  "true-client-ip": "true-client-ip",
  "fly-client-ip": "fly-client-ip",
  "cloudfront-viewer-address": "cloudfront-viewer-address",
};

/** Parses an --ip-header value; undefined if unknown. */
export function parseIpHeader(value: string): IpHeader | null | undefined {
  const key = value.trim().toLowerCase();
  return Object.hasOwn(IP_HEADER_NAMES, key) ? IP_HEADER_NAMES[key] : undefined;
}

/** "::ffff:1.2.3.4" -> "1.2.3.4", "fe80::1%eth0" -> "fe80::1", lower case. */
export function normalizeAddress(address: string): string {
  let a = address.trim().toLowerCase();
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1]) a = mapped[1];
  return a;
}

/** A CIDR ("10.0.0.0/8", "fd00::/8") or a single address; throws on anything else. */
export function parseCidr(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } {
  const [addressPart = "", prefixPart, extra] = text.trim().split("/");
  if (extra !== undefined) throw new Error(`"${text}" is not an address or CIDR range`);
  const address = normalizeAddress(addressPart);
  const version = isIP(address);
  if (version === 0) throw new Error(`"${text}" is not an address or CIDR range`);
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (prefixPart !== undefined) {
    if (!/^\d{1,3}$/.test(prefixPart) || Number(prefixPart) > max) throw new Error(`"${text}" has an invalid prefix length`);
    prefix = Number(prefixPart);
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

export const LOOPBACK_PROXIES = ["127.0.0.0/8", "::1"];

/** Strips a port and brackets: "1.2.3.4:5", "[::1]:5", "[::1]" -> the address; undefined if not an IP. */
function addressFromHeaderToken(token: string): string | undefined {
  let t = token.trim();
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) t = t.slice(1, -1);
  if (isIP(normalizeAddress(t))) return normalizeAddress(t);
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(t);
  if (bracketed?.[1]) return isIP(normalizeAddress(bracketed[1])) ? normalizeAddress(bracketed[1]) : undefined;
  const withPort = /^(.*):\d+$/.exec(t);
  if (withPort?.[1] && isIP(normalizeAddress(withPort[1]))) return normalizeAddress(withPort[1]);
  return undefined;
}

/** The `for=` values of a Forwarded header (RFC 7239), in order. Unusable ones become "". */
function forwardedFor(value: string): string[] {
  const result: string[] = [];
  for (const element of value.split(",")) {
    let found = "";
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim().toLowerCase() === "for") found = pair.slice(eq + 1).trim();
    }
    result.push(found);
  }
  return result;
}

export class ClientAddressResolver {
  private readonly trusted = new BlockList();
  private readonly hasTrusted: boolean;

  constructor(
    trustedProxies: readonly string[],
    private readonly header: IpHeader | null,
  ) {
    for (const entry of trustedProxies) {
      const { address, prefix, family } = parseCidr(entry);
      this.trusted.addSubnet(address, prefix, family);
    }
    this.hasTrusted = trustedProxies.length > 0;
  }

  isTrusted(address: string): boolean {
    const version = isIP(address);
    if (!this.hasTrusted || version === 0) return false;
    return this.trusted.check(address, version === 4 ? "ipv4" : "ipv6");
  }

  /** The client address of a request (normalized, see normalizeAddress). */
  resolve(req: IncomingMessage): string {
    const peer = normalizeAddress(req.socket.remoteAddress ?? "");
    if (this.header === null || !this.isTrusted(peer)) return peer;
    const raw = req.headers[this.header];
    const value = Array.isArray(raw) ? raw.join(",") : raw;
    if (value === undefined || value.trim() === "") return peer;
    switch (this.header) {
      case "x-forwarded-for":
        return this.rightmostUntrusted(value.split(","), peer);
      case "forwarded":
        return this.rightmostUntrusted(forwardedFor(value), peer);
      default:
        // Single-address headers: the trusted proxy set them itself.
        return addressFromHeaderToken(value.split(",")[0] ?? "") ?? peer;
    }
  }

  /**
   * Walks a proxy chain from the right (the hop nearest to us) past trusted
   * proxies; the first address that is not one is the client. Anything left
   * of it was written by the client and is not believed.
   */
  private rightmostUntrusted(chain: string[], peer: string): string {
    let last = peer;
    for (let i = chain.length - 1; i >= 0; i--) {
      const address = addressFromHeaderToken(chain[i] ?? "");
      if (address === undefined) return last;
      if (!this.isTrusted(address)) return address;
      last = address;
    }
    return last;
  }
}

/**
 * The key failed logins are counted under: the address itself for IPv4, the
 * /64 network for IPv6 (one host usually owns a whole /64, so counting single
 * IPv6 addresses would be trivial to dodge).
 */
export function throttleKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIPv6(address);
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : address;
}

function expandIPv6(address: string): string[] | undefined {
  let text = address;
  // Embedded IPv4 tail (e.g. 64:ff9b::1.2.3.4) -> two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  return groups.map((g) => (parseInt(g, 16) || 0).toString(16));
}
