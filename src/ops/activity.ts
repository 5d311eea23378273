// The last sync of each kind per user and how it ended, kept in the server
// database so that `user list` and the status page can show it (also while
// no server runs). One row per user and kind, overwritten: a write per
// finished sync, not per request.
//
//   normal         ended by /sync/finish (ok), or a failed step from start to finish
//   full_upload    /sync/upload
//   full_download  /sync/download
//   media          ended by /msync/mediaSanity (ok), or any failed /msync step
import type Database from "better-sqlite3";

export type SyncKind = "normal" | "full_upload" | "full_download" | "media";
export const SYNC_KINDS: readonly SyncKind[] = ["normal", "full_upload", "full_download", "media"];

export interface SyncOutcome {
  kind: SyncKind;
  /** When the last attempt ended (ms since the epoch). */
  at: number;
  ok: boolean;
  /** HTTP status of the request that ended it. */
  status: number;
  clientVersion: string;
  /** When the last successful one ended, if any. */
  lastOkAt: number | null;
}

const NORMAL_STEPS = new Set(["/sync/start", "/sync/applyGraves", "/sync/applyChanges", "/sync/chunk", "/sync/applyChunk", "/sync/sanityCheck2", "/sync/finish"]);

/** Which sync kind a finished request ends, if any. */
export function outcomeKind(route: string, status: number): SyncKind | undefined {
  const ok = status === 200;
  if (route === "/sync/finish" && ok) return "normal";
  if (NORMAL_STEPS.has(route) && !ok) return "normal";
  if (route === "/sync/upload") return "full_upload";
  if (route === "/sync/download") return "full_download";
  if (route === "/msync/mediaSanity" && ok) return "media";
  if (route.startsWith("/msync/") && !ok) return "media";
  return undefined;
}

interface Row {
  user: string;
  kind: SyncKind;
  at: number;
  ok: number;
  status: number;
  client_version: string;
  last_ok_at: number | null;
}

export class SyncActivity {
  private upsert: Database.Statement | undefined;

  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS sync_activity (
      user TEXT NOT NULL,
      kind TEXT NOT NULL,
      at INTEGER NOT NULL,
      ok INTEGER NOT NULL,
      status INTEGER NOT NULL,
      client_version TEXT NOT NULL,
      last_ok_at INTEGER,
      PRIMARY KEY (user, kind)
    ) WITHOUT ROWID`);
  }

  /** Records a finished request if it ends a sync; returns the kind it recorded. */
  record(user: string, route: string, status: number, clientVersion: string, now = Date.now()): SyncKind | undefined {
    const kind = outcomeKind(route, status);
    if (kind === undefined) return undefined;
    const ok = status === 200 ? 1 : 0;
    this.upsert ??= this.db.prepare(
      `INSERT INTO sync_activity (user, kind, at, ok, status, client_version, last_ok_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user, kind) DO UPDATE SET at = excluded.at, ok = excluded.ok, status = excluded.status,
         client_version = excluded.client_version, last_ok_at = coalesce(excluded.last_ok_at, last_ok_at)`,
    );
    // A status line, not user data: this commit skips the WAL fsync that the
    // server database's FULL setting would do on the event loop (about a
    // millisecond per finished sync). It still survives a crash of the
    // process; a power cut can lose it until the next FULL commit (a host
    // key) or checkpoint syncs the WAL.
    const previous = Number(this.db.pragma("synchronous", { simple: true }));
    this.db.pragma("synchronous = NORMAL");
    try {
      this.upsert.run(user, kind, now, ok, status, clientVersion.slice(0, 200), ok ? now : null);
    } finally {
      this.db.pragma(`synchronous = ${previous}`);
    }
    return kind;
  }

  /** Every user's outcomes, by user name. */
  all(): Map<string, SyncOutcome[]> {
    const rows = this.db.prepare("SELECT * FROM sync_activity ORDER BY user, kind").all() as Row[];
    const byUser = new Map<string, SyncOutcome[]>();
    for (const row of rows) {
      const list = byUser.get(row.user) ?? [];
      list.push({ kind: row.kind, at: row.at, ok: row.ok === 1, status: row.status, clientVersion: row.client_version, lastOkAt: row.last_ok_at });
      byUser.set(row.user, list);
    }
    return byUser;
  }

  /** The most recent outcome of any kind for each user. */
  latest(): Map<string, SyncOutcome> {
    const out = new Map<string, SyncOutcome>();
    for (const [user, list] of this.all()) {
      const newest = list.reduce((a, b) => (b.at > a.at ? b : a));
      out.set(user, newest);
    }
    return out;
  }
}
