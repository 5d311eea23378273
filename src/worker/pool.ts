// Worker threads for heavy SQLite work, so that one user's long job (the
// integrity check of a 100 MB upload, ...) never holds up another user's
// requests on the event loop.
//
// Workers are keyed by user: a user's jobs go to the worker bound to them
// (jobs of one user are serialized by the user's lock anyway), different
// users get different workers, up to MAX_WORKERS at once; past that, a job
// waits for the first worker that frees up. A worker is started on first
// need and ends after IDLE_MS without work, so an idle server holds none.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { logger } from "../log.js";
import type { TaskArgs, TaskName, TaskResult } from "./tasks.js";

/** Workers alive at once (each is a V8 isolate: ~10 MB while it lives). */
export const MAX_WORKERS = 8;
/** A worker with no job for this long exits. */
const IDLE_MS = 30_000;

export interface TaskMessage {
  id: number;
  task: string;
  args: unknown[];
  /** Tests only: the worker reports `started` and waits until gate[0] != 0. */
  gate?: SharedArrayBuffer;
}

export type TaskReply =
  | { id: number; started: true }
  | { id: number; result: unknown }
  | { id: number; error: { message: string; stack?: string } };

interface Job {
  id: number;
  user: string;
  message: TaskMessage;
  resolve(value: unknown): void;
  reject(err: Error): void;
  onStarted?: () => void;
}

/**
 * The compiled worker module beside this one. Run from the TypeScript sources
 * (the unit tests), that file does not exist and the built copy under dist/ is
 * used: build first.
 */
function entryUrl(): URL {
  const beside = new URL("./entry.js", import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL("../../dist/worker/entry.js", import.meta.url);
}

// node:worker_threads is loaded with the first worker, not at server start
// (about 0.8 MB an idle server does not need); require() keeps that synchronous.
let workerClass: typeof Worker | undefined;
const loadWorkerClass = (): typeof Worker =>
  (workerClass ??= (createRequire(import.meta.url)("node:worker_threads") as typeof import("node:worker_threads")).Worker);

class PoolWorker {
  readonly worker: Worker;
  user: string | undefined;
  job: Job | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: UserWorkers,
    url: URL,
  ) {
    // The jobs are SQLite work with little JS garbage: a 1 MB young
    // generation (V8's default is 16+ MB per isolate) saves ~2 MB of
    // resident memory per worker for a few more, small, scavenges.
    this.worker = new (loadWorkerClass())(url, { resourceLimits: { maxYoungGenerationSizeMb: 1 } });
    this.worker.unref();
    this.worker.on("message", (reply: TaskReply) => this.onReply(reply));
    this.worker.on("error", (err) => this.onExit(err));
    this.worker.on("exit", (code) => this.onExit(new Error(`worker exited with code ${code}`)));
  }

  start(job: Job): void {
    clearTimeout(this.idleTimer);
    this.user = job.user;
    this.job = job;
    this.worker.postMessage(job.message);
  }

  private onReply(reply: TaskReply): void {
    const job = this.job;
    if (!job || reply.id !== job.id) return;
    if ("started" in reply) {
      job.onStarted?.();
      return;
    }
    this.job = undefined;
    if ("error" in reply) {
      const err = new Error(reply.error.message);
      if (reply.error.stack) err.stack = reply.error.stack;
      job.reject(err);
    } else {
      job.resolve(reply.result);
    }
    this.idleTimer = setTimeout(() => void this.worker.terminate(), IDLE_MS);
    this.idleTimer.unref();
    this.pool.freed(this);
  }

  private exited = false;

  private onExit(err: Error): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.idleTimer);
    const job = this.job;
    this.job = undefined;
    if (job) {
      logger.error("worker thread failed during a job", { user: job.user, task: job.message.task, reason: err.message });
      job.reject(err);
    }
    this.pool.gone(this);
  }
}

export class UserWorkers {
  private readonly workers: PoolWorker[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private gates = new Map<string, { gate: SharedArrayBuffer; onStarted: () => void }>();

  constructor(private readonly maxWorkers = MAX_WORKERS) {}

  /** Runs `task` for `user` in a worker thread; rejects if the task throws or the worker dies. */
  run<N extends TaskName>(user: string, task: N, ...args: TaskArgs<N>): Promise<TaskResult<N>> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const gate = this.gates.get(task);
      if (gate) this.gates.delete(task);
      const job: Job = {
        id,
        user,
        message: { id, task, args, gate: gate?.gate },
        resolve: resolve as (value: unknown) => void,
        reject,
        onStarted: gate?.onStarted,
      };
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Workers alive now. */
  get size(): number {
    return this.workers.length;
  }

  private dispatch(): void {
    for (let i = 0; i < this.queue.length; ) {
      const job = this.queue[i]!;
      const worker = this.pick(job.user);
      if (!worker) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      worker.start(job);
    }
  }

  /** The user's own idle worker, else any idle one, else a new one while under the cap. */
  private pick(user: string): PoolWorker | undefined {
    const idle = this.workers.filter((w) => !w.job);
    const worker = idle.find((w) => w.user === user) ?? idle.find((w) => w.user === undefined) ?? idle[0];
    if (worker) return worker;
    if (this.workers.length >= this.maxWorkers) return undefined;
    const created = new PoolWorker(this, entryUrl());
    this.workers.push(created);
    return created;
  }

  freed(_worker: PoolWorker): void {
    this.dispatch();
  }

  gone(worker: PoolWorker): void {
    const at = this.workers.indexOf(worker);
    if (at >= 0) this.workers.splice(at, 1);
    this.dispatch();
  }

  /** Ends every worker (shutdown); jobs still running are rejected. */
  async close(): Promise<void> {
    const all = this.workers.splice(0);
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  /**
   * Tests only: the next `task` job waits in its worker, after `started`
   * resolves, until `release()` is called.
   */
  holdNextForTests(task: TaskName): { started: Promise<void>; release(): void } {
    const gate = new SharedArrayBuffer(4);
    let onStarted!: () => void;
    const started = new Promise<void>((resolve) => (onStarted = resolve));
    this.gates.set(task, { gate, onStarted });
    return {
      started,
      release: () => {
        const flag = new Int32Array(gate);
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
      },
    };
  }
}

/** The server's pool (one per process). */
export const workers = new UserWorkers();
