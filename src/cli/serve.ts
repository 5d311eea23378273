// `anki-sync-server serve`: run the server until SIGTERM/SIGINT.
import type { Command } from "commander";
import { commandAction } from "./action.js";
import { DEFAULT_BACKUP_MAX_AGE_HOURS, DEFAULT_LOGIN_SETTINGS, DEFAULT_PORT, DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, loadConfig, type ServeFlags } from "../config.js";
import { startServer } from "../app.js";
import { DEFAULT_COGNITO_GRACE_SECONDS, DEFAULT_COGNITO_REVALIDATE_SECONDS } from "../auth/cognito/settings.js";
import { logger } from "../log.js";
import { OperatorError } from "../errors.js";
import { DEFAULT_CHUNK_MEGS } from "../http/budgets.js";
import { DEFAULT_CONNECTION_LIMITS } from "../http/connections.js";
import { isNoSpace } from "../disk-space.js";
import { leaveStartUpMode } from "../v8-start-up.js";

export function registerServe(program: Command): void {
  const serve = program
    .command("serve", { isDefault: true })
    .description("run the sync server")
    .option("--host <ip>", "address to listen on (env SYNC_HOST, default 0.0.0.0)")
    .option("--port <port>", `port to listen on (env SYNC_PORT, default ${DEFAULT_PORT})`)
    .option("--base <dir>", "data folder (env SYNC_BASE, default ./data)")
    .option("--max-payload-megs <n>", "request size limit in MiB (env MAX_SYNC_PAYLOAD_MEGS, default 100)")
    .option(
      "--user-file <name=path>",
      "user whose password or PHC hash is in a file; repeatable; relative paths are under $CREDENTIALS_DIRECTORY " +
        '(env SYNC_USER_FILES="name1=path1 name2=path2")',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      "--trusted-proxy <cidr>",
      "reverse proxy whose forwarded-address header is believed; repeatable (env SYNC_TRUSTED_PROXIES, space-separated)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--ip-header <name>", "header with the client address, read from trusted proxies only (env SYNC_IP_HEADER, default X-Forwarded-For when proxies are set)")
    .option(
      "--login-failures-per-address <n>",
      `failed logins per client address within the window before it is throttled, 0 = off (env SYNC_LOGIN_FAILURES_PER_ADDRESS, default ${DEFAULT_LOGIN_SETTINGS.failuresPerAddress})`,
    )
    .option(
      "--login-failures-per-user <n>",
      `failed logins for one user name from one address within the window before that pair is throttled, 0 = off (env SYNC_LOGIN_FAILURES_PER_USER, default ${DEFAULT_LOGIN_SETTINGS.failuresPerUser})`,
    )
    .option("--login-failure-window <seconds>", `window for counting failed logins (env SYNC_LOGIN_FAILURE_WINDOW, default ${DEFAULT_LOGIN_SETTINGS.windowMs / 1000})`)
    .option("--max-concurrent-logins <n>", `password-hash checks at once (env SYNC_MAX_CONCURRENT_LOGINS, default ${DEFAULT_LOGIN_SETTINGS.maxConcurrentChecks})`)
    .option(
      "--shutdown-timeout <seconds>",
      `on SIGTERM, how long running requests may take to finish (env SYNC_SHUTDOWN_TIMEOUT, default ${DEFAULT_SHUTDOWN_TIMEOUT_SECONDS})`,
    )
    .option("--metrics-user-sizes", "export per-user collection and media sizes on /metrics (env SYNC_METRICS_USER_SIZES=1)")
    .option(
      "--auth <backend>",
      "login backend besides the local users: local (none, the default) or cognito (an AWS Cognito user pool, set up with the COGNITO_* variables; env SYNC_AUTH)",
    )
    .option(
      "--cognito-revalidate-interval <seconds>",
      `with --auth cognito: re-check a host key against Cognito when used this long after its last check (env COGNITO_REVALIDATE_INTERVAL, default ${DEFAULT_COGNITO_REVALIDATE_SECONDS})`,
    )
    .option(
      "--cognito-grace-period <seconds>",
      `with --auth cognito: while Cognito is unreachable, keys checked at most this long ago keep working (env COGNITO_GRACE_PERIOD, default ${DEFAULT_COGNITO_GRACE_SECONDS})`,
    );
  operatorOptions(serve);
  addLimitOptions(serve);
  serve.action(commandAction({}, serveUntilStopped));
}

/** Starts the server and runs it until SIGTERM/SIGINT. */
async function serveUntilStopped(flags: ServeFlags): Promise<void> {
  // Refusals (bad configuration, no users, another server or a restore/reset-user
  // on this data folder) are OperatorErrors: commandAction logs them, exit 2.
  const config = loadConfig(flags);
  const running = await startServer(config).catch((err: unknown) => {
    // A full disk is an operator's problem with one cause: one line, no stack trace.
    if (isNoSpace(err)) throw new OperatorError(`disk full: cannot start in ${config.base} (${(err as Error).message})`);
    throw err;
  });
  // Listening: from here on code runs because it serves (main.ts entered start-up mode).
  leaveStartUpMode();
  // SIGTERM/SIGINT: graceful shutdown (app.ts), exit 0; a second signal exits at once.
  const stop = (signal: string) => {
    logger.info("stopping", { signal });
    // Should closing itself hang, do not outlive the timeout by much.
    setTimeout(() => {
      logger.error("shutdown did not complete; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000).unref();
    running
      .close()
      .then(() => logger.info("stopped"))
      .catch((err: unknown) => logger.error("error while stopping", { reason: (err as Error).message }))
      .finally(() => process.exit(0));
  };
  // SIGHUP: read password files and the user store again (they are also watched).
  process.on("SIGHUP", () => {
    running.reloadUsers("SIGHUP");
  });
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

/** The operator's options: /metrics access, backup freshness, the status page, the official server's host keys. */
function operatorOptions(serve: Command): void {
  serve
    .option(
      "--metrics-allow <cidr>",
      "only these addresses or CIDR ranges may read /metrics (others get 403); repeatable (env SYNC_METRICS_ALLOW, space-separated; default: everyone)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--backup-dir <dir>", "backup folder (as given to `backup --to`): its newest manifest feeds /metrics, /health and the status page (env SYNC_BACKUP_DIR)")
    .option(
      "--backup-max-age <hours>",
      `with --backup-dir: /health fails when the newest backup is older than this, 0 = never (env SYNC_BACKUP_MAX_AGE, default ${DEFAULT_BACKUP_MAX_AGE_HOURS})`,
    )
    .option("--admin-password-file <path>", "turn on the status page at /admin; the file holds its password, plain or an argon2id hash (env SYNC_ADMIN_PASSWORD_FILE)")
    .option(
      "--accept-derived-host-keys",
      "also accept the host key the official server derives from a plain-text password, sha1(user:password), so devices moving over keep syncing; such a key cannot be revoked without changing the password (env SYNC_ACCEPT_DERIVED_HOST_KEYS=1)",
    );
}

/** Request budgets, the disk reserve, timeouts and the connection cap (README: "Request limits and timeouts"). */
function addLimitOptions(serve: Command): void {
  serve
    .option("--max-chunk-megs <n>", `decompressed size limit of one applyChanges/applyChunk request in MiB (env SYNC_MAX_CHUNK_MEGS, default ${DEFAULT_CHUNK_MEGS})`)
    .option("--disk-reserve <MiB|n%>", 'free space uploads must leave on the data folder\'s file system, e.g. "1024", "5%" or "1024,5%" (the smaller) (env SYNC_DISK_RESERVE, default "1024,5%")')
    .option("--headers-timeout <seconds>", `time for a request's headers to arrive (env SYNC_HEADERS_TIMEOUT, default ${DEFAULT_CONNECTION_LIMITS.headersTimeoutMs / 1000})`)
    .option("--keepalive-timeout <seconds>", `idle keep-alive connections are closed after this (env SYNC_KEEPALIVE_TIMEOUT, default ${DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs / 1000})`)
    .option("--body-min-rate <bytes/s>", `a request body slower than this over the window is cut, 0 = off (env SYNC_BODY_MIN_RATE, default ${DEFAULT_CONNECTION_LIMITS.bodyMinBytesPerSecond})`)
    .option("--body-rate-window <seconds>", `window for the minimum body rate (env SYNC_BODY_RATE_WINDOW, default ${DEFAULT_CONNECTION_LIMITS.bodyRateWindowMs / 1000})`)
    .option("--max-connections-per-address <n>", `open connections per client address, 0 = no cap (env SYNC_MAX_CONNECTIONS_PER_ADDRESS, default ${DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress})`);
}
