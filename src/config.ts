// Flags and environment (including the official server's SYNC_* names) turned
// into one validated Config. Everything else reads Config, never process.env.
import { isIP } from "node:net";
import { resolve } from "node:path";

export interface UserSpec {
  name: string;
  /** Plain password, or a PHC string when `hashed` is true. */
  secret: string;
  hashed: boolean;
  /** Where the user came from, for error messages (never the secret). */
  source: string;
}

export interface Config {
  host: string;
  port: number;
  base: string;
  /** MAX_SYNC_PAYLOAD_MEGS in bytes; decompressed bodies may be 3x this. */
  maxPayloadBytes: number;
  users: UserSpec[];
}

export class ConfigError extends Error {}

export interface ServeFlags {
  host?: string;
  port?: string;
  base?: string;
  maxPayloadMegs?: string;
}

export const DEFAULT_PORT = 27701;
export const DEFAULT_MAX_PAYLOAD_MEGS = 100;

function parsePort(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${what} must be a port number, got "${value}"`);
  const port = Number(value);
  if (port > 65535) throw new ConfigError(`${what} must be at most 65535, got ${port}`);
  return port;
}

function isTrue(value: string | undefined): boolean {
  if (value === undefined) return false;
  return !["", "0", "false", "no", "off"].includes(value.trim().toLowerCase());
}

/** SYNC_USER1..N, stopping at the first gap, as the official server reads them. */
export function usersFromEnv(env: NodeJS.ProcessEnv): UserSpec[] {
  const hashed = isTrue(env.PASSWORDS_HASHED);
  const users: UserSpec[] = [];
  for (let i = 1; ; i++) {
    const value = env[`SYNC_USER${i}`];
    if (value === undefined) break;
    const colon = value.indexOf(":");
    if (colon <= 0) {
      throw new ConfigError(`SYNC_USER${i} must look like "name:password"`);
    }
    users.push({ name: value.slice(0, colon), secret: value.slice(colon + 1), hashed, source: `SYNC_USER${i}` });
  }
  return users;
}

export function loadConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const host = flags.host ?? env.SYNC_HOST ?? "0.0.0.0";
  if (isIP(host) === 0) throw new ConfigError(`host must be an IP address, got "${host}"`);
  const portText = flags.port ?? env.SYNC_PORT;
  const port = portText === undefined ? DEFAULT_PORT : parsePort(portText, flags.port ? "--port" : "SYNC_PORT");
  const base = resolve(flags.base ?? env.SYNC_BASE ?? "./data");
  const megsText = flags.maxPayloadMegs ?? env.MAX_SYNC_PAYLOAD_MEGS;
  let megs = DEFAULT_MAX_PAYLOAD_MEGS;
  if (megsText !== undefined) {
    if (!/^\d+$/.test(megsText) || Number(megsText) < 1) {
      throw new ConfigError(`MAX_SYNC_PAYLOAD_MEGS must be a positive whole number, got "${megsText}"`);
    }
    megs = Number(megsText);
  }
  const users = usersFromEnv(env);
  return { host, port, base, maxPayloadBytes: megs * 1024 * 1024, users };
}
