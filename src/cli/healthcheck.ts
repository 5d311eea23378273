// `anki-sync-server healthcheck`: exit 0 iff the server's GET /health answers
// 200 in time; for systemd timers, container HEALTHCHECKs and monitoring.
import { isIP } from "node:net";
import type { Command } from "commander";
import { commandAction } from "./action.js";
import { DEFAULT_PORT } from "../config.js";

interface HealthFlags {
  host?: string;
  port?: string;
  timeout?: string;
}

/** Where to reach a server that listens on `host`: the wildcard addresses mean "this machine". */
export function healthUrl(host: string, port: number): string {
  const target = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${isIP(target) === 6 ? `[${target}]` : target}:${port}/health`;
}

export function registerHealthcheck(program: Command): void {
  program
    .command("healthcheck")
    .description("check a running server: exit 0 if GET /health answers 200 within the timeout")
    .option("--host <ip>", "address the server listens on (env SYNC_HOST, default 127.0.0.1)")
    .option("--port <port>", `port (env SYNC_PORT, default ${DEFAULT_PORT})`)
    .option("--timeout <seconds>", "how long to wait for the answer", "5")
    .action(commandAction({}, async (flags: HealthFlags) => {
      const host = flags.host ?? process.env.SYNC_HOST ?? "127.0.0.1";
      const portText = flags.port ?? process.env.SYNC_PORT ?? String(DEFAULT_PORT);
      const port = Number(portText);
      const seconds = Number(flags.timeout ?? "5");
      if (isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535 || !(seconds > 0)) {
        process.stderr.write(`healthcheck: bad --host/--port/--timeout (${host} ${portText} ${flags.timeout ?? ""})\n`);
        process.exitCode = 2;
        return;
      }
      const url = healthUrl(host, port);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(seconds * 1000) });
        const body = (await res.text()).trim();
        if (res.status === 200) {
          process.stdout.write(`${url}: ${body || "ok"}\n`);
          return;
        }
        process.stderr.write(`${url}: HTTP ${res.status} ${body}\n`);
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        process.stderr.write(`${url}: ${e.name === "TimeoutError" ? `no answer within ${seconds} s` : (e.cause?.code ?? e.message)}\n`);
      }
      process.exitCode = 1;
    }));
}
