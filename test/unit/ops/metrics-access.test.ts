// --metrics-allow: /metrics only for the listed addresses; /health and the
// sync routes stay open to everyone.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServer } from "../../../src/app.js";
import { ConfigError, loadConfig } from "../../../src/config.js";
import { setLogLevel } from "../../../src/log.js";
import { metricsAccess } from "../../../src/ops/metrics-access.js";

setLogLevel("error");
let cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function serve(flags: { metricsAllow?: string[] }, env: Record<string, string> = {}): Promise<string> {
  const base = mkdtempSync(join(tmpdir(), "anki-metrics-allow-"));
  cleanups.push(() => rmSync(base, { recursive: true, force: true }));
  const running = await startServer(loadConfig({ host: "127.0.0.1", port: "0", base, ...flags }, { SYNC_USER1: "a:b", ...env }));
  cleanups.push(() => running.close());
  return `http://127.0.0.1:${running.port}`;
}

describe("--metrics-allow", () => {
  it("matches addresses and ranges of both families", () => {
    const allowed = metricsAccess(["127.0.0.1", "10.0.0.0/8", "fd7a:115c:a1e0::/48"]);
    expect(allowed("127.0.0.1")).toBe(true);
    expect(allowed("::ffff:127.0.0.1")).toBe(true);
    expect(allowed("10.200.3.4")).toBe(true);
    expect(allowed("fd7a:115c:a1e0::53")).toBe(true);
    expect(allowed("192.168.1.2")).toBe(false);
    expect(allowed("::1")).toBe(false);
    expect(allowed("")).toBe(false);
  });

  it("refuses /metrics to other addresses with 403 and keeps /health open", async () => {
    const url = await serve({ metricsAllow: ["192.0.2.0/24"] });
    expect((await fetch(`${url}/metrics`)).status).toBe(403);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  it("serves /metrics to a listed address (from the environment too)", async () => {
    const url = await serve({}, { SYNC_METRICS_ALLOW: "::1 127.0.0.0/8" });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("anki_sync_build_info");
  });

  it("rejects an entry that is not an address", () => {
    expect(() => loadConfig({ metricsAllow: ["localhost"] }, { SYNC_USER1: "a:b" })).toThrow(ConfigError);
  });
});
