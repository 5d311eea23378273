// The most recent failed logins (sync clients and the status page), in
// memory, for the status page. The log has all of them.
export interface FailedLogin {
  at: number;
  address: string;
  user: string;
  reason: string;
}

export class RecentFailedLogins {
  private readonly entries: FailedLogin[] = [];

  constructor(private readonly keep = 20) {}

  add(address: string, user: string, reason: string, now = Date.now()): void {
    this.entries.push({ at: now, address: address || "unknown", user: user.slice(0, 100), reason });
    if (this.entries.length > this.keep) this.entries.shift();
  }

  /** Newest first. */
  list(): FailedLogin[] {
    return [...this.entries].reverse();
  }
}
