#!/usr/bin/env node
// The anki-sync-server command line.
import { Command } from "commander";
import { SERVER_NAME, VERSION } from "../ops/version.js";
import { enterStartUpMode } from "../v8-start-up.js";

type Register = (program: Command) => void;

/**
 * Every command's module, loaded only when it may run: `serve` alone (the
 * default command) does not load the backup, restore and user-store code,
 * which a running server would otherwise keep in memory for nothing. Help, or
 * any argument naming another command, loads them all.
 */
const OTHER_COMMANDS: Record<string, () => Promise<Register>> = {
  backup: async () => (await import("./backup.js")).registerBackup,
  restore: async () => (await import("./restore.js")).registerRestore,
  "reset-user": async () => (await import("./reset-user.js")).registerResetUser,
  healthcheck: async () => (await import("./healthcheck.js")).registerHealthcheck,
  user: async () => (await import("./user.js")).registerUser,
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const serveOnly = !args.some((a) => Object.hasOwn(OTHER_COMMANDS, a) || a === "help" || a === "-h" || a === "--help");
  // Start-up code runs once (src/v8-start-up.ts); serve leaves this mode once it listens.
  if (serveOnly) enterStartUpMode();
  const program = new Command();
  program.name("anki-sync-server").description("Self-hosted Anki sync server").version(`${SERVER_NAME} ${VERSION}`, "-V, --version", "print the version and exit");
  (await import("./serve.js")).registerServe(program);
  if (!serveOnly) for (const load of Object.values(OTHER_COMMANDS)) (await load())(program);
  await program.parseAsync(process.argv);
}

main().catch((err: unknown) => {
  process.stderr.write(`error ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
