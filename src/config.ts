// Flags and environment (including the official server's SYNC_* names) turned
// into one validated Config. Everything else reads Config, never process.env.
import { isIP } from "node:net";
import { isAbsolute, resolve } from "node:path";
import { type IpHeader, LOOPBACK_PROXIES, parseCidr, parseIpHeader } from "./auth/address.js";
import { checkUserName } from "./auth/username.js";
import { type CognitoSettings, CognitoSettingsError, cognitoSettingsFrom } from "./auth/cognito/settings.js";
import { DEFAULT_LOGIN_SETTINGS, type LoginSettings, type UserFileSpec, type UserSpec } from "./auth/settings.js";
import type { LogLevel } from "./log.js";
import { OperatorError } from "./errors.js";
import { DEFAULT_CHUNK_MEGS } from "./http/budgets.js";
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from "./http/connections.js";
import { DEFAULT_DISK_RESERVE, type DiskReserve } from "./disk-space.js";

export { DEFAULT_LOGIN_SETTINGS };
export type { LoginSettings, UserFileSpec, UserSpec };

export interface Config {
  host: string;
  port: number;
  base: string;
  /** MAX_SYNC_PAYLOAD_MEGS in bytes; decompressed bodies may be 3x this. */
  maxPayloadBytes: number;
  /** Users from SYNC_USER1..N. */
  users: UserSpec[];
  /** Users from password files (--user-file / SYNC_USER_FILES). */
  userFiles: UserFileSpec[];
  login: LoginSettings;
  /** Peers whose forwarded-address header is believed (CIDRs or addresses). */
  trustedProxies: string[];
  /** Header holding the client address when the peer is a trusted proxy; null = socket peer only. */
  ipHeader: IpHeader | null;
  /** SIGTERM: how long running requests may take to finish before their connections are cut (default 10 s). */
  shutdownTimeoutMs: number;
  /** /metrics also exports per-user collection and media sizes (labels carry user names). */
  metricsUserSizes: boolean;
  /** Login backend besides the local users: "cognito" adds an AWS Cognito user pool (default "local": none). */
  auth: AuthMode;
  /** ANKI_SYNC_LOG_LEVEL. */
  logLevel: LogLevel;
  /** Set when auth is "cognito". */
  cognito?: CognitoSettings;
  /** Backup folder whose newest manifest feeds the backup metrics and health check (and the status page's "backup now"). */
  backupDir?: string;
  /** The "backup" health check fails when the newest backup is older than this; 0 = no age limit. */
  backupMaxAgeMs?: number;
  /** Password file of the status page (/admin); unset = no status page. */
  adminPasswordFile?: string;
  /** Also accept the host key the official server derives, sha1("user:secret"), for users from SYNC_USERn and password files. */
  acceptDerivedHostKeys?: boolean;
  /** Addresses or CIDR ranges allowed to read /metrics; undefined = everyone. */
  metricsAllow?: string[];
  /** Decompressed bytes of one applyChanges / applyChunk request (default 32 MiB). */
  maxChunkBytes: number;
  /** Free space uploads and spool files leave on the data folder's file system. */
  diskReserve: DiskReserve;
  /** Timeouts and the per-address connection cap. */
  connections: ConnectionLimits;
}

export type AuthMode = "local" | "cognito";

export class ConfigError extends OperatorError {}

export interface ServeFlags {
  host?: string;
  port?: string;
  base?: string;
  maxPayloadMegs?: string;
  userFile?: string[];
  trustedProxy?: string[];
  ipHeader?: string;
  loginFailuresPerAddress?: string;
  loginFailuresPerUser?: string;
  loginFailureWindow?: string;
  maxConcurrentLogins?: string;
  shutdownTimeout?: string;
  metricsUserSizes?: boolean;
  auth?: string;
  cognitoRevalidateInterval?: string;
  cognitoGracePeriod?: string;
  backupDir?: string;
  backupMaxAge?: string;
  adminPasswordFile?: string;
  acceptDerivedHostKeys?: boolean;
  metricsAllow?: string[];
  maxChunkMegs?: string;
  diskReserve?: string;
  headersTimeout?: string;
  keepaliveTimeout?: string;
  bodyMinRate?: string;
  bodyRateWindow?: string;
  maxConnectionsPerAddress?: string;
}

export const DEFAULT_PORT = 27701;
export const DEFAULT_HOST = "0.0.0.0";
export const DEFAULT_BASE = "./data";
export const DEFAULT_LOG_LEVEL: LogLevel = "info";
export const DEFAULT_MAX_PAYLOAD_MEGS = 100;
export const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 10;

/** A nightly backup plus half a day of slack. */
export const DEFAULT_BACKUP_MAX_AGE_HOURS = 36;

/** --backup-dir, --backup-max-age, --admin-password-file, --accept-derived-host-keys (and their SYNC_* variables). */
function operatorSettingsFrom(
  flags: ServeFlags,
  env: NodeJS.ProcessEnv,
): Pick<Config, "backupDir" | "backupMaxAgeMs" | "adminPasswordFile" | "acceptDerivedHostKeys" | "metricsAllow"> {
  const dirText = flags.backupDir ?? env.SYNC_BACKUP_DIR;
  const backupDir = dirText === undefined || dirText.trim() === "" ? undefined : resolve(dirText);
  const ageText = flags.backupMaxAge ?? env.SYNC_BACKUP_MAX_AGE;
  let hours = DEFAULT_BACKUP_MAX_AGE_HOURS;
  if (ageText !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(ageText.trim())) throw new ConfigError(`backup max age must be a number of hours, got "${ageText}"`);
    hours = Number(ageText);
  }
  const adminText = flags.adminPasswordFile ?? env.SYNC_ADMIN_PASSWORD_FILE;
  const credentialsDir = env.CREDENTIALS_DIRECTORY;
  let adminPasswordFile: string | undefined;
  if (adminText !== undefined && adminText.trim() !== "") {
    adminPasswordFile = isAbsolute(adminText) ? adminText : credentialsDir ? resolve(credentialsDir, adminText) : resolve(adminText);
  }
  const fromFlags = flags.metricsAllow !== undefined && flags.metricsAllow.length > 0;
  const allowText = fromFlags ? (flags.metricsAllow ?? []).join(" ") : env.SYNC_METRICS_ALLOW;
  let metricsAllow: string[] | undefined;
  if (allowText !== undefined && allowText.trim() !== "") {
    metricsAllow = allowText.split(/[\s,]+/).filter((v) => v !== "");
    for (const entry of metricsAllow) {
      try {
        parseCidr(entry);
      } catch (err) {
        throw new ConfigError(`${fromFlags ? "--metrics-allow" : "SYNC_METRICS_ALLOW"}: ${(err as Error).message}`);
      }
    }
  }
  return {
    metricsAllow,
    backupDir,
    backupMaxAgeMs: Math.round(hours * 3_600_000),
    adminPasswordFile,
    acceptDerivedHostKeys: flags.acceptDerivedHostKeys ?? isTrue(env.SYNC_ACCEPT_DERIVED_HOST_KEYS),
  };
}

/** --shutdown-timeout / SYNC_SHUTDOWN_TIMEOUT (seconds), --metrics-user-sizes / SYNC_METRICS_USER_SIZES. */
function opsSettingsFrom(flags: ServeFlags, env: NodeJS.ProcessEnv): { shutdownTimeoutMs: number; metricsUserSizes: boolean } {
  const text = flags.shutdownTimeout ?? env.SYNC_SHUTDOWN_TIMEOUT;
  let seconds = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS;
  if (text !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(text.trim())) throw new ConfigError(`shutdown timeout must be a number of seconds, got "${text}"`);
    seconds = Number(text);
  }
  return { shutdownTimeoutMs: Math.round(seconds * 1000), metricsUserSizes: flags.metricsUserSizes ?? isTrue(env.SYNC_METRICS_USER_SIZES) };
}

/** The data folder of every subcommand: --base, else SYNC_BASE, else ./data, made absolute. */
export function resolveBase(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.SYNC_BASE ?? DEFAULT_BASE);
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** ANKI_SYNC_LOG_LEVEL, for every subcommand. */
export function logLevelFrom(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const text = env.ANKI_SYNC_LOG_LEVEL;
  if (text === undefined || text === "") return DEFAULT_LOG_LEVEL;
  const level = LOG_LEVELS.find((l) => l === text.trim().toLowerCase());
  if (!level) throw new ConfigError(`ANKI_SYNC_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${text}"`);
  return level;
}

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

/** `NAME=PATH` entries from --user-file (if given) or SYNC_USER_FILES (whitespace-separated). */
export function userFilesFrom(flags: ServeFlags, env: NodeJS.ProcessEnv): UserFileSpec[] {
  const fromFlags = flags.userFile !== undefined && flags.userFile.length > 0;
  const entries = fromFlags ? (flags.userFile ?? []) : (env.SYNC_USER_FILES ?? "").split(/\s+/).filter((e) => e !== "");
  const origin = fromFlags ? "--user-file" : "SYNC_USER_FILES";
  const credentialsDir = env.CREDENTIALS_DIRECTORY;
  return entries.map((entry) => {
    const eq = entry.indexOf("=");
    if (eq <= 0 || eq === entry.length - 1) throw new ConfigError(`${origin} entries must look like NAME=PATH, got "${entry}"`);
    const name = entry.slice(0, eq);
    const rawPath = entry.slice(eq + 1);
    try {
      checkUserName(name);
    } catch (err) {
      throw new ConfigError(`${origin} "${entry}": ${(err as Error).message}`);
    }
    const path = isAbsolute(rawPath) ? rawPath : credentialsDir ? resolve(credentialsDir, rawPath) : resolve(rawPath);
    return { name, path, origin };
  });
}

function parseCount(value: string | undefined, what: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) {
    throw new ConfigError(`${what} must be a whole number of at least ${min}, got "${value}"`);
  }
  return Number(value);
}

function loginSettingsFrom(flags: ServeFlags, env: NodeJS.ProcessEnv): LoginSettings {
  const d = DEFAULT_LOGIN_SETTINGS;
  return {
    failuresPerAddress: parseCount(flags.loginFailuresPerAddress ?? env.SYNC_LOGIN_FAILURES_PER_ADDRESS, "login failures per address", d.failuresPerAddress, 0),
    failuresPerUser: parseCount(flags.loginFailuresPerUser ?? env.SYNC_LOGIN_FAILURES_PER_USER, "login failures per user", d.failuresPerUser, 0),
    windowMs: parseCount(flags.loginFailureWindow ?? env.SYNC_LOGIN_FAILURE_WINDOW, "login failure window (seconds)", d.windowMs / 1000, 1) * 1000,
    maxConcurrentChecks: parseCount(flags.maxConcurrentLogins ?? env.SYNC_MAX_CONCURRENT_LOGINS, "max concurrent logins", d.maxConcurrentChecks, 1),
  };
}

function proxySettingsFrom(flags: ServeFlags, env: NodeJS.ProcessEnv): { trustedProxies: string[]; ipHeader: IpHeader | null } {
  const fromFlags = flags.trustedProxy !== undefined && flags.trustedProxy.length > 0;
  const list = fromFlags ? (flags.trustedProxy ?? []).flatMap((v) => v.split(/[\s,]+/)) : (env.SYNC_TRUSTED_PROXIES ?? "").split(/[\s,]+/);
  const trustedProxies = list.filter((v) => v !== "");
  for (const entry of trustedProxies) {
    try {
      parseCidr(entry);
    } catch (err) {
      throw new ConfigError(`${fromFlags ? "--trusted-proxy" : "SYNC_TRUSTED_PROXIES"}: ${(err as Error).message}`);
    }
  }
  const headerText = flags.ipHeader ?? env.SYNC_IP_HEADER;
  let ipHeader: IpHeader | null;
  if (headerText === undefined) {
    // Trusting proxies only makes sense with a header to read: the common one.
    ipHeader = trustedProxies.length > 0 ? "x-forwarded-for" : null;
  } else {
    const parsed = parseIpHeader(headerText);
    if (parsed === undefined) {
      throw new ConfigError(
        `${flags.ipHeader !== undefined ? "--ip-header" : "SYNC_IP_HEADER"} "${headerText}" is not one of ConnectInfo, RightmostXForwardedFor, ` +
          "RightmostForwarded, XRealIp, CfConnectingIp, TrueClientIp, FlyClientIp, CloudFrontViewerAddress",
      );
    }
    ipHeader = parsed;
  }
  // The official server believes SYNC_IP_HEADER from anyone; we only from trusted proxies, by default the local ones.
  if (ipHeader !== null && trustedProxies.length === 0) trustedProxies.push(...LOOPBACK_PROXIES);
  return { trustedProxies, ipHeader };
}

/** --auth / SYNC_AUTH, and with "cognito" the COGNITO_* settings. */
function authSettingsFrom(flags: ServeFlags, env: NodeJS.ProcessEnv): { auth: AuthMode; cognito?: CognitoSettings } {
  const text = (flags.auth ?? env.SYNC_AUTH ?? "local").trim();
  if (text !== "local" && text !== "cognito") throw new ConfigError(`--auth must be "local" or "cognito", got "${text}"`);
  if (text === "local") return { auth: "local" };
  try {
    return { auth: "cognito", cognito: cognitoSettingsFrom(flags, env) };
  } catch (err) {
    if (err instanceof CognitoSettingsError) throw new ConfigError(err.message);
    throw err;
  }
}

function parseSeconds(value: string | undefined, what: string, fallbackMs: number, minSeconds: number): number {
  if (value === undefined) return fallbackMs;
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) < minSeconds) throw new ConfigError(`${what} must be a number of seconds of at least ${minSeconds}, got "${value}"`);
  return Math.round(Number(text) * 1000);
}

/** "<MiB>" or "<percent>%"; both ("1024,5%"): whichever is smaller. */
export function parseDiskReserve(text: string): DiskReserve {
  const reserve: DiskReserve = {};
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(part);
    if (percent) {
      if (Number(percent[1]) > 90) throw new ConfigError(`disk reserve percentage must be at most 90, got "${part}"`);
      reserve.percent = Number(percent[1]);
    } else if (/^\d+$/.test(part)) {
      reserve.bytes = Number(part) * 1024 * 1024;
    } else {
      throw new ConfigError(`disk reserve must be MiB ("1024"), a percentage ("5%") or both ("1024,5%"), got "${text}"`);
    }
  }
  return reserve;
}

/** --max-chunk-megs, --disk-reserve, the timeouts and the connection cap. */
function limitSettingsFrom(flags: ServeFlags, env: NodeJS.ProcessEnv): Pick<Config, "maxChunkBytes" | "diskReserve" | "connections"> {
  const d = DEFAULT_CONNECTION_LIMITS;
  const chunkMegs = parseCount(flags.maxChunkMegs ?? env.SYNC_MAX_CHUNK_MEGS, "max chunk megs", DEFAULT_CHUNK_MEGS, 1);
  const reserveText = flags.diskReserve ?? env.SYNC_DISK_RESERVE;
  return {
    maxChunkBytes: chunkMegs * 1024 * 1024,
    diskReserve: reserveText === undefined ? DEFAULT_DISK_RESERVE : parseDiskReserve(reserveText),
    connections: {
      headersTimeoutMs: parseSeconds(flags.headersTimeout ?? env.SYNC_HEADERS_TIMEOUT, "headers timeout", d.headersTimeoutMs, 1),
      keepAliveTimeoutMs: parseSeconds(flags.keepaliveTimeout ?? env.SYNC_KEEPALIVE_TIMEOUT, "keep-alive timeout", d.keepAliveTimeoutMs, 1),
      bodyMinBytesPerSecond: parseCount(flags.bodyMinRate ?? env.SYNC_BODY_MIN_RATE, "minimum body rate (bytes/s)", d.bodyMinBytesPerSecond, 0),
      bodyRateWindowMs: parseSeconds(flags.bodyRateWindow ?? env.SYNC_BODY_RATE_WINDOW, "body rate window", d.bodyRateWindowMs, 1),
      maxConnectionsPerAddress: parseCount(flags.maxConnectionsPerAddress ?? env.SYNC_MAX_CONNECTIONS_PER_ADDRESS, "max connections per address", d.maxConnectionsPerAddress, 0),
    },
  };
}

export function loadConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const host = flags.host ?? env.SYNC_HOST ?? DEFAULT_HOST;
  if (isIP(host) === 0) throw new ConfigError(`host must be an IP address, got "${host}"`);
  const portText = flags.port ?? env.SYNC_PORT;
  const port = portText === undefined ? DEFAULT_PORT : parsePort(portText, flags.port ? "--port" : "SYNC_PORT");
  const base = resolveBase(flags.base, env);
  const megsText = flags.maxPayloadMegs ?? env.MAX_SYNC_PAYLOAD_MEGS;
  let megs = DEFAULT_MAX_PAYLOAD_MEGS;
  if (megsText !== undefined) {
    if (!/^\d+$/.test(megsText) || Number(megsText) < 1) {
      throw new ConfigError(`MAX_SYNC_PAYLOAD_MEGS must be a positive whole number, got "${megsText}"`);
    }
    megs = Number(megsText);
  }
  const users = usersFromEnv(env);
  const userFiles = userFilesFrom(flags, env);
  const login = loginSettingsFrom(flags, env);
  const { trustedProxies, ipHeader } = proxySettingsFrom(flags, env);
  const logLevel = logLevelFrom(env);
  return { host, port, base, maxPayloadBytes: megs * 1024 * 1024, users, userFiles, login, trustedProxies, ipHeader, logLevel, ...opsSettingsFrom(flags, env), ...authSettingsFrom(flags, env), ...operatorSettingsFrom(flags, env), ...limitSettingsFrom(flags, env) };
}
