// The server's operational side of the HTTP layer: /health, /metrics and the
// admission gate. src/http/server.ts calls in at three points: the two
// routes, admitting a request, and recording it when it ends.
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "../protocol/errors.js";
import type { HealthCheck } from "./health.js";
import type { Metrics } from "./metrics.js";
import type { SyncActivity } from "../ops/activity.js";
import { VERSION } from "../ops/version.js";
import { logger } from "../log.js";

/** Everything server.ts needs from the operations side. */
export class ServerOps {
  /** Set once shutdown begins: new requests get 503 with `connection: close`. */
  closing = false;
  /** Per connection: its byte counters when its previous request ended. */
  private readonly counted = new WeakMap<object, { read: number; written: number }>();
  /** Set by the control socket: users a restore or reset-user holds exclusively. */
  isBlocked: (user: string) => boolean = () => false;
  /** Where the outcome of each user's syncs is recorded, when set. */
  activity: SyncActivity | undefined;

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
  track(req: IncomingMessage, res: ServerResponse): (route: string, user: string | undefined, clientVersion?: string) => void {
    const started = performance.now();
    const socket = req.socket;
    const before = this.counted.get(socket) ?? { read: 0, written: 0 };
    if (this.closing) res.setHeader("connection", "close");
    this.metrics.requestStarted();
    return (route, user, clientVersion) => {
      if (user !== undefined) this.recordActivity(user, route, res.statusCode, clientVersion ?? "");
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

  /** Last sync per user and kind (src/ops/activity.ts); a failing write costs a log line, never the request. */
  private recordActivity(user: string, route: string, status: number, clientVersion: string): void {
    if (!this.activity) return;
    try {
      this.activity.record(user, route, status, clientVersion);
    } catch (err) {
      logger.warn("could not record sync activity", { user, reason: (err as Error).message });
    }
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
      body = JSON.stringify({ status: result.ok ? "ok" : "fail", version: VERSION, checks: result.checks }) + "\n";
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
