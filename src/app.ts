// Wires configuration, storage, authentication and routes into a running server.
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:http";
import type Database from "better-sqlite3";
import { Accounts } from "./auth/accounts.js";
import { ClientAddressResolver } from "./auth/address.js";
import { HostKeyStore } from "./auth/hostkeys.js";
import { openServerDb } from "./auth/server-db.js";
import { ControlError, ControlListener } from "./control/socket.js";
import type { Config } from "./config.js";
import { LEGACY_SPOOL_FOLDER } from "./data-folder.js";
import { HealthCheck } from "./http/health.js";
import { Metrics } from "./http/metrics.js";
import { type ServerDeps, createSyncServer } from "./http/server.js";
import { ServerOps } from "./http/ops.js";
import { OperatorError } from "./errors.js";
import { logger } from "./log.js";
import { mediaConnections } from "./media/connections.js";
import { mediaRoutes, mediaUsn, preloadMediaHandlers } from "./media/routes.js";
import { collectionRoutes, preloadSyncHandlers } from "./sync/routes.js";
import { UserRegistry } from "./users/user.js";
import { inStartUpMode } from "./v8-start-up.js";
import type { AdminPage } from "./admin/index.js";
import { StartupError } from "./auth/authenticator.js";
import { SyncActivity } from "./ops/activity.js";
import type { BackupStatus } from "./ops/backup-status.js";
import { metricsAccess } from "./ops/metrics-access.js";
import { DiskSpace } from "./disk-space.js";
import { SpoolBudget } from "./http/legacy.js";
import { sweepLeftovers } from "./sweep.js";
import { workers } from "./worker/pool.js";

type ServerDb = Database.Database;

let handlersLoaded: Promise<void> | undefined;

/**
 * The sync and media handler modules (with the protobuf codecs and the zip
 * code: about 170 ms of CPU; with the login, RSS 55 -> 68 MB) are imported by
 * the first login, in V8's start-up mode (src/v8-start-up.ts),
 * which waits for them before answering the host key, so the client's first
 * sync step does not. An idle server that nobody logged into never loads
 * them. Later logins find them loaded. Rarely used code (legacy protocol,
 * argon2, Cognito, collection creation, the other CLI commands) stays
 * unloaded until needed.
 */
async function preloadHandlers(): Promise<void> {
  handlersLoaded ??= inStartUpMode(async () => {
    await Promise.all([preloadSyncHandlers(), preloadMediaHandlers()]);
  }).catch((err: unknown) => {
    handlersLoaded = undefined;
    throw err;
  });
  await handlersLoaded;
}

/** A normal sync with no request for this long is rolled back. */
const SESSION_IDLE_MS = 30 * 60_000;
/** A media DB unused for this long is closed (reopened on the next media request). */
const MEDIA_IDLE_MS = 5 * 60_000;
/** After the shutdown timeout: how long handlers still running get to let go of the users' files. */
const SHUTDOWN_GRACE_MS = 2000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export interface RunningServer {
  server: Server;
  /** The port actually bound (differs from the config when it asked for 0). */
  port: number;
  /** Reads password files and the user store again (SIGHUP). False if that failed and the old users stay. */
  reloadUsers(trigger: string): boolean;
  close(): Promise<void>;
}

export class NoUsersError extends OperatorError {
  constructor() {
    super(
      "No users defined. Add one with the environment variable SYNC_USER1=name:password " +
        "(SYNC_USER2, ... for more; PASSWORDS_HASHED=1 to give PHC hashes instead of passwords), " +
        "with a password file (--user-file NAME=PATH or SYNC_USER_FILES), " +
        "or with `anki-sync-server user add NAME` (same --base / SYNC_BASE); " +
        "or let an AWS Cognito user pool log users in (--auth cognito with the COGNITO_* variables).",
    );
  }
}

/**
 * The control socket (src/control/socket.ts). Another server or a maintenance
 * command on this folder stops the start; a file system without Unix sockets
 * only costs the coordination (restore and reset-user then refuse to run).
 */
type Control = Pick<ControlListener, "isBlocked" | "close">;

async function startControl(base: string, users: UserRegistry): Promise<Control> {
  try {
    return await ControlListener.start(base, "server", {
      runLocked: (name, task) => users.get(name).lock.run(task),
      closeUserFiles: (name) => {
        users.get(name).closeCollection();
        mediaConnections.close(users.get(name).dir);
      },
    });
  } catch (err) {
    if (err instanceof ControlError) throw err;
    logger.warn("no control socket: backup, restore and reset-user cannot coordinate with this server", { reason: (err as Error).message });
    return { isBlocked: () => false, close: async () => {} };
  }
}

/** Opens the server database and the accounts on it; closes what it opened if that fails. */
async function openAccounts(config: Config): Promise<{ serverDb: ServerDb; accounts: Accounts; hostKeys: HostKeyStore }> {
  const serverDb = openServerDb(config.base);
  try {
    const hostKeys = new HostKeyStore(serverDb);
    // The Cognito backend (and with it the AWS SDK) is loaded only when asked for.
    const external =
      config.auth === "cognito" && config.cognito
        ? await (await import("./auth/cognito/index.js")).createCognitoBackend(config.cognito, { db: serverDb, hostKeys })
        : undefined;
    const accounts = new Accounts({
      db: serverDb,
      hostKeys,
      envUsers: config.users,
      userFiles: config.userFiles,
      login: config.login,
      external,
      acceptDerivedHostKeys: config.acceptDerivedHostKeys,
    });
    if (config.acceptDerivedHostKeys) {
      logger.warn("accepting the official server's derived host keys (sha1 of user:password) for users from SYNC_USERn and password files; they cannot be revoked without changing the password");
    }
    return { serverDb, accounts, hostKeys };
  } catch (err) {
    serverDb.close();
    throw err;
  }
}

/** Body budgets, disk reserve, timeouts and connection cap of the HTTP server. */
function requestLimits(config: Config, disk: DiskSpace, addresses: ClientAddressResolver): Omit<ServerDeps, "auth" | "users" | "routes" | "clientAddress" | "ops"> {
  const collectionBytes = config.maxPayloadBytes * 3;
  return {
    budgets: { collectionBytes, chunkBytes: config.maxChunkBytes },
    disk,
    connections: config.connections,
    maxLegacyFormBytes: config.maxPayloadBytes,
    // A dot folder: never a user's.
    legacySpoolDir: join(config.base, LEGACY_SPOOL_FOLDER),
    // Forms sending data before their host key: at most one collection's worth spooled at a time.
    unauthenticatedSpool: new SpoolBudget(collectionBytes),
    // Behind a trusted reverse proxy every client shares its address: no per-address cap for it.
    isTrustedProxy: (address) => config.ipHeader !== null && addresses.isTrusted(address),
  };
}

/** The data folder holds every user's collection: say so when others may read it. */
function warnIfReadableByOthers(base: string): void {
  const mode = statSync(base).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    logger.warn("data folder is group- or world-readable; chmod 700 it (the server creates it 0700)", { base, mode: "0" + mode.toString(8) });
  }
}

function createOps(config: Config, routes: ServerDeps["routes"], serverDb: ServerDb, control: Control, users: UserRegistry, disk: DiskSpace, backups: BackupStatus | undefined): ServerOps {
  const knownRoutes = new Set(["/", "/health", "/metrics", ...Object.keys(routes.sync).map((n) => `/sync/${n}`), ...Object.keys(routes.msync).map((n) => `/msync/${n}`)]);
  const skipUser = (name: string) => control.isBlocked(name);
  const metrics = new Metrics({
    base: config.base,
    userSizes: config.metricsUserSizes,
    skipUser,
    activeSessions: () => users.activeSessionCount(),
    backupLines: backups && (() => backups.metricLines()),
  });
  users.observer.sessionCommitted = (_user, session) => metrics.sessionCommitted(session.startedAt);
  const ops = new ServerOps(
    new HealthCheck({
      base: config.base,
      checkServerDb: () => void serverDb.prepare("SELECT count(*) FROM sqlite_master").get(),
      skipUser,
      disk,
      checkBackup: backups && (() => backups.check()),
    }),
    metrics,
    knownRoutes,
  );
  ops.isBlocked = skipUser;
  ops.activity = new SyncActivity(serverDb);
  return ops;
}

/**
 * The status page (src/admin/), when --admin-password-file is given. Its
 * throttle is the sync logins' one; an unusable password file stops the start.
 * Its code (with the backup code it can run) is loaded only then.
 */
async function createAdmin(config: Config, parts: { hostKeys: HostKeyStore; accounts: Accounts; ops: ServerOps; backups: BackupStatus | undefined; addresses: ClientAddressResolver }): Promise<AdminPage | undefined> {
  if (config.adminPasswordFile === undefined) return undefined;
  const auth = parts.accounts.auth;
  const { AdminPage } = await import("./admin/index.js");
  try {
    return new AdminPage({
      passwordFile: config.adminPasswordFile,
      base: config.base,
      hostKeys: parts.hostKeys,
      activity: parts.ops.activity!,
      throttle: auth.throttle,
      userNames: () => [...new Set([...auth.userNames(), ...auth.externalUserNames()])],
      backups: parts.backups,
      isBlocked: parts.ops.isBlocked,
      clientAddress: (req) => parts.addresses.resolve(req),
    });
  } catch (err) {
    throw new StartupError(`status page: ${(err as Error).message}`);
  }
}

function listen(server: Server, config: Config): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function startServer(config: Config): Promise<RunningServer> {
  // The control socket first: it refuses to start while another server or a
  // restore/reset-user works on this folder, before anything here is touched.
  mkdirSync(config.base, { recursive: true, mode: 0o700 });
  warnIfReadableByOthers(config.base);
  const users = new UserRegistry(config.base);
  const control = await startControl(config.base, users);
  let opened: Awaited<ReturnType<typeof openAccounts>>;
  try {
    // What a killed run left behind goes before anything is served.
    sweepLeftovers(config.base);
    opened = await openAccounts(config);
  } catch (err) {
    await control.close();
    throw err;
  }
  const { serverDb, accounts, hostKeys } = opened;
  const auth = accounts.auth;
  // With Cognito the pool has the users; local ones are optional.
  if (auth.userNames().length === 0 && !auth.external) {
    serverDb.close();
    await control.close();
    throw new NoUsersError();
  }
  const ensureFolders = () => {
    for (const name of auth.userNames()) users.get(name).ensureFolders();
  };
  ensureFolders();
  accounts.onReloaded = ensureFolders;
  const addresses = new ClientAddressResolver(config.trustedProxies, config.ipHeader);

  const maxBodyBytes = config.maxPayloadBytes * 3;
  const routes = { sync: collectionRoutes({ maxCollectionBytes: maxBodyBytes, mediaUsn }), msync: mediaRoutes() };
  const disk = new DiskSpace(config.base, config.diskReserve);
  // The backup folder's reader is loaded only with --backup-dir.
  const backups = config.backupDir === undefined ? undefined : new (await import("./ops/backup-status.js")).BackupStatus({ dir: config.backupDir, maxAgeMs: config.backupMaxAgeMs ?? 0 });
  const ops = createOps(config, routes, serverDb, control, users, disk, backups);
  let admin: AdminPage | undefined;
  let server: Server;
  try {
    admin = await createAdmin(config, { hostKeys, accounts, ops, backups, addresses });
    server = createSyncServer({
      ...requestLimits(config, disk, addresses),
      auth,
      users,
      routes,
      clientAddress: (req) => addresses.resolve(req),
      ops,
      admin,
      metricsAllowed: config.metricsAllow && metricsAccess(config.metricsAllow),
      onLoginFailure: admin && admin.failedLogins.add.bind(admin.failedLogins),
      onLogin: preloadHandlers,
    });
    await listen(server, config);
  } catch (err) {
    serverDb.close();
    await control.close();
    throw err;
  }
  const sweep = setInterval(() => {
    users.abortIdleSessions(SESSION_IDLE_MS);
    mediaConnections.closeIdle(MEDIA_IDLE_MS, (name, task) => users.get(name).lock.run(task));
  }, 60_000);
  sweep.unref();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info("listening", { host: config.host, port, base: config.base, users: auth.userNames().length, auth: auth.external?.name, admin: admin ? "/admin" : undefined });
  accounts.startWatching();
  let closing: Promise<void> | undefined;
  const parts: RunningParts = { config, server, ops, accounts, control, users, serverDb, sweep };
  return {
    server,
    port,
    reloadUsers: (trigger: string) => accounts.reload(trigger),
    close() {
      closing ??= shutdown(parts);
      return closing;
    },
  };
}

/** What a running server holds, for shutdown. */
interface RunningParts {
  config: Config;
  server: Server;
  ops: ServerOps;
  accounts: Accounts;
  control: Control;
  users: UserRegistry;
  serverDb: ServerDb;
  sweep: NodeJS.Timeout;
}

/**
 * Graceful shutdown: stop accepting (new requests on open connections get
 * 503 and `connection: close`), let running requests finish within the
 * shutdown timeout, then cut what is left; roll back open sync sessions and
 * close every database, each user under its lock so no handler still holds
 * the files. A full upload cut short never touched the collection: the
 * upload is swapped in only once completely received and verified.
 */
async function shutdown(parts: RunningParts): Promise<void> {
  const { config, server, ops, accounts, control, users, serverDb } = parts;
  ops.closing = true;
  accounts.stop();
  clearInterval(parts.sweep);
  const timeoutMs = config.shutdownTimeoutMs;
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  if (ops.requestsRunning === 0) server.closeAllConnections();
  else server.closeIdleConnections();
  // Connections become idle as their last request ends; close them as they do.
  // With no request running at all, nothing is worth waiting for (even a
  // connection still sending its first request's headers).
  const idle = setInterval(() => {
    if (ops.requestsRunning === 0) server.closeAllConnections();
    else server.closeIdleConnections();
  }, 50);
  const inTime = await Promise.race([drained.then(() => true), sleep(timeoutMs).then(() => false)]);
  clearInterval(idle);
  if (!inTime) {
    logger.warn("shutdown timeout reached: closing connections with requests still running", { timeoutMs });
    server.closeAllConnections();
  }
  // Let the handlers finish their cleanup (a cut upload removes its temp file) and log their line.
  await ops.settled(SHUTDOWN_GRACE_MS);
  await control.close();
  const auth = accounts.auth;
  const names = [...new Set([...auth.userNames(), ...auth.externalUserNames()])];
  await Promise.race([
    Promise.all(names.map((name) => users.get(name).lock.run(() => {
        users.get(name).closeCollection();
        mediaConnections.close(users.get(name).dir);
      }))),
    sleep(SHUTDOWN_GRACE_MS),
  ]);
  users.closeAll();
  mediaConnections.closeAll();
  await workers.close();
  serverDb.close();
}
