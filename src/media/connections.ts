// The open media DBs, one per user folder: opened by a user's first media
// request (which also finishes any upload a crash interrupted), kept between
// requests, closed when idle, before a backup or restore touches the files,
// and at shutdown.
import { MediaDb } from "./db.js";

interface OpenMediaDb {
  db: MediaDb;
  /** The user's name, to take their lock before closing it when idle. */
  user: string;
  lastUsed: number;
}

export class MediaConnections {
  private readonly open = new Map<string, OpenMediaDb>();

  /** The open media DB of `user`, opened (with crash recovery) if it is not. */
  get(user: { name: string; dir: string }): MediaDb {
    let entry = this.open.get(user.dir);
    if (!entry) {
      entry = { db: MediaDb.open(user.dir), user: user.name, lastUsed: 0 };
      this.open.set(user.dir, entry);
    }
    entry.lastUsed = Date.now();
    return entry.db;
  }

  /** Whether the user's media DB is open now. */
  isOpen(userDir: string): boolean {
    return this.open.has(userDir);
  }

  /** Closes a user's media DB; the next get() reopens it (and runs the crash recovery again). */
  close(userDir: string): void {
    const entry = this.open.get(userDir);
    this.open.delete(userDir);
    entry?.db.close();
  }

  /** Closes the DBs unused for `maxIdleMs`, each under its user's lock (`runLocked`). */
  closeIdle(maxIdleMs: number, runLocked: (user: string, task: () => void) => Promise<void>, now = Date.now()): void {
    for (const [dir, entry] of this.open) {
      if (now - entry.lastUsed < maxIdleMs) continue;
      void runLocked(entry.user, () => {
        if (this.open.get(dir) === entry && Date.now() - entry.lastUsed >= maxIdleMs) this.close(dir);
      });
    }
  }

  closeAll(): void {
    for (const dir of [...this.open.keys()]) this.close(dir);
  }
}

/** The server's media connections (one set per process). */
export const mediaConnections = new MediaConnections();

/** The user's open media DB. */
export const mediaDbOf = (user: { name: string; dir: string }): MediaDb => mediaConnections.get(user);
