// Wires configuration, storage, authentication and routes into a running server.
import type { Server } from "node:http";
import { Authenticator } from "./auth/authenticator.js";
import { HostKeyStore } from "./auth/hostkeys.js";
import { openServerDb } from "./auth/server-db.js";
import type { Config } from "./config.js";
import { collectionRoutes } from "./http/routes.js";
import { createSyncServer } from "./http/server.js";
import { logger } from "./log.js";
import { UserRegistry } from "./sync/user.js";

/** A normal sync with no request for this long is rolled back. */
const SESSION_IDLE_MS = 30 * 60_000;

export interface RunningServer {
  server: Server;
  /** The port actually bound (differs from the config when it asked for 0). */
  port: number;
  close(): Promise<void>;
}

export class NoUsersError extends Error {
  constructor() {
    super(
      "No users defined. Add one with the environment variable SYNC_USER1=name:password " +
        "(SYNC_USER2, ... for more; PASSWORDS_HASHED=1 to give PHC hashes instead of passwords).",
    );
  }
}

export async function startServer(config: Config): Promise<RunningServer> {
  if (config.users.length === 0) throw new NoUsersError();
  const serverDb = openServerDb(config.base);
  const auth = new Authenticator(config.users, new HostKeyStore(serverDb));
  const users = new UserRegistry(config.base);
  for (const name of auth.userNames()) users.get(name).ensureFolders();

  const server = createSyncServer({
    config,
    auth,
    users,
    routes: {
      sync: collectionRoutes({ config, mediaUsn: () => 0 }),
      msync: {},
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const sweep = setInterval(() => users.abortIdleSessions(SESSION_IDLE_MS), 60_000);
  sweep.unref();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info("listening", { host: config.host, port, base: config.base, users: auth.userNames().length });

  return {
    server,
    port,
    async close() {
      clearInterval(sweep);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      users.closeAll();
      serverDb.close();
    },
  };
}
