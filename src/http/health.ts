// /health, /metrics and the admission gate: the server's operational side of
// the HTTP layer (src/http/server.ts calls in at three points: the two
// routes, admitting a request, and recording it when it ends).
//
// /health answers 200 when what a sync needs works, 503 otherwise:
//   data_folder  a file can be created and removed in the data folder
//   free_space   the data folder's file system has at least 16 MiB free
//   server_db    the server's own database (host keys, users) answers
//   collection   the SQLite collation extension loads, and a user's collection
//                (one per check, in turn) opens and reads
// Results are cached for two seconds (the route is unauthenticated). The
// reply body names the checks and "ok"/"fail" only; why one failed goes to the
// log (once per change), never to the client.
import { existsSync, readdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { openCollectionDb } from "../collection/open.js";
import { logger } from "../log.js";
import { HttpError } from "./errors.js";
import type { Metrics } from "./metrics.js";

const CACHE_MS = 2000;
export const MIN_FREE_BYTES = 16 * 1024 * 1024;
const HEALTH_FILE = ".anki-sync-server.health";

export type CheckName = "data_folder" | "free_space" | "server_db" | "collection";

export interface HealthResult {
  ok: boolean;
  checks: Record<CheckName, "ok" | "fail">;
  /** Why each failed check failed (for the log and the healthcheck command on the same host). */
  reasons: Partial<Record<CheckName, string>>;
}

export interface HealthDeps {
  base: string;
  /** Throws when the server database does not answer. */
  checkServerDb: () => void;
  /** Users whose files must not be opened now (a maintenance command holds them). */
  skipUser?: (name: string) => boolean;
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
      const path = join(this.deps.base, HEALTH_FILE);
      writeFileSync(path, String(now));
      rmSync(path);
    });
    attempt("free_space", () => {
      const st = statfsSync(this.deps.base);
      const free = Number(st.bavail) * Number(st.bsize);
      if (free < MIN_FREE_BYTES) throw new Error(`only ${free} bytes free in the data folder`);
    });
    attempt("server_db", () => this.deps.checkServerDb());
    attempt("collection", () => this.checkCollection());
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
      const path = join(this.deps.base, user, "collection.anki2");
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

/** Everything server.ts needs from the operations side. */
export class ServerOps {
  /** Set once shutdown begins: new requests get 503 with `connection: close`. */
  closing = false;
  /** Per connection: its byte counters when its previous request ended. */
  private readonly counted = new WeakMap<object, { read: number; written: number }>();
  /** Set by the control socket: users a restore or reset-user holds exclusively. */
  isBlocked: (user: string) => boolean = () => false;

  constructor(
    readonly health: HealthCheck,
    readonly metrics: Metrics,
    /** Route paths counted under their own label; anything else is "other". */
    private readonly knownRoutes: ReadonlySet<string>,
  ) {}

  /** Requests being answered now (/health and /metrics included). */
  get requestsRunning(): number {
    return this.metrics.inFlightRequests;
  }

  /** Resolves once no request is being answered (each one's cleanup and log line done), or after `maxMs`. */
  async settled(maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (this.requestsRunning > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** Throws 503 while shutting down, or when `user` is held by a maintenance command. */
  admit(user?: string): void {
    if (this.closing) throw new HttpError(503, "the server is shutting down");
    if (user !== undefined && this.isBlocked(user)) throw new HttpError(503, "user is being restored or reset; try again shortly");
  }

  /**
   * Call when a request arrives; call the returned function once it has been
   * answered. Bytes are counted on the connection since its previous request
   * ended (a small body arrives with the headers, before the request starts),
   * so they include the request's headers and the response's.
   */
  track(req: IncomingMessage, res: ServerResponse): (route: string, user: string | undefined) => void {
    const started = performance.now();
    const socket = req.socket;
    const before = this.counted.get(socket) ?? { read: 0, written: 0 };
    if (this.closing) res.setHeader("connection", "close");
    this.metrics.requestStarted();
    return (route, user) => {
      const now = { read: socket.bytesRead, written: socket.bytesWritten };
      this.counted.set(socket, now);
      const label = this.knownRoutes.has(route) ? route : "other";
      this.metrics.requestFinished({
        route: label,
        status: res.statusCode,
        seconds: (performance.now() - started) / 1000,
        bytesIn: Math.max(0, now.read - before.read),
        bytesOut: Math.max(0, now.written - before.written),
        user,
      });
    };
  }

  /** Answers GET/HEAD /health and /metrics. */
  serve(path: "/health" | "/metrics", req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, `${path} takes GET`);
    let status = 200;
    let body: string;
    let type: string;
    if (path === "/health") {
      const result = this.health.run();
      status = result.ok ? 200 : 503;
      body = JSON.stringify({ status: result.ok ? "ok" : "fail", checks: result.checks }) + "\n";
      type = "application/json";
    } else {
      body = this.metrics.render();
      type = "text/plain; version=0.0.4; charset=utf-8";
    }
    const data = Buffer.from(body, "utf8");
    res.writeHead(status, { "content-type": type, "content-length": String(data.length), "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : data);
  }
}
