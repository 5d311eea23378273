#!/usr/bin/env node
// The anki-sync-server command line.
import { Command } from "commander";
import { registerServe } from "./serve.js";

const program = new Command();
program.name("anki-sync-server").description("Self-hosted Anki sync server");
registerServe(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
