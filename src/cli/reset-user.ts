// `anki-sync-server reset-user NAME`: empties a user's server data so their
// devices rebuild it (see src/backup/reset.ts and docs/operations.md for what
// each device's next sync does).
import type { Command } from "commander";
import { commandAction } from "./action.js";
import { resetUser } from "../backup/reset.js";
import { resolveBase } from "../config.js";
import { parseCount } from "./backup.js";

interface ResetFlags {
  base?: string;
  mediaOnly?: boolean;
  confirm?: boolean;
  holdTimeout?: string;
}

export function registerResetUser(program: Command): void {
  program
    .command("reset-user")
    .description("delete a user's server collection and media (or media only) so their devices upload theirs again")
    .argument("<name>", "the user")
    .option("--base <dir>", "data folder (env SYNC_BASE, default ./data)")
    .option("--media-only", "reset only the media (media.db and files); keep the collection")
    .option("--confirm", "really do it (without it, only says what would happen)")
    .option("--hold-timeout <seconds>", "how long to wait for a busy user on a running server", "120")
    .action(commandAction({ refused: "reset-user refused", failed: "reset-user failed" }, async (name: string, flags: ResetFlags) => {
      const base = resolveBase(flags.base);
      const what = flags.mediaOnly ? `the media (media.db and media files) of user ${name}` : `the collection and all media of user ${name}`;
      if (!flags.confirm) {
        process.stderr.write(
          `This deletes ${what} in ${base}.\n` +
            (flags.mediaOnly
              ? "Devices keep their files: each reports once that a media resync is required, then uploads its files again.\n"
              : "Each device with changes will then have to upload its collection (a full sync); the first upload becomes the server copy.\n") +
            "Take a backup first. Run again with --confirm to proceed.\n",
        );
        process.exitCode = 2;
        return;
      }
      await resetUser({ base, user: name, mediaOnly: flags.mediaOnly ?? false, holdTimeoutMs: parseCount(flags.holdTimeout ?? "120", "--hold-timeout") * 1000 });
    }));
}
