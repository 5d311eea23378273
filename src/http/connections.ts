// Connection-level limits against slow and greedy clients: a cap on open
// connections per client address, and a minimum body rate (a request whose
// body arrives slower than `minBytesPerSecond`, measured over each window, is
// answered 408 and its connection closed). The header and idle keep-alive
// timeouts are node:http's own (set in server.ts).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { logger } from "../log.js";

export interface ConnectionLimits {
  /** Time for a request's headers to arrive. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** A body slower than this (bytes per second, averaged over the window) is cut; 0 = never. */
  bodyMinBytesPerSecond: number;
  bodyRateWindowMs: number;
  /** Open connections per client address (socket peer); 0 = no cap. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 20_000,
  keepAliveTimeoutMs: 65_000,
  bodyMinBytesPerSecond: 1024,
  bodyRateWindowMs: 60_000,
  maxConnectionsPerAddress: 32,
};

interface BodyWatch {
  req: IncomingMessage;
  res: ServerResponse;
  socket: Socket;
  windowStart: number;
  bytesAtWindowStart: number;
  onCut: (reason: string) => void;
}

export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();
  private readonly watched = new Set<BodyWatch>();
  private timer: NodeJS.Timeout | undefined;
  /** Connections refused by the per-address cap (for tests and logs). */
  refused = 0;

  constructor(
    readonly limits: ConnectionLimits,
    /** Peers exempt from the cap (trusted reverse proxies carry many clients). */
    private readonly exempt: (address: string) => boolean = () => false,
  ) {}

  attach(server: Server): void {
    server.headersTimeout = this.limits.headersTimeoutMs;
    // node checks headersTimeout only every connectionsCheckingInterval (default 30 s).
    (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(30_000, Math.max(250, this.limits.headersTimeoutMs / 4));
    server.keepAliveTimeout = this.limits.keepAliveTimeoutMs;
    server.on("connection", (socket: Socket) => this.admit(socket));
    server.on("close", () => this.stop());
  }

  private admit(socket: Socket): void {
    const cap = this.limits.maxConnectionsPerAddress;
    const address = socket.remoteAddress ?? "";
    if (cap <= 0 || this.exempt(address)) return;
    const open = (this.perAddress.get(address) ?? 0) + 1;
    if (open > cap) {
      this.refused++;
      // Log the first refusal of a burst only: a flood must not flood the log too.
      if (this.refused % 100 === 1) logger.warn("connection refused: too many open connections from one address", { address, limit: cap });
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open);
    socket.once("close", () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  /** Watches a request's body until it is complete; `onCut` runs (once) before the connection is closed for slowness. */
  watchBody(req: IncomingMessage, res: ServerResponse, onCut: (reason: string) => void): void {
    if (this.limits.bodyMinBytesPerSecond <= 0 || req.complete) return;
    const watch: BodyWatch = { req, res, socket: req.socket, windowStart: Date.now(), bytesAtWindowStart: req.socket.bytesRead, onCut };
    this.watched.add(watch);
    const done = () => this.watched.delete(watch);
    req.once("end", done);
    req.once("close", done);
    res.once("close", done);
    this.timer ??= setInterval(() => this.checkRates(), Math.min(1000, this.limits.bodyRateWindowMs / 4));
    this.timer.unref();
  }

  private checkRates(): void {
    const now = Date.now();
    const window = this.limits.bodyRateWindowMs;
    for (const watch of this.watched) {
      if (watch.req.complete || watch.socket.destroyed) {
        this.watched.delete(watch);
        continue;
      }
      const elapsed = now - watch.windowStart;
      if (elapsed < window) continue;
      const received = watch.socket.bytesRead - watch.bytesAtWindowStart;
      const needed = (this.limits.bodyMinBytesPerSecond * elapsed) / 1000;
      if (received >= needed) {
        watch.windowStart = now;
        watch.bytesAtWindowStart = watch.socket.bytesRead;
        continue;
      }
      this.watched.delete(watch);
      const reason = `request body too slow: ${received} bytes in ${Math.round(elapsed / 1000)} s (minimum ${this.limits.bodyMinBytesPerSecond} bytes/s)`;
      watch.onCut(reason);
      if (!watch.res.headersSent) {
        watch.res.writeHead(408, { connection: "close", "content-type": "text/plain; charset=utf-8", "content-length": "3" });
        watch.res.end("408");
      }
      // The reply is flushed first; then the connection goes, whatever the client still sends.
      const socket = watch.socket;
      setTimeout(() => socket.destroy(), 200).unref();
    }
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }
}
