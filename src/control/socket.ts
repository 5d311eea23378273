// The control socket: how the maintenance commands (backup, restore,
// reset-user), which run as separate processes, coordinate with a running
// server over the same data folder.
//
// The server listens on <base>/.anki-sync-server.sock, a Unix socket. Its
// permissions are those of the data folder (0700, the service user), so no
// token is needed and nothing is exposed on the network. A command connects
// and asks the server to *hold* a user:
//
//   read       the server takes the user's lock (waiting for the sync step in
//              progress), so no step changes the user's files until the
//              command releases it; the user's requests queue meanwhile.
//              Backups use this for a consistent collection/media.db/media
//              state; it also keeps a full upload from replacing the
//              collection file under the backup's SQLite connection.
//   exclusive  new requests for the user are answered 503 at once, the lock
//              is taken, the open sync session is rolled back and the user's
//              files are closed. Restore and reset-user swap files then.
//
// A hold ends with `release` or when the connection closes (a command that
// crashes cannot leave a user blocked).
//
// When nothing answers on the socket, no server uses the folder. Restore and
// reset-user then listen on the socket themselves (role "maintenance") for
// their duration, so a server started meanwhile refuses to start rather than
// open half-swapped files; and a server refuses to start while another
// server answers on the socket of the same folder.
//
// Why not a lock file or an HTTP admin route: a lock file cannot make the
// server close its open SQLite connection (replacing a file under an open
// WAL connection corrupts it), and an HTTP route would need its own secret
// and port. The socket is found from --base alone, authenticated by the file
// system, and its liveness is exactly "a process is serving this folder".
//
// Protocol: newline-delimited JSON, one request then one response, in order.
//   {"op":"ping"}                                   -> {"ok":true,"role":"server"|"maintenance","pid":N}
//   {"op":"hold","user":U,"mode":"read"|"exclusive","timeoutMs":N} -> {"ok":true} | {"ok":false,"error":...}
//   {"op":"release","user":U}                       -> {"ok":true}
import { chmodSync, closeSync, existsSync, openSync, rmSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { join } from "node:path";
import { CONTROL_SOCKET_FILE } from "../data-folder.js";
import { logger } from "../log.js";
import { OperatorError } from "../errors.js";


export type ControlRole = "server" | "maintenance";
export type HoldMode = "read" | "exclusive";

export class ControlError extends OperatorError {}

/** Another process already serves or maintains this data folder. */
export class FolderBusyError extends ControlError {
  constructor(
    readonly role: ControlRole,
    readonly pid: number,
    base: string,
  ) {
    super(
      role === "server"
        ? `an anki-sync-server (pid ${pid}) is already serving ${base}`
        : `a maintenance command (restore or reset-user, pid ${pid}) is working on ${base}`,
    );
  }
}

export const controlSocketPath = (base: string) => join(base, CONTROL_SOCKET_FILE);

/** Unix socket paths are limited to 107 bytes; longer ones go through /proc/self/fd (Linux). */
const MAX_SOCKET_PATH = 100;

interface Addressed {
  path: string;
  dispose(): void;
}

function socketAddress(base: string): Addressed {
  const full = controlSocketPath(base);
  if (Buffer.byteLength(full) <= MAX_SOCKET_PATH || process.platform !== "linux") return { path: full, dispose: () => {} };
  const fd = openSync(base, "r");
  return { path: `/proc/self/fd/${fd}/${CONTROL_SOCKET_FILE}`, dispose: () => closeSync(fd) };
}

// -- client --------------------------------------------------------------

interface Reply {
  ok: boolean;
  error?: string;
  role?: ControlRole;
  pid?: number;
}

export class ControlClient {
  private buffer = "";
  private waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private closedError: Error | undefined;
  private peerRole: ControlRole = "server";
  private peerPid = 0;

  private constructor(private readonly socket: Socket) {}

  /** Who answered: a server, or another maintenance command. */
  get role(): ControlRole {
    return this.peerRole;
  }

  get pid(): number {
    return this.peerPid;
  }

  /**
   * Connects to whoever listens on the folder's control socket, or returns
   * undefined when nobody does (no socket, or a stale one left by a crash).
   */
  static async connect(base: string, timeoutMs = 5000): Promise<ControlClient | undefined> {
    if (!existsSync(controlSocketPath(base))) return undefined;
    const address = socketAddress(base);
    let socket: Socket;
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect(address.path);
        const timer = setTimeout(() => {
          s.destroy();
          reject(new ControlError(`the control socket ${controlSocketPath(base)} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        s.once("connect", () => {
          clearTimeout(timer);
          resolve(s);
        });
        s.once("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ECONNREFUSED" || code === "ENOENT") return undefined;
      if (code === "EACCES" || code === "EPERM") {
        throw new ControlError(`no permission to use ${controlSocketPath(base)}: run this as the server's user or as root`);
      }
      throw err;
    } finally {
      address.dispose();
    }
    const client = new ControlClient(socket).listen();
    try {
      const hello = await client.request({ op: "ping" }, timeoutMs);
      client.peerRole = hello.role ?? "server";
      client.peerPid = hello.pid ?? 0;
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  private listen(): this {
    this.socket.setEncoding("utf8");
    this.socket.on("data", this.onData);
    this.socket.on("close", this.onClose);
    this.socket.on("error", () => {});
    return this;
  }

  private readonly onData = (chunk: string) => {
    this.buffer += chunk;
    let nl;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const waiter = this.waiters.shift();
      if (!waiter) continue;
      try {
        waiter.resolve(JSON.parse(line) as Reply);
      } catch {
        waiter.reject(new ControlError(`malformed control reply: ${line.slice(0, 200)}`));
      }
    }
  };

  private readonly onClose = () => {
    this.closedError = new ControlError("the server closed the control connection");
    for (const w of this.waiters.splice(0)) w.reject(this.closedError);
  };

  /** True while the connection is open (a hold lasts only as long as the connection). */
  get connected(): boolean {
    return this.closedError === undefined && !this.socket.destroyed;
  }

  private request(message: Record<string, unknown>, timeoutMs: number): Promise<Reply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ControlError(`no answer to ${String(message.op)} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.write(JSON.stringify(message) + "\n");
    });
  }

  /** Holds `user` (see the top of this file); resolves once the server holds it. */
  async hold(user: string, mode: HoldMode, timeoutMs: number): Promise<void> {
    const reply = await this.request({ op: "hold", user, mode, timeoutMs }, timeoutMs + 5000);
    if (!reply.ok) throw new ControlError(reply.error ?? "the server refused the hold");
  }

  async release(user: string): Promise<void> {
    const reply = await this.request({ op: "release", user }, 10_000);
    if (!reply.ok) throw new ControlError(reply.error ?? "the server refused the release");
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

// -- listener ------------------------------------------------------------

/** What the server does for a hold; the listener itself only keeps the bookkeeping. */
export interface HoldTarget {
  /** Runs `task` under the user's lock (the same lock sync requests take). */
  runLocked(user: string, task: () => Promise<void>): Promise<void>;
  /** With the lock held: roll back the user's open sync and close the user's files. */
  closeUserFiles(user: string): void;
}

interface Hold {
  user: string;
  mode: HoldMode;
  release: () => void;
}

export class ControlListener {
  /** Users with an exclusive hold: their requests are answered 503. */
  private readonly blocked = new Map<string, number>();
  private readonly connections = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly socketFile: string,
    readonly role: ControlRole,
    private readonly target: HoldTarget | undefined,
  ) {}

  /**
   * Listens on the folder's control socket. Throws FolderBusyError when
   * another live process listens there; removes a stale socket file.
   */
  static async start(base: string, role: ControlRole, target?: HoldTarget): Promise<ControlListener> {
    const socketFile = controlSocketPath(base);
    const existing = await ControlClient.connect(base).catch(() => undefined);
    if (existing) {
      existing.close();
      throw new FolderBusyError(existing.role, existing.pid, base);
    }
    rmSync(socketFile, { force: true });
    const address = socketAddress(base);
    let listener: ControlListener | undefined;
    const server = createServer((socket) => listener?.accept(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(address.path, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new ControlError(`another process just started listening on ${socketFile}`);
      }
      throw err;
    } finally {
      address.dispose();
    }
    // The data folder is normally 0700 already; the socket is the service user's alone either way.
    chmodSync(socketFile, 0o600);
    listener = new ControlListener(server, socketFile, role, target);
    return listener;
  }

  /** True when requests for `user` must be refused (an exclusive hold is pending or active). */
  isBlocked(user: string): boolean {
    return (this.blocked.get(user) ?? 0) > 0;
  }

  private accept(socket: Socket): void {
    this.connections.add(socket);
    const holds = new Map<string, Hold>();
    let buffer = "";
    let queue = Promise.resolve();
    socket.setEncoding("utf8");
    const send = (reply: Reply) => {
      if (!socket.destroyed) socket.write(JSON.stringify(reply) + "\n");
    };
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 64 * 1024) {
        socket.destroy();
        return;
      }
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        queue = queue.then(() => this.handle(line, holds, socket).then(send, (err: unknown) => send({ ok: false, error: (err as Error).message })));
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.connections.delete(socket);
      for (const hold of holds.values()) hold.release();
      holds.clear();
    });
  }

  private async handle(line: string, holds: Map<string, Hold>, socket: Socket): Promise<Reply> {
    let message: { op?: unknown; user?: unknown; mode?: unknown; timeoutMs?: unknown };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return { ok: false, error: "request is not JSON" };
    }
    if (message.op === "ping") return { ok: true, role: this.role, pid: process.pid };
    if (this.role !== "server" || !this.target) {
      return { ok: false, error: `this process (pid ${process.pid}) is a maintenance command, not a server` };
    }
    if (typeof message.user !== "string" || message.user === "") return { ok: false, error: "user missing" };
    const user = message.user;
    if (message.op === "release") {
      holds.get(user)?.release();
      holds.delete(user);
      return { ok: true };
    }
    if (message.op !== "hold") return { ok: false, error: `unknown op ${String(message.op)}` };
    if (holds.has(user)) return { ok: false, error: `user ${user} is already held by this connection` };
    const mode: HoldMode = message.mode === "exclusive" ? "exclusive" : "read";
    const timeoutMs = typeof message.timeoutMs === "number" && message.timeoutMs > 0 ? message.timeoutMs : 60_000;
    return this.hold(user, mode, timeoutMs, holds, socket);
  }

  private hold(user: string, mode: HoldMode, timeoutMs: number, holds: Map<string, Hold>, socket: Socket): Promise<Reply> {
    const target = this.target!;
    if (mode === "exclusive") this.blocked.set(user, (this.blocked.get(user) ?? 0) + 1);
    let unblocked = false;
    const unblock = () => {
      if (mode !== "exclusive" || unblocked) return;
      unblocked = true;
      const n = (this.blocked.get(user) ?? 1) - 1;
      if (n <= 0) this.blocked.delete(user);
      else this.blocked.set(user, n);
    };
    return new Promise<Reply>((resolve) => {
      let state: "waiting" | "held" | "abandoned" = "waiting";
      let releaseLock!: () => void;
      const released = new Promise<void>((r) => (releaseLock = r));
      const timer = setTimeout(() => {
        if (state !== "waiting") return;
        state = "abandoned";
        unblock();
        if (holds.get(user) === hold) holds.delete(user);
        resolve({ ok: false, error: `user ${user} stayed busy for ${timeoutMs} ms` });
      }, timeoutMs);
      const hold: Hold = {
        user,
        mode,
        release: () => {
          if (state === "waiting") {
            state = "abandoned";
            resolve({ ok: false, error: "released before it was held" });
          }
          clearTimeout(timer);
          unblock();
          releaseLock();
        },
      };
      holds.set(user, hold);
      target
        .runLocked(user, async () => {
          if (state !== "waiting" || socket.destroyed) return;
          if (mode === "exclusive") target.closeUserFiles(user);
          state = "held";
          clearTimeout(timer);
          // Backups hold every user every night: only restores and resets are worth an info line.
          logger[mode === "exclusive" ? "info" : "debug"]("user held by maintenance command", { user, mode });
          resolve({ ok: true });
          await released;
          logger[mode === "exclusive" ? "info" : "debug"]("user released by maintenance command", { user, mode });
        })
        .catch((err: unknown) => {
          resolve({ ok: false, error: (err as Error).message });
          hold.release();
          holds.delete(user);
        });
    });
  }

  /** Stops listening and drops every connection (their holds end). */
  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // net.Server removes its socket file on close; a /proc/self/fd path may not have been.
    rmSync(this.socketFile, { force: true });
  }
}
