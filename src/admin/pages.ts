// The status page's HTML: the overview (server, then one card per user) and
// the confirmation pages of the two actions. Plain forms, no scripts.
import type { SyncOutcome } from "../ops/activity.js";
import { SERVER_NAME } from "../ops/version.js";
import { type Html, formatAgo, formatBytes, formatDuration, formatTime, html, page } from "./html.js";
import type { ServerStatus, UserStatus } from "./status.js";

export interface BackupRun {
  startedAt: number;
  finishedAt?: number;
  ok?: boolean;
  message?: string;
}

const KIND_LABEL: Record<SyncOutcome["kind"], string> = {
  normal: "Normal sync",
  full_upload: "Full upload",
  full_download: "Full download",
  media: "Media sync",
};

/** Fixed messages for ?done=..., so a link cannot make the page say anything else. */
export const NOTICES: Record<string, string> = {
  revoked: "Device revoked: its next sync is refused and it must log in again.",
  "not-found": "No such device (already revoked?). Nothing was changed.",
  "backup-started": "Backup started. Reload this page to see when it is done.",
  "backup-busy": "A backup is already running.",
};

function when(ms: number | null | undefined, now: number): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">never</span>`;
  return html`${formatTime(ms)} <span class="muted">(${formatAgo(ms, now)})</span>`;
}

function backupSection(server: ServerStatus, lastRun: BackupRun | undefined, now: number): Html {
  if (server.backupDir === undefined) {
    return html`<p class="muted">No backup folder configured (<code>--backup-dir</code>): the last backup and "back up now" need it.</p>`;
  }
  const state = server.backup;
  let last: Html;
  if (!state || state.kind === "none") last = html`<span class="bad">no backup yet</span>`;
  else if (state.kind === "unreadable") last = html`<span class="bad">cannot read the backup folder: ${state.reason}</span>`;
  else {
    const b = state.last;
    last = html`${when(b.takenAt, now)}, ${formatBytes(b.bytes)}, ${b.users} user${b.users === 1 ? "" : "s"}, ${(b.durationMs / 1000).toFixed(1)} s,
      ${b.verified ? html`<span class="ok">every copy integrity-checked</span>` : html`<span class="bad">incomplete for ${b.failedUsers.join(", ")}</span>`}`;
  }
  const run = lastRun?.finishedAt === undefined
    ? lastRun
      ? html`<p>Backup running since ${formatTime(lastRun.startedAt)}…</p>`
      : html``
    : html`<p>Last backup from this page: ${lastRun.ok ? html`<span class="ok">done</span>` : html`<span class="bad">failed</span>`} ${formatTime(lastRun.finishedAt)}${lastRun.message ? html` (${lastRun.message})` : html``}</p>`;
  return html`<p>Last backup: ${last}</p>${run}
    <p><a class="button" href="/admin/backup">Back up now…</a></p>`;
}

function syncRows(user: UserStatus, now: number): Html {
  if (user.syncs.length === 0) return html`<p class="muted">No sync recorded yet.</p>`;
  const rows = user.syncs.map(
    (s) => html`<tr><td>${KIND_LABEL[s.kind]}</td><td>${when(s.at, now)}</td>
      <td>${s.ok ? html`<span class="ok">ok</span>` : html`<span class="bad">failed (HTTP ${s.status})</span>`}</td>
      <td class="hide-narrow">${s.ok ? "" : html`last ok: ${when(s.lastOkAt, now)}`}</td></tr>`,
  );
  return html`<div class="scroll"><table class="stack"><tr><th>Last</th><th>When</th><th>Result</th><th class="hide-narrow"></th></tr>${rows}</table></div>`;
}

function deviceRows(user: UserStatus, now: number): Html {
  if (user.devices.length === 0) return html`<p class="muted">No logged-in devices.</p>`;
  const rows = user.devices.map(
    (d) => html`<tr><td><code>${d.id}</code></td><td>${d.clientVersion || "-"}</td><td>${d.address || "-"}</td>
      <td class="hide-narrow">${formatTime(d.created)}</td><td>${when(d.lastUsed, now)}</td>
      <td><a class="button danger" href="/admin/revoke?user=${encodeURIComponent(user.name)}&amp;device=${d.id}" aria-label="Revoke device ${d.id} of ${user.name}">Revoke…</a></td></tr>`,
  );
  return html`<div class="scroll"><table class="stack"><tr><th>Device</th><th>Client</th><th>Address</th><th class="hide-narrow">Logged in</th><th>Last used</th><th></th></tr>${rows}</table></div>`;
}

function userCard(user: UserStatus, now: number): Html {
  const counts =
    user.notes === null ? html`<span class="muted">${user.countsNote ?? "-"}</span>` : html`${user.notes} notes, ${user.cards} cards`;
  return html`<section class="card" id="user-${encodeURIComponent(user.name)}">
    <h3>${user.name}${user.active ? "" : html` <span class="muted">(no longer a user; data kept)</span>`}</h3>
    <div class="grid">
      <div><span>Collection</span>${user.collectionBytes === null ? "none yet" : formatBytes(user.collectionBytes)}</div>
      <div><span>Media</span>${formatBytes(user.mediaBytes)} in ${user.mediaFiles} files</div>
      <div><span>Contents</span>${counts}</div>
      <div><span>Devices</span>${user.devices.length}</div>
    </div>
    <h3 style="margin-top:10px">Syncs</h3>${syncRows(user, now)}
    <h3 style="margin-top:10px">Devices</h3>${deviceRows(user, now)}
  </section>`;
}

export function overviewPage(server: ServerStatus, users: UserStatus[], lastRun: BackupRun | undefined, notice: string | undefined, now = Date.now()): string {
  const failed = server.failedLogins.length === 0
    ? html`<p class="muted">None since the server started.</p>`
    : html`<div class="scroll"><table class="stack"><tr><th>When</th><th>Address</th><th>User</th><th>Reason</th></tr>${server.failedLogins.map(
        (f) => html`<tr><td>${formatTime(f.at)}</td><td>${f.address}</td><td>${f.user}</td><td>${f.reason}</td></tr>`,
      )}</table></div>`;
  const space = server.freeBytes === null ? "unknown" : `${formatBytes(server.freeBytes)} free of ${formatBytes(server.totalBytes ?? 0)}`;
  return page(
    `${SERVER_NAME} status`,
    html`<h1>${SERVER_NAME} status</h1>
    <p class="muted">As of ${formatTime(now)}. <a href="/admin">Reload</a></p>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : html``}
    <section class="card"><h2 style="margin-top:0">Server</h2>
      <div class="grid">
        <div><span>Version</span>${server.version}</div>
        <div><span>Up for</span>${formatDuration(now - server.startedAt)}</div>
        <div><span>Data folder</span>${space}</div>
        <div><span>Users</span>${users.length}</div>
      </div>
      ${backupSection(server, undefined === lastRun ? undefined : lastRun, now)}
    </section>
    <h2>Users</h2>
    ${users.length === 0 ? html`<p class="muted">No users.</p>` : users.map((u) => userCard(u, now))}
    <h2>Recent failed logins</h2>
    ${failed}`,
  );
}

function confirmPage(title: string, question: Html, action: string, fields: Record<string, string>, csrf: string, button: string): string {
  const hidden = Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return page(
    title,
    html`<h1>${title}</h1>
    <section class="card"><p>${question}</p>
    <form method="post" action="${action}">
      ${hidden}<input type="hidden" name="csrf" value="${csrf}">
      <button type="submit" class="danger">${button}</button>
      <a class="button" href="/admin">Cancel</a>
    </form></section>`,
  );
}

export function confirmRevokePage(user: string, device: { id: string; clientVersion: string; address: string; lastUsed: number }, csrf: string): string {
  return confirmPage(
    "Revoke a device",
    html`Revoke device <code>${device.id}</code> of <strong>${user}</strong> (${device.clientVersion || "unknown client"}, last used ${formatTime(device.lastUsed)} from ${device.address || "an unknown address"})?
      Its next sync is refused and it has to log in again with the password.`,
    "/admin/revoke",
    { user, device: device.id },
    csrf,
    "Revoke this device",
  );
}

export function confirmBackupPage(backupDir: string, csrf: string): string {
  return confirmPage(
    "Back up now",
    html`Take a snapshot of every user's collection and media into <code>${backupDir}</code> now? Users keep syncing while it runs; no retention is applied.`,
    "/admin/backup",
    {},
    csrf,
    "Back up now",
  );
}

export function messagePage(title: string, text: string): string {
  return page(title, html`<h1>${title}</h1><p>${text}</p><p><a href="/admin">Back to the status page</a></p>`);
}
