// The Grafana dashboard (grafana/anki-sync-server.json) may only query metric
// names the server really exports: the names come from scraping a running
// server's /metrics (with every optional family turned on), never from a list
// kept by hand.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../../src/app.js";
import { takeBackup } from "../../../src/backup/snapshot.js";
import { loadConfig } from "../../../src/config.js";
import { makeUser, tempRoot } from "../backup/helpers.js";

const DASHBOARD = join(__dirname, "../../../grafana/anki-sync-server.json");

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

let exported: Set<string>;
let running: RunningServer;
let cleanup: () => void;

/** Series names a scrape can contain: each family's name, plus _bucket/_sum/_count for histograms. */
function namesFromScrape(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === "histogram" || type === "summary") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name! + suffix);
  }
  // and every sample line's name, in case a family lacks a TYPE line
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) names.add(m[1]!);
  return names;
}

/** Metric names in a PromQL expression: ours and the process_* ones (functions, labels and keywords are not of that shape). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:anki_sync|process)_[a-zA-Z0-9_:]*)\b/g)].map((m) => m[1]!);
}

beforeAll(async () => {
  const root = tempRoot();
  cleanup = root.cleanup;
  const base = join(root.root, "data");
  const to = join(root.root, "backups");
  makeUser(base, "alice", { "a.jpg": Buffer.from("jpeg") });
  await takeBackup({ base, to });
  const config = loadConfig({ host: "127.0.0.1", port: "0", base, metricsUserSizes: true, backupDir: to }, { SYNC_USER1: "alice:secret" });
  running = await startServer(config);
  const url = `http://127.0.0.1:${running.port}`;
  await fetch(`${url}/health`);
  exported = namesFromScrape(await (await fetch(`${url}/metrics`)).text());
});

afterAll(async () => {
  await running.close();
  cleanup();
});

describe("Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Panel[]; templating: { list: unknown[] } };

  it("queries only metric names a running server exports", () => {
    const used = new Set(metricNames(JSON.stringify(dashboard)));
    expect(used.size).toBeGreaterThan(10);
    const unknown = [...used].filter((name) => !exported.has(name));
    expect(unknown, `not exported by the server: ${unknown.join(", ")}`).toEqual([]);
  });

  it("gives every panel a query, and covers what an operator asks about", () => {
    const panels = dashboard.panels.filter((p) => p.type !== "row");
    for (const panel of panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) expect(metricNames(t.expr).length, `${panel.title}: ${t.expr}`).toBeGreaterThan(0);
    }
    const used = new Set(metricNames(JSON.stringify(dashboard)));
    for (const family of [
      "anki_sync_http_requests_total",
      "anki_sync_http_request_duration_seconds_bucket",
      "anki_sync_sync_duration_seconds_bucket",
      "anki_sync_logins_total",
      "anki_sync_http_received_bytes_total",
      "anki_sync_http_sent_bytes_total",
      "anki_sync_active_syncs",
      "anki_sync_user_collection_bytes",
      "anki_sync_user_media_bytes",
      "anki_sync_last_backup_timestamp_seconds",
      "anki_sync_build_info",
    ]) {
      expect(used.has(family), family).toBe(true);
    }
  });

  it("notices a metric the server does not export (the check can fail)", () => {
    expect(metricNames('rate(anki_sync_requests_total{instance=~"$instance"}[5m])').filter((n) => !exported.has(n))).toEqual(["anki_sync_requests_total"]);
  });
});
