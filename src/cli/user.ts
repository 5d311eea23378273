// `anki-sync-server user add|passwd|remove|list|sessions|revoke`: the user
// store in the data folder (a table in <base>/.anki-sync-server.sqlite3).
//
// Passwords come from a prompt without echo, from stdin (--password-stdin) or
// from a file (--password-file); a command-line argument only with the
// explicit --password flag. They are stored as argon2id hashes.
//
// A running server notices changes by itself within a second (it polls the
// database) and records what it loaded; after a change the CLI waits for
// that record and says whether the running server picked the change up.
import { chownSync, existsSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { commandAction } from "./action.js";
import type Database from "better-sqlite3";
import { USER_STORE_SOURCE } from "../auth/accounts.js";
import { HostKeyStore, type HostKeyInfo } from "../auth/hostkeys.js";
import { CredentialError, hashPasswordArgon2id, looksLikePhc, parseCredential } from "../auth/passwords.js";
import { openServerDb } from "../auth/server-db.js";
import { resolveBase } from "../config.js";
import { SERVER_DB_FILE, userDir } from "../data-folder.js";
import { type ReloadRecord, UserStore } from "../auth/user-store.js";
import { checkUserName, folderFoldedName, UserNameError } from "../auth/username.js";
import { OperatorError } from "../errors.js";
import { SyncActivity, type SyncOutcome } from "../ops/activity.js";

class CliError extends OperatorError {
  constructor(message: string) {
    super(message, { exitCode: 1 });
  }
}

interface BaseFlags {
  base?: string;
}

interface PasswordFlags extends BaseFlags {
  passwordStdin?: boolean;
  passwordFile?: string;
  password?: string;
  hashed?: boolean;
  wait: boolean;
}

const ACK_TIMEOUT_MS = 5000;

function out(line = ""): void {
  process.stdout.write(line + "\n");
}

function baseDir(flags: BaseFlags): string {
  return resolveBase(flags.base);
}

/**
 * Run as root against a data folder owned by the service user (say a systemd
 * DynamicUser), the CLI gives the database files it may have created (the
 * database itself, -wal, -shm) to the folder's owner, so the server can still
 * write them. (Switching to that user instead does not work with DynamicUser:
 * SQLite opens files by absolute path, through /var/lib/private, which only
 * root may traverse.)
 */
function fixOwnership(base: string): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return;
  let owner;
  try {
    owner = statSync(base);
  } catch {
    return;
  }
  if (owner.uid === 0) return;
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    const path = join(base, SERVER_DB_FILE + suffix);
    try {
      if (statSync(path).uid !== owner.uid) chownSync(path, owner.uid, owner.gid);
    } catch {
      // not there
    }
  }
}

interface Opened {
  base: string;
  db: Database.Database;
  store: UserStore;
  hostKeys: HostKeyStore;
}

function open(flags: BaseFlags, create: boolean): Opened {
  const base = baseDir(flags);
  if (!create && !existsSync(join(base, SERVER_DB_FILE))) {
    throw new CliError(`no server database in ${base} (is that the data folder? give it with --base or SYNC_BASE)`);
  }
  const existed = existsSync(base);
  const db = openServerDb(base);
  if (!existed) process.stderr.write(`note: created the data folder ${base}; the server's user must be able to write it\n`);
  try {
    const store = new UserStore(db);
    const hostKeys = new HostKeyStore(db);
    fixOwnership(base);
    return { base, db, store, hostKeys };
  } catch (err) {
    db.close();
    throw err;
  }
}

async function withStore<T>(flags: BaseFlags, create: boolean, fn: (opened: Opened) => Promise<T> | T): Promise<T> {
  const opened = open(flags, create);
  try {
    return await fn(opened);
  } finally {
    opened.db.close();
    fixOwnership(opened.base);
  }
}

// -- passwords -----------------------------------------------------------------

async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise<string>((resolvePromise, reject) => {
    let chars: string[] = [];
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") {
          finish();
          resolvePromise(chars.join(""));
          return;
        }
        if (ch === "\u0003" || (ch === "\u0004" && chars.length === 0)) {
          finish();
          reject(new CliError("cancelled"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") chars = chars.slice(0, -1);
        else if (ch === "\u0015") chars = [];
        else if (ch >= " ") chars.push(ch);
      }
    };
    stdin.on("data", onData);
  });
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** One line: trailing newlines stripped, nothing else allowed. */
function singleLine(text: string, what: string): string {
  const value = text.replace(/^\ufeff/, "").replace(/[\r\n]+$/, "");
  if (value === "") throw new CliError(`${what} is empty`);
  if (/[\r\n]/.test(value)) throw new CliError(`${what} holds more than one line`);
  return value;
}

async function readSecret(flags: PasswordFlags): Promise<string> {
  const given = [flags.passwordStdin, flags.passwordFile !== undefined, flags.password !== undefined].filter(Boolean).length;
  if (given > 1) throw new CliError("give the password one way only: --password-stdin, --password-file or --password");
  if (flags.passwordStdin) return singleLine(await readAllStdin(), "the password on stdin");
  if (flags.passwordFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.passwordFile, "utf8");
    } catch (err) {
      throw new CliError(`cannot read ${flags.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return singleLine(text, `password file ${flags.passwordFile}`);
  }
  if (flags.password !== undefined) {
    process.stderr.write("warning: a password given on the command line can end up in shell history and process lists\n");
    return singleLine(flags.password, "the password");
  }
  if (!process.stdin.isTTY) {
    throw new CliError("no terminal to ask for the password; use --password-stdin, --password-file PATH or --password");
  }
  const what = flags.hashed ? "PHC hash" : "password";
  const first = await promptHidden(`New ${what}: `);
  if (first === "") throw new CliError(`empty ${what}`);
  if (!flags.hashed) {
    const second = await promptHidden(`Retype new ${what}: `);
    if (first !== second) throw new CliError("the passwords do not match");
  }
  return first;
}

/** The PHC string to store: argon2id of the password, or the given hash (--hashed). */
async function secretToPhc(flags: PasswordFlags): Promise<string> {
  const secret = await readSecret(flags);
  if (!flags.hashed) return hashPasswordArgon2id(secret);
  if (!looksLikePhc(secret)) throw new CliError("--hashed expects a PHC string ($argon2id$..., $pbkdf2-sha256$...)");
  try {
    parseCredential(secret, true);
  } catch (err) {
    if (err instanceof CredentialError) throw new CliError(err.message);
    throw err;
  }
  return secret;
}

// -- the running server ----------------------------------------------------------

type Liveness = "alive" | "gone" | "unknown";

function serverLiveness(store: UserStore): { pid: number; liveness: Liveness } | undefined {
  const server = store.server();
  if (!server) return undefined;
  if (server.hostname !== hostname()) return { pid: server.pid, liveness: "unknown" };
  try {
    process.kill(server.pid, 0);
    return { pid: server.pid, liveness: "alive" };
  } catch (err) {
    return { pid: server.pid, liveness: (err as NodeJS.ErrnoException).code === "EPERM" ? "alive" : "gone" };
  }
}

/** The running server's last reload, if it is from the live server process. */
function liveReload(store: UserStore): ReloadRecord | undefined {
  const live = serverLiveness(store);
  if (!live || live.liveness === "gone") return undefined;
  const reload = store.lastReload();
  return reload && reload.pid === live.pid ? reload : undefined;
}

async function reportPickup(store: UserStore, generation: number, wait: boolean): Promise<void> {
  const live = serverLiveness(store);
  if (!live) {
    out("No server is running on this data folder; the change applies when it starts.");
    return;
  }
  if (live.liveness === "gone") {
    out(`No server is running on this data folder (the last one, pid ${live.pid}, has exited); the change applies when it starts.`);
    return;
  }
  if (!wait) {
    out(`The running server (pid ${live.pid}) picks up the change within a second or two (--no-wait: not checked).`);
    return;
  }
  const deadline = Date.now() + ACK_TIMEOUT_MS;
  for (;;) {
    const reload = store.lastReload();
    if (reload && reload.pid === live.pid && reload.generation >= generation) {
      if (reload.ok) {
        out(`The running server (pid ${live.pid}) picked up the change.`);
      } else {
        out(`The running server (pid ${live.pid}) could not reload its users and keeps the previous ones: ${reload.error ?? "unknown error"}`);
        process.exitCode = 3;
      }
      return;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  out(
    `The running server (pid ${live.pid}${live.liveness === "unknown" ? ", on another host or container" : ""}) ` +
      `has not confirmed the change within ${ACK_TIMEOUT_MS / 1000}s; send it SIGHUP or restart it to be sure.`,
  );
}

/** Where a name is declared outside the store, per the running server. */
function declaredSource(store: UserStore, name: string): string | undefined {
  return liveReload(store)?.users.find((u) => u.name === name && u.source !== USER_STORE_SOURCE)?.source;
}

function checkedName(name: string): string {
  try {
    return checkUserName(name);
  } catch (err) {
    if (err instanceof UserNameError) throw new CliError(`invalid user name ${JSON.stringify(name)}: ${err.message}`);
    throw err;
  }
}

// -- commands ----------------------------------------------------------------------

async function addUser(name: string, flags: PasswordFlags): Promise<void> {
  checkedName(name);
  // Check what can be checked before asking for the password.
  const base = baseDir(flags);
  if (existsSync(join(base, SERVER_DB_FILE))) {
    await withStore(flags, false, ({ store }) => preAddChecks(store, name));
  }
  const phc = await secretToPhc(flags);
  await withStore(flags, true, async ({ store }) => {
    preAddChecks(store, name);
    const generation = store.add(name, phc);
    out(`Added user ${name}.`);
    await reportPickup(store, generation, flags.wait);
  });
}

function preAddChecks(store: UserStore, name: string): void {
  if (store.get(name)) throw new CliError(`user ${name} already exists; change the password with: user passwd ${name}`);
  const declared = declaredSource(store, name);
  if (declared) throw new CliError(`user ${name} is already defined by ${declared} on the running server`);
  const folded = folderFoldedName(name);
  const others = [...store.list().map((u) => u.name), ...(liveReload(store)?.users.map((u) => u.name) ?? [])];
  const clash = others.find((other) => other !== name && folderFoldedName(other) === folded);
  if (clash) throw new CliError(`user ${name} differs from the existing user ${clash} only in letter case; on some file systems they would share a folder`);
}

async function changePassword(name: string, flags: PasswordFlags): Promise<void> {
  checkedName(name);
  await withStore(flags, false, ({ store }) => {
    if (!store.get(name)) {
      const declared = declaredSource(store, name);
      throw new CliError(declared ? `user ${name} is defined by ${declared}; change the password there` : `user ${name} is not in the user store`);
    }
  });
  const phc = await secretToPhc(flags);
  await withStore(flags, false, async ({ db, store, hostKeys }) => {
    let revoked = 0;
    const generation = db.transaction(() => {
      const g = store.setPassword(name, phc);
      revoked = hostKeys.revoke(name);
      return g;
    })();
    out(`Changed the password of ${name}; ${sessionsText(revoked)} revoked${revoked > 0 ? " (those devices must log in again)" : ""}.`);
    await reportPickup(store, generation, flags.wait);
  });
}

async function removeUser(name: string, flags: BaseFlags & { wait: boolean }): Promise<void> {
  await withStore(flags, false, async ({ base, db, store, hostKeys }) => {
    if (!store.get(name)) {
      const declared = declaredSource(store, name);
      throw new CliError(declared ? `user ${name} is defined by ${declared}; remove it there` : `user ${name} is not in the user store`);
    }
    let revoked = 0;
    const generation = db.transaction(() => {
      const g = store.remove(name);
      revoked = hostKeys.revoke(name);
      return g;
    })();
    out(`Removed user ${name}; ${sessionsText(revoked)} revoked.`);
    if (existsSync(userDir(base, name))) out(`Their collection is kept in ${userDir(base, name)}; delete that folder yourself if it is no longer wanted.`);
    await reportPickup(store, generation, flags.wait);
  });
}

function sessionsText(n: number): string {
  return `${n} session${n === 1 ? "" : "s"}`;
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "2026-12-04 16:50 normal ok" or "... media failed (HTTP 500)"; "-" if the user never synced. */
function lastSyncText(outcome: SyncOutcome | undefined): string {
  if (!outcome) return "-";
  return `${formatTime(outcome.at)} ${outcome.kind.replace("_", " ")} ${outcome.ok ? "ok" : `failed (HTTP ${outcome.status})`}`;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ");
  out(line(header));
  for (const row of rows) out(line(row));
}

async function listUsers(flags: BaseFlags & { json?: boolean }): Promise<void> {
  await withStore(flags, false, ({ db, store, hostKeys }) => {
    const counts = hostKeys.counts();
    const reload = liveReload(store);
    const lastSyncs = new SyncActivity(db).latest();
    const rows: { name: string; source: string; sessions: number; changed?: number; lastSync?: SyncOutcome }[] = [];
    const seen = new Set<string>();
    for (const user of reload?.users ?? []) {
      if (user.source === USER_STORE_SOURCE) continue;
      rows.push({ name: user.name, source: user.source, sessions: counts.get(user.name) ?? 0 });
      seen.add(user.name);
    }
    for (const user of store.list()) {
      rows.push({
        name: user.name,
        source: seen.has(user.name) ? `${USER_STORE_SOURCE} (ignored: also declared)` : USER_STORE_SOURCE,
        sessions: counts.get(user.name) ?? 0,
        changed: user.updated,
      });
    }
    rows.sort((a, b) => a.name.localeCompare(b.name));
    for (const row of rows) row.lastSync = lastSyncs.get(row.name);
    if (flags.json) {
      out(JSON.stringify({ serverRunning: reload !== undefined, users: rows }, null, 2));
      return;
    }
    if (rows.length === 0) out("No users.");
    else printTable(
        ["NAME", "SESSIONS", "PASSWORD CHANGED", "LAST SYNC", "SOURCE"],
        rows.map((r) => [r.name, String(r.sessions), r.changed ? formatTime(r.changed) : "-", lastSyncText(r.lastSync), r.source]),
      );
    if (!reload) out("(No server is running: users from SYNC_USERn and password files are listed only while it runs.)");
  });
}

async function listSessions(name: string, flags: BaseFlags & { json?: boolean }): Promise<void> {
  await withStore(flags, false, ({ hostKeys }) => {
    const sessions = hostKeys.list(name);
    if (flags.json) {
      out(JSON.stringify(sessions.map(({ credentialFingerprint: _fp, ...rest }) => rest), null, 2));
      return;
    }
    if (sessions.length === 0) {
      out(`No sessions for ${name}.`);
      return;
    }
    printTable(
      ["ID", "CREATED", "LAST USED", "ADDRESS", "CLIENT"],
      sessions.map((s: HostKeyInfo) => [s.id, formatTime(s.created), formatTime(s.lastUsed), s.address || "-", s.clientVersion || "-"]),
    );
  });
}

async function revokeSessions(name: string, prefix: string | undefined, flags: BaseFlags & { all?: boolean }): Promise<void> {
  if (flags.all && prefix !== undefined) throw new CliError("give either a session id (prefix) or --all, not both");
  if (!flags.all && prefix === undefined) throw new CliError("give the session id (or its first characters) from `user sessions`, or --all");
  if (prefix !== undefined && !/^[0-9a-fA-F]{4,}$/.test(prefix)) throw new CliError("a session id prefix is at least 4 hex characters, as shown by `user sessions`");
  await withStore(flags, false, ({ hostKeys }) => {
    if (prefix !== undefined) {
      const matching = hostKeys.list(name).filter((s) => s.id.startsWith(prefix.toLowerCase()));
      if (matching.length === 0) throw new CliError(`no session of ${name} starts with ${prefix}`);
      if (matching.length > 1) throw new CliError(`${matching.length} sessions of ${name} start with ${prefix}; give more characters`);
    }
    const n = hostKeys.revoke(name, prefix);
    out(`Revoked ${sessionsText(n)} of ${name}. ${n === 1 ? "That device" : "Those devices"} must log in again; this applies to the next request.`);
  });
}

/** Prints the argon2id PHC of a password, for password files and --hashed (touches no data folder). */
async function hashOnly(flags: PasswordFlags): Promise<void> {
  if (flags.hashed) throw new CliError("--hashed makes no sense here");
  out(await secretToPhc(flags));
}

// -- registration -----------------------------------------------------------------

function baseOption(cmd: Command): Command {
  return cmd.option("--base <dir>", "data folder (env SYNC_BASE, default ./data)");
}

function passwordOptions(cmd: Command): Command {
  return baseOption(cmd)
    .option("--password-stdin", "read the password from stdin (first line)")
    .option("--password-file <path>", "read the password from a file (first line)")
    .option("--password <password>", "the password itself (ends up in shell history; prefer the prompt or the options above)")
    .option("--hashed", "the input is a PHC hash ($argon2id$... or $pbkdf2-sha256$...), stored as is")
    .option("--no-wait", "do not wait for the running server to confirm the change");
}

/** CliError and UserNameError (operator errors, exit 1) end the command with "error: <message>". */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return commandAction({ plain: true }, fn);
}

export function registerUser(program: Command): void {
  const user = program.command("user").description("manage the users in the data folder's user store");

  passwordOptions(user.command("add").argument("<name>").description("add a user (asks for the password)")).action(
    action((name: string, flags: PasswordFlags) => addUser(name, flags)),
  );

  passwordOptions(user.command("passwd").argument("<name>").description("change a user's password; their devices must log in again")).action(
    action((name: string, flags: PasswordFlags) => changePassword(name, flags)),
  );

  baseOption(user.command("remove").alias("rm").argument("<name>").description("remove a user and end their sessions (their collection is kept)"))
    .option("--no-wait", "do not wait for the running server to confirm the change")
    .action(action((name: string, flags: BaseFlags & { wait: boolean }) => removeUser(name, flags)));

  baseOption(user.command("list").alias("ls").description("list users, their number of sessions, their last sync and where they come from"))
    .option("--json", "machine-readable output")
    .action(action((flags: BaseFlags & { json?: boolean }) => listUsers(flags)));

  baseOption(user.command("sessions").argument("<name>").description("list a user's devices: created, last used, address, client version"))
    .option("--json", "machine-readable output")
    .action(action((name: string, flags: BaseFlags & { json?: boolean }) => listSessions(name, flags)));

  user
    .command("hash")
    .description("print the argon2id hash of a password (for a password file); touches no data folder")
    .option("--password-stdin", "read the password from stdin (first line)")
    .option("--password-file <path>", "read the password from a file (first line)")
    .option("--password <password>", "the password itself (ends up in shell history)")
    .action(action((flags: PasswordFlags) => hashOnly(flags)));

  baseOption(user.command("revoke").argument("<name>").argument("[session-id]", "id (or its first characters) from `user sessions`").description("end one session of a user, or all with --all"))
    .option("--all", "end all of the user's sessions")
    .action(action((name: string, prefix: string | undefined, flags: BaseFlags & { all?: boolean }) => revokeSessions(name, prefix, flags)));
}
