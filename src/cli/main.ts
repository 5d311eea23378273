#!/usr/bin/env node
// The anki-sync-server command line.
import { Command } from "commander";
import { registerBackup } from "./backup.js";
import { registerHealthcheck } from "./healthcheck.js";
import { registerResetUser } from "./reset-user.js";
import { registerRestore } from "./restore.js";
import { registerServe } from "./serve.js";
import { registerUser } from "./user.js";
import { SERVER_NAME, VERSION } from "../ops/version.js";

const program = new Command();
program.name("anki-sync-server").description("Self-hosted Anki sync server").version(`${SERVER_NAME} ${VERSION}`, "-V, --version", "print the version and exit");
registerServe(program);
registerBackup(program);
registerRestore(program);
registerResetUser(program);
registerHealthcheck(program);
registerUser(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
