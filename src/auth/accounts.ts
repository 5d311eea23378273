// Where the server's users come from, and how changes reach a running server.
//
// Sources, in order of precedence:
//   1. SYNC_USER1..N (as the official server reads them),
//   2. password files (--user-file NAME=PATH / SYNC_USER_FILES),
//   3. the user store in the server database (`anki-sync-server user ...`).
// A name declared twice by 1 and 2 is a start-up error; a store entry with the
// name of a declared user is ignored (with a warning): the deployment's
// configuration wins over ad-hoc changes.
//
// Reloading: password files and the user store are read again
//   - on SIGHUP (serve.ts calls reload()),
//   - when the user store changes: the server polls SQLite's data_version
//     (changes whenever another connection, such as the CLI, commits),
//   - when a password file is replaced or edited (polled stat signature).
// After each reload the server records in the database which store generation
// it loaded and whether that worked; the CLI reads that to tell the admin
// whether the running server picked a change up. A reload that fails (say a
// password file became unreadable) keeps the previous users.
import { hostname } from "node:os";
import type Database from "better-sqlite3";
import type { LoginSettings, UserFileSpec, UserSpec } from "./settings.js";
import { logger } from "../log.js";
import { Authenticator, type LoginBackend, StartupError } from "./authenticator.js";
import type { HostKeyStore } from "./hostkeys.js";
import { PasswordFileError, passwordFilesSignature, readPasswordFile } from "./password-files.js";
import { type LoadedUser, UserStore } from "./user-store.js";

export const USER_STORE_SOURCE = "user store";
export const DEFAULT_RELOAD_POLL_MS = 1000;

export interface AccountsOptions {
  db: Database.Database;
  hostKeys: HostKeyStore;
  envUsers: readonly UserSpec[];
  userFiles: readonly UserFileSpec[];
  login?: LoginSettings;
  pollMs?: number;
  /** Backend for names no local source has (--auth cognito). */
  external?: LoginBackend;
  /** --accept-derived-host-keys (see Authenticator). */
  acceptDerivedHostKeys?: boolean;
}

interface Collected {
  specs: UserSpec[];
  generation: number;
  shadowed: { name: string; by: string }[];
}

export class Accounts {
  readonly auth: Authenticator;
  readonly store: UserStore;
  private timer: NodeJS.Timeout | undefined;
  private lastDataVersion = -1;
  private lastFilesSignature = "";
  private registered = false;
  /** Called after each successful reload (the app creates new users' folders). */
  onReloaded: () => void = () => {};

  constructor(private readonly options: AccountsOptions) {
    this.store = new UserStore(options.db);
    const collected = this.collect();
    const login = options.login;
    this.auth = new Authenticator(collected.specs, options.hostKeys, {
      throttle: login && { failuresPerAddress: login.failuresPerAddress, failuresPerUser: login.failuresPerUser, windowMs: login.windowMs },
      maxConcurrentChecks: login?.maxConcurrentChecks,
      external: options.external,
      acceptDerivedHostKeys: options.acceptDerivedHostKeys,
    });
    this.warnShadowed(collected.shadowed);
    this.lastFilesSignature = passwordFilesSignature(options.userFiles);
    this.recordReload(collected.generation, undefined);
  }

  /** Reads every source. Throws StartupError (naming the file or variable) on any problem. */
  private collect(): Collected {
    const declared: UserSpec[] = [...this.options.envUsers];
    for (const spec of this.options.userFiles) {
      try {
        declared.push(readPasswordFile(spec));
      } catch (err) {
        if (err instanceof PasswordFileError) throw new StartupError(err.message);
        throw err;
      }
    }
    const declaredBy = new Map<string, string>();
    for (const spec of declared) {
      const other = declaredBy.get(spec.name);
      if (other !== undefined) throw new StartupError(`user "${spec.name}" is defined twice: by ${other} and by ${spec.source}`);
      declaredBy.set(spec.name, spec.source);
    }
    const { generation, users } = this.store.snapshot();
    const specs = [...declared];
    const shadowed: Collected["shadowed"] = [];
    for (const user of users) {
      const by = declaredBy.get(user.name);
      if (by !== undefined) shadowed.push({ name: user.name, by });
      else specs.push({ name: user.name, secret: user.phc, hashed: true, source: USER_STORE_SOURCE });
    }
    return { specs, generation, shadowed };
  }

  /**
   * Reads password files and the user store again and applies them. Returns
   * false (keeping the previous users) if something is wrong.
   */
  reload(trigger: string): boolean {
    this.lastFilesSignature = passwordFilesSignature(this.options.userFiles);
    this.lastDataVersion = this.dataVersion();
    let collected: Collected;
    try {
      collected = this.collect();
      const changes = this.auth.setUsers(collected.specs);
      logger.info("users reloaded", {
        trigger,
        users: collected.specs.length,
        added: changes.added.join(",") || undefined,
        removed: changes.removed.join(",") || undefined,
        changed: changes.changed.join(",") || undefined,
        revoked_keys: changes.revokedKeys || undefined,
      });
    } catch (err) {
      const reason = (err as Error).message;
      logger.error("users not reloaded, keeping the previous ones", { trigger, reason });
      this.recordReload(this.safeGeneration(), reason);
      return false;
    }
    this.warnShadowed(collected.shadowed);
    try {
      this.onReloaded();
    } catch (err) {
      logger.warn("after-reload step failed", { reason: (err as Error).message });
    }
    this.recordReload(collected.generation, undefined);
    return true;
  }

  /** Registers this process as the data folder's server and starts noticing changes. */
  startWatching(pollMs = this.options.pollMs ?? DEFAULT_RELOAD_POLL_MS): void {
    this.store.registerServer({ pid: process.pid, started: Date.now(), hostname: hostname() });
    this.registered = true;
    this.lastDataVersion = this.dataVersion();
    this.timer = setInterval(() => this.poll(), pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.registered) {
      try {
        this.store.unregisterServer(process.pid);
      } catch {
        // The database may already be closing; the CLI copes with a stale record.
      }
      this.registered = false;
    }
  }

  private poll(): void {
    try {
      const version = this.dataVersion();
      if (version !== this.lastDataVersion) {
        this.reload("user store changed");
        return;
      }
      if (passwordFilesSignature(this.options.userFiles) !== this.lastFilesSignature) this.reload("password file changed");
    } catch (err) {
      logger.warn("could not check for user changes", { reason: (err as Error).message });
    }
  }

  private dataVersion(): number {
    return this.options.db.pragma("data_version", { simple: true }) as number;
  }

  private safeGeneration(): number {
    try {
      return this.store.generation();
    } catch {
      return -1;
    }
  }

  private recordReload(generation: number, error: string | undefined): void {
    const users: LoadedUser[] = this.auth.userSources();
    try {
      this.store.recordReload({ pid: process.pid, at: Date.now(), generation, ok: error === undefined, error, users });
    } catch (err) {
      logger.warn("could not record the reload in the server database", { reason: (err as Error).message });
    }
  }

  private warnShadowed(shadowed: Collected["shadowed"]): void {
    for (const { name, by } of shadowed) {
      logger.warn("user store entry ignored: the user is also declared in the configuration", { user: name, declared_by: by });
    }
  }
}
