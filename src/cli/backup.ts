// `anki-sync-server backup`: a dated, verified snapshot of the data folder
// (see src/backup/snapshot.ts), safe while the server runs.
import { resolve } from "node:path";
import type { Command } from "commander";
import { commandAction } from "./action.js";
import { TerminalProgress } from "../backup/progress.js";
import { takeBackup } from "../backup/snapshot.js";
import { resolveBase } from "../config.js";
import { logger } from "../log.js";

export function parseCount(value: string, what: string): number {
  if (!/^\d+$/.test(value.trim())) throw new Error(`${what} must be a whole number, got "${value}"`);
  return Number(value);
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];

interface BackupFlags {
  base?: string;
  to: string;
  user?: string[];
  keepDaily?: string;
  keepWeekly?: string;
  holdTimeout?: string;
}

export function registerBackup(program: Command): void {
  program
    .command("backup")
    .description("take a snapshot of every user's collection and media (safe while the server runs)")
    .requiredOption("--to <dir>", "backup folder; each run adds a dated snapshot folder to it")
    .option("--base <dir>", "data folder (env SYNC_BASE, default ./data)")
    .option("--user <name>", "only this user; repeatable (keep such snapshots in their own --to folder)", collect)
    .option("--keep-daily <n>", "keep the newest snapshot of each of the last N days that have one")
    .option("--keep-weekly <n>", "keep the newest snapshot of each of the last N ISO weeks that have one")
    .option("--hold-timeout <seconds>", "how long to wait for a busy user on a running server", "120")
    .action(commandAction({ refused: "backup refused", failed: "backup failed" }, async (flags: BackupFlags) => {
      const progress = new TerminalProgress();
      try {
        const result = await takeBackup({
          base: resolveBase(flags.base),
          to: resolve(flags.to),
          users: flags.user,
          keepDaily: flags.keepDaily === undefined ? undefined : parseCount(flags.keepDaily, "--keep-daily"),
          keepWeekly: flags.keepWeekly === undefined ? undefined : parseCount(flags.keepWeekly, "--keep-weekly"),
          holdTimeoutMs: parseCount(flags.holdTimeout ?? "120", "--hold-timeout") * 1000,
          progress,
        });
        progress.clear();
        const m = result.manifest;
        const fields = {
          snapshot: result.path,
          users: m.totals.users,
          bytes: m.totals.bytes,
          written: m.totals.bytesCopied,
          mediaCopied: m.totals.mediaCopied,
          mediaLinked: m.totals.mediaLinked,
          removed: result.removed.length,
          seconds: Math.round(m.durationMs / 100) / 10,
          serverRunning: m.source.serverRunning,
        };
        if (result.failedUsers.length > 0) {
          logger.error("backup incomplete: snapshot kept, nothing rotated", { ...fields, failed: result.failedUsers.join(",") });
          process.exitCode = 1;
        } else {
          logger.info("backup complete", fields);
        }
      } finally {
        progress.clear();
      }
    }));
}
