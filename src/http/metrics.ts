// /metrics: counters and histograms in the Prometheus text exposition format
// (version 0.0.4). Aggregates only; per-user sizes (which name users) only
// when the operator turns them on.
//
//   anki_sync_http_requests_total{route,status}         counter
//   anki_sync_http_request_duration_seconds{route}      histogram
//   anki_sync_http_requests_in_flight                   gauge
//   anki_sync_http_received_bytes_total{route}          counter (request bytes, headers included)
//   anki_sync_http_sent_bytes_total{route}              counter (response bytes, headers included)
//   anki_sync_logins_total{result}                      counter: ok, rejected, throttled, busy, error
//   anki_sync_login_duration_seconds                    histogram
//   anki_sync_syncs_total{kind}                         counter: normal, full_upload, full_download, media
//   anki_sync_sync_duration_seconds{kind}               histogram (normal: start..finish; full: the transfer)
//   anki_sync_active_syncs                              gauge: normal syncs between start and finish/abort
//   anki_sync_user_collection_bytes{user}               gauge (optional)
//   anki_sync_user_media_bytes{user}, ..._media_files{user}  gauge (optional)
//   anki_sync_last_backup_timestamp_seconds, ..._size_bytes, ..._duration_seconds, ..._complete
//                                                       gauges (with --backup-dir; see src/ops/backup-status.ts)
//   anki_sync_build_info{version,nodejs}                gauge, always 1
//   process_start_time_seconds, process_resident_memory_bytes
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { COLLECTION_FILE, userDir } from "../data-folder.js";
import { MediaDb } from "../media/db.js";
import { VERSION } from "../ops/version.js";

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

class Histogram {
  readonly counts = DURATION_BUCKETS.map(() => 0);
  sum = 0;
  count = 0;

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (value <= DURATION_BUCKETS[i]!) this.counts[i]!++;
  }

  lines(name: string, labels: Record<string, string>): string[] {
    const out = DURATION_BUCKETS.map((le, i) => `${name}_bucket${labelText({ ...labels, le: formatNumber(le) })} ${this.counts[i]}`);
    out.push(`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${this.count}`);
    out.push(`${name}_sum${labelText(labels)} ${this.sum}`);
    out.push(`${name}_count${labelText(labels)} ${this.count}`);
    return out;
  }
}

/** Counters keyed by a label set. */
class Family<T> {
  private readonly entries = new Map<string, { labels: Record<string, string>; value: T }>();
  constructor(private readonly make: () => T) {}

  get(labels: Record<string, string>): T {
    const key = JSON.stringify(labels);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { labels, value: this.make() };
      this.entries.set(key, entry);
    }
    return entry.value;
  }

  all(): { labels: Record<string, string>; value: T }[] {
    return [...this.entries.values()].sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
  }
}

export interface RequestRecord {
  /** A known route ("/sync/meta", "/msync/begin", "/health", ...) or "other". */
  route: string;
  status: number;
  seconds: number;
  bytesIn: number;
  bytesOut: number;
  user?: string;
}

export interface MetricsOptions {
  /** Data folder, for per-user sizes. */
  base: string;
  /** Export per-user collection and media sizes (labels carry user names). */
  userSizes: boolean;
  /** Users whose files must not be opened now (a restore or reset is swapping them). */
  skipUser?: (name: string) => boolean;
  /** Normal syncs in progress, as the user registry knows them. */
  activeSessions?: () => number;
  /** With --backup-dir: the anki_sync_last_backup_* lines. */
  backupLines?: () => string[];
}

export class Metrics {
  private readonly requests = new Family(() => ({ n: 0 }));
  private readonly durations = new Family(() => new Histogram());
  private readonly received = new Family(() => ({ n: 0 }));
  private readonly sent = new Family(() => ({ n: 0 }));
  private readonly logins = new Family(() => ({ n: 0 }));
  private readonly loginDuration = new Histogram();
  private readonly syncs = new Family(() => ({ n: 0 }));
  private readonly syncDurations = new Family(() => new Histogram());
  private inFlight = 0;
  private sizeCache: { at: number; lines: string[] } | undefined;
  private readonly startTime = Date.now() / 1000;

  constructor(private readonly options: MetricsOptions) {
    // Always present, so dashboards see zeros rather than gaps.
    for (const kind of ["normal", "full_upload", "full_download", "media"]) this.syncs.get({ kind });
    for (const result of ["ok", "rejected"]) this.logins.get({ result });
  }

  get inFlightRequests(): number {
    return this.inFlight;
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(r: RequestRecord): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const route = r.route;
    this.requests.get({ route, status: String(r.status) }).n++;
    this.durations.get({ route }).observe(r.seconds);
    this.received.get({ route }).n += r.bytesIn;
    this.sent.get({ route }).n += r.bytesOut;

    if (route === "/sync/hostKey") {
      const result = r.status === 200 ? "ok" : r.status === 403 ? "rejected" : r.status === 429 ? "throttled" : r.status === 503 ? "busy" : "error";
      this.logins.get({ result }).n++;
      this.loginDuration.observe(r.seconds);
      return;
    }
    const ok = r.status === 200;
    if (route === "/sync/upload" && ok) this.countFull("full_upload", r.seconds);
    if (route === "/sync/download" && ok) this.countFull("full_download", r.seconds);
    if (route === "/msync/mediaSanity" && ok) this.syncs.get({ kind: "media" }).n++;
  }

  /** A normal sync committed (the user registry tells, at `finish`): `startedAt` is when its `start` ran. */
  sessionCommitted(startedAt: number, now = Date.now()): void {
    this.syncs.get({ kind: "normal" }).n++;
    this.syncDurations.get({ kind: "normal" }).observe((now - startedAt) / 1000);
  }

  private countFull(kind: string, seconds: number): void {
    this.syncs.get({ kind }).n++;
    this.syncDurations.get({ kind }).observe(seconds);
  }

  activeSyncs(): number {
    return this.options.activeSessions?.() ?? 0;
  }

  render(): string {
    const out: string[] = [];
    const counter = (name: string, help: string, family: Family<{ n: number }>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const { labels, value } of family.all()) out.push(`${name}${labelText(labels)} ${value.n}`);
    };
    const histograms = (name: string, help: string, family: Family<Histogram>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const { labels, value } of family.all()) out.push(...value.lines(name, labels));
    };
    const gauge = (name: string, help: string, value: number) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${formatNumber(value)}`);

    counter("anki_sync_http_requests_total", "HTTP requests by route and status.", this.requests);
    histograms("anki_sync_http_request_duration_seconds", "HTTP request durations by route.", this.durations);
    gauge("anki_sync_http_requests_in_flight", "HTTP requests being answered.", this.inFlight);
    counter("anki_sync_http_received_bytes_total", "Bytes received (headers included) by route.", this.received);
    counter("anki_sync_http_sent_bytes_total", "Bytes sent (headers included) by route.", this.sent);
    counter("anki_sync_logins_total", "Login attempts by result.", this.logins);
    out.push("# HELP anki_sync_login_duration_seconds Login request durations.", "# TYPE anki_sync_login_duration_seconds histogram");
    out.push(...this.loginDuration.lines("anki_sync_login_duration_seconds", {}));
    counter("anki_sync_syncs_total", "Completed syncs by kind.", this.syncs);
    histograms("anki_sync_sync_duration_seconds", "Sync durations by kind (normal: start to finish; full: the transfer).", this.syncDurations);
    gauge("anki_sync_active_syncs", "Normal syncs in progress.", this.activeSyncs());
    if (this.options.userSizes) out.push(...this.userSizeLines());
    if (this.options.backupLines) out.push(...this.options.backupLines());
    out.push(
      "# HELP anki_sync_build_info The running server's version (always 1).",
      "# TYPE anki_sync_build_info gauge",
      `anki_sync_build_info${labelText({ version: VERSION, nodejs: process.version })} 1`,
    );
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", Math.floor(this.startTime));
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", process.memoryUsage.rss());
    return out.join("\n") + "\n";
  }

  /** Per-user sizes, recomputed at most once a minute (they need a directory scan). */
  private userSizeLines(now = Date.now()): string[] {
    if (this.sizeCache && now - this.sizeCache.at < 60_000) return this.sizeCache.lines;
    const col: string[] = [];
    const mediaBytes: string[] = [];
    const mediaFiles: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(this.options.base).filter((n) => !n.startsWith("."));
    } catch {
      // the health check reports an unreadable data folder
    }
    for (const name of names.sort()) {
      if (this.options.skipUser?.(name)) continue;
      const dir = userDir(this.options.base, name);
      let colBytes = 0;
      try {
        if (!statSync(dir).isDirectory()) continue;
        for (const suffix of ["", "-wal"]) colBytes += statSync(join(dir, `${COLLECTION_FILE}${suffix}`), { throwIfNoEntry: false })?.size ?? 0;
      } catch {
        continue;
      }
      const label = labelText({ user: name });
      col.push(`anki_sync_user_collection_bytes${label} ${colBytes}`);
      const media = readMediaTotals(dir);
      mediaBytes.push(`anki_sync_user_media_bytes${label} ${media.bytes}`);
      mediaFiles.push(`anki_sync_user_media_files${label} ${media.files}`);
    }
    const lines = [
      "# HELP anki_sync_user_collection_bytes Size of the user's collection file (with its WAL).",
      "# TYPE anki_sync_user_collection_bytes gauge",
      ...col,
      "# HELP anki_sync_user_media_bytes Bytes of the user's media, as media.db counts them.",
      "# TYPE anki_sync_user_media_bytes gauge",
      ...mediaBytes,
      "# HELP anki_sync_user_media_files Number of the user's media files, as media.db counts them.",
      "# TYPE anki_sync_user_media_files gauge",
      ...mediaFiles,
    ];
    this.sizeCache = { at: now, lines };
    return lines;
  }
}

export function readMediaTotals(dir: string): { bytes: number; files: number } {
  try {
    return MediaDb.readTotals(dir);
  } catch {
    return { bytes: 0, files: 0 };
  }
}
