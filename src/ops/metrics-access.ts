// --metrics-allow: who may read /metrics (it names routes, traffic and, with
// --metrics-user-sizes, users). Unset: everyone who reaches the port, as
// before. Set: only these addresses or CIDR ranges (the client address as
// resolved through trusted proxies); anyone else gets 403.
import { BlockList, isIP } from "node:net";
import { normalizeAddress, parseCidr } from "../auth/address.js";

/** Throws on an entry that is not an address or CIDR range. */
export function metricsAccess(allowed: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of allowed) {
    const { address, prefix, family } = parseCidr(entry);
    list.addSubnet(address, prefix, family);
  }
  return (address) => {
    const a = normalizeAddress(address);
    const version = isIP(a);
    return version !== 0 && list.check(a, version === 4 ? "ipv4" : "ipv6");
  };
}
