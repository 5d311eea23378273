// What the accounts and the authenticator are configured with: users from the
// environment and from password files, and the login limits. Defined here,
// below src/config.ts (which fills them in from flags and environment).
export interface UserSpec {
  name: string;
  /** Plain password, or a PHC string when `hashed` is true. */
  secret: string;
  hashed: boolean;
  /** Where the user came from, for error messages (never the secret). */
  source: string;
}

/** A user whose password (or PHC hash) is in a file, read at start and on every reload. */
export interface UserFileSpec {
  name: string;
  /** Absolute path (relative ones are resolved against $CREDENTIALS_DIRECTORY when set). */
  path: string;
  /** For messages: where the declaration came from, e.g. "--user-file". */
  origin: string;
}

export interface LoginSettings {
  /** Failed logins per client address (IPv6: per /64) within the window before it is throttled; 0 = off. */
  failuresPerAddress: number;
  /** Failed logins for one user name from one address (IPv6: /64) within the window before that pair is throttled; 0 = off. */
  failuresPerUser: number;
  windowMs: number;
  /** Password-hash checks running at once (each is one libuv pool thread). */
  maxConcurrentChecks: number;
}

/** The one set of login defaults (the throttle and the authenticator take theirs from here). */
export const DEFAULT_LOGIN_SETTINGS: Readonly<LoginSettings> = {
  failuresPerAddress: 10,
  failuresPerUser: 5,
  windowMs: 10 * 60_000,
  maxConcurrentChecks: 2,
};
