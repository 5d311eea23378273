// The status page (/admin), on when --admin-password-file is given. The HTTP
// server hands it every /admin request; it authenticates first (HTTP Basic,
// counted by the same login throttle as sync logins, logged in the same
// fail2ban format), then answers the page or runs a confirmed action.
//
//   GET  /admin            overview: server, users, devices, syncs, backups, failed logins
//   GET  /admin/revoke     confirmation page for revoking one device
//   POST /admin/revoke     revokes it (form: user, device, csrf)
//   GET  /admin/backup     confirmation page for a backup now
//   POST /admin/backup     starts it (form: csrf)
//
// Every POST must carry the CSRF token (Basic credentials are sent by the
// browser on any request to this origin, so a form on another site could
// otherwise post here) and, when the browser sends one, a same-host Origin.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HostKeyStore } from "../auth/hostkeys.js";
import { logLoginFailure } from "../auth/login-log.js";
import type { LoginThrottle } from "../auth/throttle.js";
import { takeBackup } from "../backup/snapshot.js";
import { HttpError } from "../protocol/errors.js";
import { logger } from "../log.js";
import type { SyncActivity } from "../ops/activity.js";
import type { BackupStatus } from "../ops/backup-status.js";
import { AdminCredentials, parseBasicAuth } from "./credentials.js";
import { RecentFailedLogins } from "./failed-logins.js";
import { type BackupRun, NOTICES, confirmBackupPage, confirmRevokePage, messagePage, overviewPage } from "./pages.js";
import { type StatusSources, serverStatus, userStatuses } from "./status.js";

/** The name the throttle and the failed-login log count status-page attempts under (no user name has a "/"). */
export const ADMIN_THROTTLE_NAME = "/admin";
const MAX_FORM_BYTES = 4096;
const REALM = 'Basic realm="anki-sync-server status", charset="UTF-8"';

export interface AdminDeps {
  passwordFile: string;
  base: string;
  hostKeys: HostKeyStore;
  activity: SyncActivity;
  throttle: LoginThrottle;
  userNames: () => string[];
  backups: BackupStatus | undefined;
  isBlocked: (user: string) => boolean;
  clientAddress: (req: IncomingMessage) => string;
  startedAt?: number;
}

export class AdminPage {
  /** Failed logins of sync clients and of this page; the HTTP server reports the former. */
  readonly failedLogins = new RecentFailedLogins();
  private readonly credentials: AdminCredentials;
  private readonly csrfToken: string;
  private readonly sources: StatusSources;
  private backupRun: BackupRun | undefined;
  private backupPromise: Promise<void> | undefined;

  /** Throws PasswordFileError when the password file is unusable (the server does not start). */
  constructor(private readonly deps: AdminDeps) {
    this.credentials = new AdminCredentials(deps.passwordFile);
    // One token per process: forms of this page carry it, other sites cannot read it.
    this.csrfToken = createHmac("sha256", randomBytes(32)).update("admin-csrf").digest("hex");
    this.sources = {
      base: deps.base,
      startedAt: deps.startedAt ?? Date.now(),
      hostKeys: deps.hostKeys,
      activity: deps.activity,
      userNames: deps.userNames,
      backups: deps.backups,
      failedLogins: this.failedLogins,
      isBlocked: deps.isBlocked,
      backupRunning: () => this.backupRun !== undefined && this.backupRun.finishedAt === undefined,
    };
  }

  /** Resolves once a backup started from the page has ended (for shutdown and tests). */
  async idle(): Promise<void> {
    await this.backupPromise;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (!(await this.authenticate(req, res))) return;
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    if (method === "POST") {
      await this.checkPost(req);
      const form = await readForm(req);
      if (!safeEqual(form.get("csrf") ?? "", this.csrfToken)) throw new HttpError(403, "missing or wrong CSRF token");
      if (path === "/admin/revoke") return this.revoke(res, form.get("user") ?? "", form.get("device") ?? "");
      if (path === "/admin/backup") return this.startBackup(res);
      throw new HttpError(path === "/admin" ? 405 : 404, "no such action");
    }
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, `${method} not allowed`);
    if (path === "/admin" || path === "/admin/") {
      const done = url.searchParams.get("done") ?? "";
      const notice = Object.hasOwn(NOTICES, done) ? NOTICES[done] : undefined;
      return send(res, 200, overviewPage(serverStatus(this.sources), userStatuses(this.sources), this.backupRun, notice), method);
    }
    if (path === "/admin/revoke") {
      const user = url.searchParams.get("user") ?? "";
      const id = url.searchParams.get("device") ?? "";
      const device = this.deps.hostKeys.list(user).find((d) => d.id === id);
      if (!device) return send(res, 404, messagePage("No such device", NOTICES["not-found"]!), method);
      return send(res, 200, confirmRevokePage(user, device, this.csrfToken), method);
    }
    if (path === "/admin/backup") {
      const dir = this.deps.backups?.options.dir;
      if (dir === undefined) return send(res, 404, messagePage("No backup folder", "Start the server with --backup-dir to back up from here."), method);
      return send(res, 200, confirmBackupPage(dir, this.csrfToken), method);
    }
    throw new HttpError(404, "unknown status page");
  }

  /** Answers 401 (or 429 when throttled) and returns false unless the request carries the admin's credentials. */
  private async authenticate(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const address = this.deps.clientAddress(req);
    const decision = this.deps.throttle.begin(address, ADMIN_THROTTLE_NAME);
    if (!decision.allowed) {
      logLoginFailure(address, ADMIN_THROTTLE_NAME, decision.scope === "address" ? "throttled-address" : "throttled-user");
      this.failedLogins.add(address, ADMIN_THROTTLE_NAME, "throttled");
      res.setHeader("retry-after", String(Math.ceil(decision.retryAfterMs / 1000)));
      if (!req.complete) {
        res.setHeader("connection", "close");
        req.resume();
      }
      send(res, 429, messagePage("Too many attempts", "Too many failed logins from this address; try again later."), req.method);
      return false;
    }
    const given = parseBasicAuth(req.headers.authorization);
    if (given && (await this.credentials.check(given.user, given.password))) {
      decision.attempt.succeeded();
      return true;
    }
    decision.attempt.failed();
    const reason = given ? "wrong-password" : "unknown-user";
    logLoginFailure(address, ADMIN_THROTTLE_NAME, reason);
    this.failedLogins.add(address, ADMIN_THROTTLE_NAME, given ? "wrong password" : "no credentials");
    res.setHeader("www-authenticate", REALM);
    if (!req.complete) {
      // An unread body (a refused POST): close after the reply rather than read it as the next request.
      res.setHeader("connection", "close");
      req.resume();
    }
    send(res, 401, messagePage("Login required", "This status page needs the admin user name and password."), req.method);
    return false;
  }

  /** A form post must come from this page: same host in Origin (when the browser sends it). */
  private async checkPost(req: IncomingMessage): Promise<void> {
    const origin = req.headers.origin;
    if (origin === undefined || origin === "null") {
      if (origin === "null") throw new HttpError(403, "cross-origin form post");
      return;
    }
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw new HttpError(403, "malformed Origin");
    }
    if (host !== req.headers.host) throw new HttpError(403, "cross-origin form post");
  }

  private revoke(res: ServerResponse, user: string, id: string): void {
    if (!/^[0-9a-f]{12}$/.test(id) || !this.deps.hostKeys.list(user).some((d) => d.id === id)) return redirect(res, "not-found");
    const n = this.deps.hostKeys.revoke(user, id);
    logger.info("device revoked from the status page", { user, device: id, revoked: n });
    redirect(res, n > 0 ? "revoked" : "not-found");
  }

  private startBackup(res: ServerResponse): void {
    const backups = this.deps.backups;
    if (!backups) throw new HttpError(404, "no backup folder configured");
    if (this.sources.backupRunning()) return redirect(res, "backup-busy");
    const run: BackupRun = { startedAt: Date.now() };
    this.backupRun = run;
    logger.info("backup started from the status page", { to: backups.options.dir });
    this.backupPromise = takeBackup({ base: this.deps.base, to: backups.options.dir })
      .then((result) => {
        run.ok = result.failedUsers.length === 0;
        run.message = run.ok ? result.name : `incomplete for ${result.failedUsers.join(", ")}`;
        logger[run.ok ? "info" : "error"]("backup from the status page done", { snapshot: result.name, failed: result.failedUsers.join(",") || undefined });
      })
      .catch((err: unknown) => {
        run.ok = false;
        run.message = (err as Error).message;
        logger.error("backup from the status page failed", { reason: (err as Error).message });
      })
      .finally(() => {
        run.finishedAt = Date.now();
        backups.invalidate();
      });
    redirect(res, "backup-started");
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") throw new HttpError(415, "form posts only");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, "form too large");
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with the page's own form posts.
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

function send(res: ServerResponse, status: number, body: string, method: string | undefined): void {
  const data = Buffer.from(body, "utf8");
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8", "content-length": String(data.length) });
  res.end(method === "HEAD" ? undefined : data);
}

function redirect(res: ServerResponse, done: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location: `/admin?done=${encodeURIComponent(done)}`, "content-length": "0" });
  res.end();
}
