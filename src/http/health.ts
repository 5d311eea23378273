// /health answers 200 when what a sync needs works, 503 otherwise:
//   data_folder  a file can be created and removed in the data folder
//   free_space   the data folder's file system has more free space than the
//                upload reserve (--disk-reserve; 16 MiB when none is given)
//   server_db    the server's own database (host keys, users) answers
//   collection   the SQLite collation extension loads, and a user's collection
//                (one per check, in turn) opens and reads
//   backup       with --backup-dir only: the newest snapshot is younger than
//                --backup-max-age and copied every user
// Results are cached for two seconds (the route is unauthenticated). The
// reply body names the checks and "ok"/"fail" only; why one failed goes to the
// log (once per change), never to the client.
import { existsSync, readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openCollectionDb } from "../collection/open.js";
import { COLLECTION_FILE, HEALTH_PROBE_FILE, userDir } from "../data-folder.js";
import { logger } from "../log.js";

const CACHE_MS = 2000;
export const MIN_FREE_BYTES = 16 * 1024 * 1024;

export type CheckName = "data_folder" | "free_space" | "server_db" | "collection" | "backup";

export interface HealthResult {
  ok: boolean;
  /** "backup" only when a backup folder is configured. */
  checks: Record<Exclude<CheckName, "backup">, "ok" | "fail"> & Partial<Record<"backup", "ok" | "fail">>;
  /** Why each failed check failed (for the log and the healthcheck command on the same host). */
  reasons: Partial<Record<CheckName, string>>;
}

export interface HealthDeps {
  base: string;
  /** Throws when the server database does not answer. */
  checkServerDb: () => void;
  /** Users whose files must not be opened now (a maintenance command holds them). */
  skipUser?: (name: string) => boolean;
  /** With --backup-dir: the newest backup is fresh and complete (src/ops/backup-status.ts). */
  checkBackup?: () => void;
  /** The upload reserve: below it, uploads get 507, so /health fails free_space. */
  disk?: { reserveBytes(): number };
}

export class HealthCheck {
  private cached: { at: number; result: HealthResult } | undefined;
  private lastReported = "{}";
  private turn = 0;

  constructor(private readonly deps: HealthDeps) {}

  run(now = Date.now()): HealthResult {
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.result;
    const checks = {} as HealthResult["checks"];
    const reasons: HealthResult["reasons"] = {};
    const attempt = (name: CheckName, check: () => void) => {
      try {
        check();
        checks[name] = "ok";
      } catch (err) {
        checks[name] = "fail";
        reasons[name] = (err as Error).message;
      }
    };
    attempt("data_folder", () => {
      const path = join(this.deps.base, HEALTH_PROBE_FILE);
      writeFileSync(path, String(now));
      rmSync(path);
    });
    attempt("free_space", () => {
      const st = statfsSync(this.deps.base);
      const free = Number(st.bavail) * Number(st.bsize);
      const reserve = Math.max(MIN_FREE_BYTES, this.deps.disk?.reserveBytes() ?? 0);
      if (free < reserve) throw new Error(`disk full: only ${free} bytes free in the data folder, uploads keep ${reserve} in reserve`);
    });
    attempt("server_db", () => this.deps.checkServerDb());
    attempt("collection", () => this.checkCollection());
    if (this.deps.checkBackup) attempt("backup", this.deps.checkBackup);
    const result: HealthResult = { ok: Object.values(checks).every((c) => c === "ok"), checks, reasons };
    this.cached = { at: now, result };
    const summary = JSON.stringify(reasons);
    if (summary !== this.lastReported) {
      if (result.ok) logger.info("health: all checks pass again");
      else logger.error("health check failed", Object.fromEntries(Object.entries(reasons)));
      this.lastReported = summary;
    }
    return result;
  }

  private checkCollection(): void {
    const mem = openCollectionDb(":memory:");
    try {
      if (mem.prepare("SELECT 'Ä' = 'ä' COLLATE unicase").pluck().get() !== 1) throw new Error("the unicase collation does not fold case");
    } finally {
      mem.close();
    }
    let users: string[];
    try {
      users = readdirSync(this.deps.base, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith(".") && !this.deps.skipUser?.(e.name))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      throw new Error(`cannot list the data folder: ${(err as Error).message}`);
    }
    // One user per check, in turn, so a damaged collection is noticed without opening all of them every time.
    for (let i = 0; i < users.length; i++) {
      const user = users[(this.turn + i) % users.length]!;
      const path = join(userDir(this.deps.base, user), COLLECTION_FILE);
      if (!existsSync(path)) continue; // no collection yet
      let db;
      try {
        // Not read-only: a read-only connection to a WAL database leaves -wal/-shm files behind.
        db = openCollectionDb(path, { mustExist: true });
      } catch (err) {
        throw new Error(`collection of ${user}: ${(err as Error).message}`);
      }
      try {
        db.prepare("SELECT ver FROM col").get();
      } catch (err) {
        throw new Error(`collection of ${user}: ${(err as Error).message}`);
      } finally {
        db.close();
      }
      this.turn = (this.turn + i + 1) % users.length;
      return;
    }
  }
}
