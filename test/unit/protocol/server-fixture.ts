// The one place where the protocol tests touch the server's internals: how it
// is started, where it keeps a user's files, and how the idle sweep's clock is
// driven. Everything else in test/unit/protocol/ speaks plain HTTP to the port
// this returns, so a reshuffle of src/ means adapting this file only.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vi } from "vitest";
import { startServer } from "../../../src/app.js";
import { loadConfig } from "../../../src/config.js";
import { COLLECTION_FILE, MEDIA_FOLDER, userDir } from "../../../src/data-folder.js";
import { setLogLevel } from "../../../src/log.js";

/** How long a normal sync may sit without a request before the server rolls it back. */
export const SESSION_IDLE_MS = 30 * 60_000;

export interface TestServer {
  url: string;
  /** The stored collection of a user, as the server keeps it on disk. */
  collectionPath(user: string): string;
  /** The folder a user's media files are kept in. */
  mediaFolder(user: string): string;
  /**
   * Moves the server's clock forward (only with `controlledClock`): timers due
   * in that span fire, and the promises they start settle before this returns.
   */
  advanceClock(ms: number): Promise<void>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** `name:password` pairs, as SYNC_USER1, SYNC_USER2, ... would give them. */
  users: string[];
  /**
   * Fake the timers the idle sweep uses (its interval and Date), so a test can
   * jump half an hour ahead. The clock still runs with real time in between,
   * so request handling is unaffected. Call close() before the next test.
   */
  controlledClock?: boolean;
}

export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  setLogLevel("error");
  const base = mkdtempSync(join(tmpdir(), "anki-sync-protocol-"));
  const env: Record<string, string> = {};
  options.users.forEach((pair, i) => (env[`SYNC_USER${i + 1}`] = pair));
  // The sweep's setInterval is created in startServer, so the fake clock must be installed first.
  if (options.controlledClock) vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"], shouldAdvanceTime: true });
  const config = loadConfig({ host: "127.0.0.1", port: "0", base }, env);
  const running = await startServer(config);
  return {
    url: `http://127.0.0.1:${running.port}`,
    collectionPath: (user) => join(userDir(base, user), COLLECTION_FILE),
    mediaFolder: (user) => join(userDir(base, user), MEDIA_FOLDER),
    async advanceClock(ms) {
      if (!options.controlledClock) throw new Error("advanceClock needs controlledClock: true");
      await vi.advanceTimersByTimeAsync(ms);
    },
    async close() {
      try {
        await running.close();
      } finally {
        if (options.controlledClock) vi.useRealTimers();
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
}
