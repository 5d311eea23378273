// Small command-line entry point used by the interop tests (run as
// `node dist/collection/tools/collection-tool.js <command> …` after
// `npx tsc -p tsconfig.json`). Output goes to stdout as JSON.
//
//   create <path> [nowMs]   create an empty collection like the official server
import { createEmptyCollection } from "../create.js";

function usage(): never {
  process.stderr.write("usage: collection-tool create <path> [nowMs]\n");
  process.exit(2);
}

function main(argv: string[]): void {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "create": {
      const [path, nowMs] = args;
      if (path === undefined) usage();
      createEmptyCollection(path, nowMs === undefined ? new Date() : new Date(Number(nowMs)));
      process.stdout.write(JSON.stringify({ ok: true, path }) + "\n");
      return;
    }
    default:
      usage();
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
