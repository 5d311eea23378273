// Free-space reserve for everything a request writes (uploads, legacy spool
// files, media batches): below the reserve, writes stop with 507 Insufficient
// Storage and the log says "disk full", instead of running the file system
// out of space for the databases that need it to commit.
import { statfsSync } from "node:fs";
import { HttpError } from "./protocol/errors.js";

export interface DiskReserve {
  /** Absolute bytes to keep free. */
  bytes?: number;
  /** Percent of the file system's size to keep free. */
  percent?: number;
}

/** 1 GiB or 5 % of the file system, whichever is smaller (a small disk is not refused everything). */
export const DEFAULT_DISK_RESERVE: DiskReserve = { bytes: 1024 * 1024 * 1024, percent: 5 };

export const DISK_FULL_STATUS = 507;

export class DiskFullError extends HttpError {
  constructor(detail: string) {
    super(DISK_FULL_STATUS, `disk full: ${detail}`);
  }
}

export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}

/** Re-throws ENOSPC (and friends) as DiskFullError; anything else unchanged. */
export function rethrowNoSpace(err: unknown, what: string): never {
  if (isNoSpace(err)) throw new DiskFullError(`${what}: ${(err as Error).message}`);
  throw err;
}

/** How often (in bytes written) the free space is looked at again. */
const CHECK_EVERY_BYTES = 1024 * 1024;

export class DiskSpace {
  constructor(
    readonly folder: string,
    readonly reserve: DiskReserve = DEFAULT_DISK_RESERVE,
  ) {}

  /** Bytes to keep free on this file system. */
  reserveBytes(): number {
    const st = statfsSync(this.folder);
    const size = Number(st.blocks) * Number(st.bsize);
    const candidates: number[] = [];
    if (this.reserve.bytes !== undefined) candidates.push(this.reserve.bytes);
    if (this.reserve.percent !== undefined) candidates.push(Math.floor((size * this.reserve.percent) / 100));
    return candidates.length === 0 ? 0 : Math.min(...candidates);
  }

  /** Free bytes available to us, and the reserve. */
  status(): { free: number; reserve: number } {
    const st = statfsSync(this.folder);
    return { free: Number(st.bavail) * Number(st.bsize), reserve: this.reserveBytes() };
  }

  /** Throws DiskFullError unless `bytes` more can be written while keeping the reserve. */
  ensure(bytes: number, what: string): void {
    const { free, reserve } = this.status();
    if (free - bytes < reserve) throw new DiskFullError(`${what}: ${free} bytes free, ${reserve} kept in reserve`);
  }

  /** A per-write tracker that looks at the free space every megabyte or so. */
  writer(what: string): (bytes: number) => void {
    let sinceCheck = CHECK_EVERY_BYTES;
    return (bytes: number) => {
      sinceCheck += bytes;
      if (sinceCheck < CHECK_EVERY_BYTES) return;
      this.ensure(sinceCheck, what);
      sinceCheck = 0;
    };
  }
}
