// Everything the server keeps for one user between requests: where the files
// are, the open collection connection, the normal sync in progress, and the
// lock that serializes the user's sync steps. The registry is the one place
// that knows every user the server has seen: what reports on users (metrics,
// an admin page) asks it, and what would give each user its own worker
// would start here.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type CollectionDb, openCollectionDb } from "../collection/open.js";
import { COLLECTION_FILE, MEDIA_FOLDER, userDir } from "../data-folder.js";
import { fsyncFile } from "../durable.js";
import { logger } from "../log.js";
import type { TaskArgs, TaskName, TaskResult } from "../worker/tasks.js";
import { workers } from "../worker/pool.js";
import { AsyncLock } from "./lock.js";
import type { SyncSession } from "./session.js";

/** Told about session events, e.g. by metrics; set on the registry. */
export interface SessionObserver {
  /** A normal sync's changes were committed (`finish`). */
  sessionCommitted?(user: string, session: SyncSession): void;
}

// Creating a collection needs the stock notetypes and the protobuf codecs: a
// few MB an idle server does not keep. The sync routes load it before their
// first step (http/routes.ts); collection() is synchronous, so it can only use
// what is already loaded.
let createEmptyCollection: ((path: string) => void) | undefined;

/** Loads the code that creates a brand-new collection; call before the first collection(). */
export async function loadCollectionCreator(): Promise<void> {
  createEmptyCollection ??= (await import("../collection/create.js")).createEmptyCollection;
}

export class UserState {
  readonly dir: string;
  readonly collectionPath: string;
  readonly lock = new AsyncLock();
  private db: CollectionDb | undefined;
  /** The normal sync in progress, if any: its changes are an open transaction on `db`. */
  private activeSession: SyncSession | undefined;

  constructor(
    readonly name: string,
    base: string,
    private readonly observer: SessionObserver = {},
  ) {
    this.dir = userDir(base, name);
    this.collectionPath = join(this.dir, COLLECTION_FILE);
  }

  ensureFolders(): void {
    mkdirSync(join(this.dir, MEDIA_FOLDER), { recursive: true, mode: 0o700 });
  }

  /** The open collection, created as a brand-new one if the user has none yet. */
  collection(): CollectionDb {
    if (this.db) return this.db;
    this.ensureFolders();
    if (!existsSync(this.collectionPath)) {
      if (!createEmptyCollection) throw new Error("loadCollectionCreator() must run before the first collection()");
      createEmptyCollection(this.collectionPath);
      logger.info("created new collection", { user: this.name });
    }
    const db = openCollectionDb(this.collectionPath, { mustExist: true });
    db.pragma("journal_mode = WAL");
    // NORMAL: a commit writes the WAL without an fsync, which would block the
    // event loop (every other user's requests) for the disk's flush. The only
    // commit on this connection, a sync's finish, fsyncs the WAL itself, off
    // the event loop, before the step is acknowledged (commitSession), so an
    // acknowledged sync still survives power loss; checkpoints sync as under
    // FULL, and WAL mode stays corruption-free either way.
    db.pragma("synchronous = NORMAL");
    // The official server's page cache size (40 MiB; SQLite's default is 2):
    // a sync step rewrites rows spread over the whole table and its indexes,
    // and with a small cache every step re-reads the same pages and spills
    // its dirty ones to the WAL before the commit. The cache only grows as
    // pages are used, so a small collection costs no more than before.
    db.pragma("cache_size = -40960");
    this.db = db;
    return db;
  }

  /**
   * Runs a heavy SQLite job (src/worker/tasks.ts) in this user's worker
   * thread, so that other users' requests are served meanwhile.
   */
  inWorker<N extends TaskName>(task: N, ...args: TaskArgs<N>): Promise<TaskResult<N>> {
    return workers.run(this.name, task, ...args);
  }

  get session(): SyncSession | undefined {
    return this.activeSession;
  }

  /** Starts a normal sync: any earlier one is rolled back first, and a transaction opens. */
  beginSession(session: SyncSession): CollectionDb {
    this.abortActiveSession();
    const db = this.collection();
    db.exec("BEGIN IMMEDIATE");
    this.activeSession = session;
    return db;
  }

  /**
   * Commits the session's changes and forgets it; resolves once they are on
   * disk (the WAL fsynced from the thread pool), which is when the caller may
   * acknowledge them.
   */
  async commitSession(): Promise<void> {
    const session = this.activeSession;
    this.activeSession = undefined;
    if (this.db?.inTransaction) {
      this.db.exec("COMMIT");
      await fsyncFile(`${this.collectionPath}-wal`);
    }
    if (session) this.observer.sessionCommitted?.(this.name, session);
  }

  /** Rolls back whatever the session changed, keeping the record (a failed sanity check does this). */
  rollBackSessionChanges(): void {
    if (this.db?.inTransaction) this.db.exec("ROLLBACK");
  }

  /** Rolls back and forgets the active sync session, if there is one. */
  abortActiveSession(): void {
    const session = this.activeSession;
    this.activeSession = undefined;
    this.rollBackSessionChanges();
    if (session) logger.info("sync session aborted", { user: this.name });
  }

  /** Closes the connection (checkpointing the WAL into the main file). */
  closeCollection(): void {
    if (!this.db) return;
    this.abortActiveSession();
    const db = this.db;
    this.db = undefined;
    try {
      db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
  }
}

export class UserRegistry {
  private readonly users = new Map<string, UserState>();
  /** Session events of every user go here (one object, shared with each UserState). */
  readonly observer: SessionObserver = {};

  constructor(private readonly base: string) {}

  get(name: string): UserState {
    let user = this.users.get(name);
    if (!user) {
      user = new UserState(name, this.base, this.observer);
      this.users.set(name, user);
    }
    return user;
  }

  /**
   * Rolls back syncs abandoned mid-way (a client that crashed or lost its
   * network), so their open transaction does not linger forever. The official
   * server keeps them until the user's next request.
   */
  abortIdleSessions(maxIdleMs: number, now = Date.now()): void {
    for (const user of this.users.values()) {
      const session = user.session;
      if (!session || now - session.lastUsed < maxIdleMs) continue;
      void user.lock.run(() => {
        if (user.session === session && Date.now() - session.lastUsed >= maxIdleMs) {
          logger.warn("abandoned sync rolled back", { user: user.name, idleSeconds: Math.round((Date.now() - session.lastUsed) / 1000) });
          user.abortActiveSession();
        }
      });
    }
  }

  /** Normal syncs in progress: started and not finished, aborted or rolled back. */
  activeSessionCount(): number {
    let count = 0;
    for (const user of this.users.values()) if (user.session && !user.session.rolledBack) count++;
    return count;
  }

  closeAll(): void {
    for (const user of this.users.values()) user.closeCollection();
  }
}
