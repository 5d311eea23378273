// The per-user state of a normal sync between `start` and `finish`: kept by
// the user (src/users/user.ts), read and advanced by the steps in src/sync/.
import type { NotetypeShape } from "../collection/sync-rows/notes.js";

export interface ChunkIds {
  revlog: number[];
  cards: number[];
  notes: number[];
}

export class SyncSession {
  /** Ids of the rows the server still has to send, taken at the first `chunk`. */
  chunkIds: ChunkIds | undefined;
  /** Set when a sanity check failed: the changes are gone, the record stays until `abort`. */
  rolledBack = false;
  readonly startedAt = Date.now();
  lastUsed = this.startedAt;
  /** Field count and sort field of notetypes, looked up once per sync. */
  readonly notetypeShapes = new Map<number, NotetypeShape | undefined>();

  constructor(
    readonly key: string,
    /** The server usn when the sync started: stamped on everything this sync stores. */
    readonly serverUsn: number,
    /** The client's `minUsn`: server rows with usn >= this are new to the client. */
    readonly clientUsn: number,
    /** `lnewer`: the client's config and crt win. */
    readonly clientIsNewer: boolean,
  ) {}
}
