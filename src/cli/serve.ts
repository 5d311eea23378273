// `anki-sync-server serve`: run the server until SIGTERM/SIGINT.
import type { Command } from "commander";
import { ConfigError, DEFAULT_PORT, loadConfig, type ServeFlags } from "../config.js";
import { NoUsersError, startServer } from "../app.js";
import { StartupError } from "../auth/authenticator.js";
import { logger } from "../log.js";

export function registerServe(program: Command): void {
  program
    .command("serve", { isDefault: true })
    .description("run the sync server")
    .option("--host <ip>", "address to listen on (env SYNC_HOST, default 0.0.0.0)")
    .option("--port <port>", `port to listen on (env SYNC_PORT, default ${DEFAULT_PORT})`)
    .option("--base <dir>", "data folder (env SYNC_BASE, default ./data)")
    .option("--max-payload-megs <n>", "request size limit in MiB (env MAX_SYNC_PAYLOAD_MEGS, default 100)")
    .action(async (flags: ServeFlags) => {
      let running;
      try {
        running = await startServer(loadConfig(flags));
      } catch (err) {
        if (err instanceof ConfigError || err instanceof NoUsersError || err instanceof StartupError) {
          logger.error(err.message);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
      const stop = (signal: string) => {
        logger.info("stopping", { signal });
        running
          .close()
          .then(() => logger.info("stopped"))
          .catch((err: unknown) => logger.error("error while stopping", { reason: (err as Error).message }))
          .finally(() => process.exit(0));
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
    });
}
