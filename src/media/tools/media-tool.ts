// Operator command line for a user's media store (run with the server
// stopped). Until it is wired into the main CLI:
//
//   node dist/media/tools/media-tool.js reconcile <SYNC_BASE> <user> [--dry-run] [--no-hash]
//
// Prints a JSON report on stdout. See ../reconcile.ts for what it does.
import { existsSync } from "node:fs";
import { userDir as userFolder } from "../../data-folder.js";
import { reconcileMedia } from "../reconcile.js";

function usage(): never {
  process.stderr.write("usage: media-tool reconcile <SYNC_BASE> <user> [--dry-run] [--no-hash]\n");
  process.exit(2);
}

function main(argv: string[]): void {
  const flags = new Set(argv.filter((a) => a.startsWith("--")));
  const [cmd, base, user, ...rest] = argv.filter((a) => !a.startsWith("--"));
  if (cmd !== "reconcile" || base === undefined || user === undefined || rest.length > 0) usage();
  for (const flag of flags) if (flag !== "--dry-run" && flag !== "--no-hash") usage();
  if (user.includes("/") || user === "." || user === "..") throw new Error(`bad user name ${JSON.stringify(user)}`);
  const userDir = userFolder(base, user);
  if (!existsSync(userDir)) throw new Error(`no such user folder: ${userDir}`);
  const report = reconcileMedia(userDir, { dryRun: flags.has("--dry-run"), verifyHashes: !flags.has("--no-hash") });
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
