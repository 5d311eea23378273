// `anki-sync-server restore`: puts users' data back from a snapshot (see
// src/backup/restore.ts for what it does to the clients' next sync).
import { resolve } from "node:path";
import type { Command } from "commander";
import { commandAction } from "./action.js";
import { TerminalProgress } from "../backup/progress.js";
import { restoreSnapshot } from "../backup/restore.js";
import { verifySnapshot } from "../backup/verify.js";
import { logger } from "../log.js";
import { resolveBase } from "../config.js";
import { collect, parseCount } from "./backup.js";

interface RestoreFlags {
  from: string;
  base?: string;
  user?: string[];
  check?: boolean;
  holdTimeout?: string;
}

export function registerRestore(program: Command): void {
  program
    .command("restore")
    .description("restore users from a snapshot taken by `backup` (coordinates with a running server)")
    .requiredOption("--from <snapshot>", "the snapshot folder (the one holding manifest.json)")
    .option("--base <dir>", "data folder (env SYNC_BASE, default ./data)")
    .option("--user <name>", "only this user; repeatable (default: every user in the snapshot)", collect)
    .option("--check", "only verify the snapshot (checksums, integrity, media); change nothing")
    .option("--hold-timeout <seconds>", "how long to wait for a busy user on a running server", "120")
    .action(commandAction({ refused: "restore refused", failed: "restore failed" }, async (flags: RestoreFlags) => {
      const progress = new TerminalProgress();
      const from = resolve(flags.from);
      try {
        if (flags.check) {
          const report = await verifySnapshot(from, { users: flags.user, progress });
          progress.clear();
          for (const w of report.warnings) logger.warn(w);
          if (report.problems.length > 0) {
            for (const p of report.problems) logger.error(p);
            logger.error("snapshot verification failed", { snapshot: from, problems: report.problems.length });
            process.exitCode = 1;
          } else {
            logger.info("snapshot verified", { snapshot: from, users: report.users.length });
          }
          return;
        }
        const result = await restoreSnapshot({
          base: resolveBase(flags.base),
          from,
          users: flags.user,
          holdTimeoutMs: parseCount(flags.holdTimeout ?? "120", "--hold-timeout") * 1000,
          progress,
        });
        progress.clear();
        for (const w of result.warnings) logger.warn(w);
        logger.info("restore complete", {
          snapshot: from,
          users: result.users.map((u) => u.name).join(","),
          serverRunning: result.serverRunning,
        });
        process.stdout.write(
          "Every device of the restored user(s) will be asked for a full sync on its next sync.\n" +
            "To take the restored data, choose Download on that device; Upload would replace the restored\n" +
            "collection with the device's. Media resynchronizes by itself (devices may report that a media\n" +
            "resync is required once, then upload files the restored state lacks).\n",
        );
      } finally {
        progress.clear();
      }
    }));
}
