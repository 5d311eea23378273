// Browser test of the status page in real headless Chromium (Debian's
// `chromium` package, driven by playwright-core; no browser is ever
// downloaded): log in, see the user a real Anki client just synced, revoke
// that device and watch the client's next sync be refused, back up now.
// Screenshots go to test/browser/artifacts/ (git-ignored); with
// UPDATE_DOCS_SCREENSHOT=1 the overview also goes to docs/admin-status-page.png.
//
//   node test/browser/admin-page.mjs      (after npm run build; needs .venv and chromium)
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ARTIFACTS = join(ROOT, "test/browser/artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PYTHON = process.env.INTEROP_PYTHON ?? join(ROOT, ".venv/bin/python");
const ADMIN_PASSWORD = "browser-test admin password";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let passed = 0;
function step(name) {
  passed++;
  process.stdout.write(`ok ${passed} - ${name}\n`);
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function waitHealthy(url, proc, log) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}):\n${log.join("")}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not healthy in time:\n${log.join("")}`);
}

function ankiClient(command, url, folder) {
  const res = spawnSync(PYTHON, [join(ROOT, "test/browser/anki_client.py"), command, `${url}/`, folder], { encoding: "utf8", timeout: 120_000 });
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

async function main() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium`);
  assert.ok(existsSync(join(ROOT, "dist/cli/main.js")), "dist/ missing: npm run build");
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "anki-admin-browser-"));
  const base = join(work, "data");
  const backups = join(work, "backups");
  const clientFolder = join(work, "client");
  mkdirSync(clientFolder);
  const passwordFile = join(work, "admin-password");
  writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SYNC_"))), SYNC_USER1: "alice:alicepass", SYNC_USER2: "bob:bobpass" };
  const log = [];
  const server = spawn(
    process.execPath,
    [join(ROOT, "dist/cli/main.js"), "serve", "--host", "127.0.0.1", "--port", String(port), "--base", base, "--admin-password-file", passwordFile, "--backup-dir", backups],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  server.stdout.on("data", (d) => log.push(String(d)));
  server.stderr.on("data", (d) => log.push(String(d)));
  const contexts = [];
  try {
    await waitHealthy(url, server, log);

    const first = ankiClient("first", url, clientFolder);
    assert.equal(first.status, 0, first.out);
    step("a real Anki client logged in as alice and synced (full upload, then a normal sync)");

    const launch = async (name, options = {}) => {
      const ctx = await chromium.launchPersistentContext(join(work, `profile-${name}`), {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1100, height: 900 },
        ...options,
      });
      contexts.push(ctx);
      return ctx;
    };

    // Without credentials, or with wrong ones: 401 and the Basic challenge
    // (asked through the browser's own network stack: a headless browser has
    // no login dialog, a navigation to a 401 just fails).
    const anonymous = await launch("anonymous");
    const refused = await anonymous.request.get(`${url}/admin`);
    assert.equal(refused.status(), 401);
    assert.match(refused.headers()["www-authenticate"] ?? "", /^Basic /);
    const wrongAuth = `Basic ${Buffer.from("admin:not it").toString("base64")}`;
    assert.equal((await anonymous.request.get(`${url}/admin`, { headers: { authorization: wrongAuth } })).status(), 401);
    step("without the admin password the page answers 401");

    // Logged in.
    const admin = await launch("admin", { httpCredentials: { username: "admin", password: ADMIN_PASSWORD } });
    const page = admin.pages()[0] ?? (await admin.newPage());
    const overview = await page.goto(`${url}/admin`);
    assert.equal(overview.status(), 200);
    const alice = page.locator("section#user-alice");
    await alice.waitFor();
    const aliceText = await alice.innerText();
    assert.match(aliceText, /Normal sync\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC \(just now\)\s+ok/);
    assert.match(aliceText, /Full upload\s+.*\s+ok/);
    assert.match(aliceText, /4 notes, 4 cards/);
    assert.match(aliceText, /,linux\s+127\.0\.0\.1/);
    const bobText = await page.locator("section#user-bob").innerText();
    assert.match(bobText, /No logged-in devices/);
    const html = await page.content();
    const hkey = (await import("node:fs")).readFileSync(join(clientFolder, "hkey"), "utf8").trim();
    for (const secret of [hkey, "alicepass", "bobpass", ADMIN_PASSWORD]) assert.ok(!html.includes(secret), "a secret is on the page");
    await page.screenshot({ path: join(ARTIFACTS, "admin-overview.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, "admin-overview-phone.png"), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    await page.setViewportSize({ width: 1100, height: 900 });
    step("logged in, the page shows alice's device, her syncs and counts, and no secret; it fits a phone screen");

    // Back up now, confirmed.
    await page.getByRole("link", { name: "Back up now…" }).click();
    await page.getByRole("button", { name: "Back up now" }).click();
    await page.waitForURL(/\/admin\?done=backup-started$/);
    const deadline = Date.now() + 60_000;
    for (;;) {
      await page.goto(`${url}/admin`);
      const text = await page.locator("body").innerText();
      if (/Last backup from this page: done/.test(text)) {
        assert.match(text, /Last backup: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(just now\), .*every copy integrity-checked/);
        break;
      }
      assert.ok(!/Last backup from this page: failed/.test(text), `backup failed:\n${text}`);
      assert.ok(Date.now() < deadline, "backup did not finish in a minute");
      await new Promise((r) => setTimeout(r, 300));
    }
    const snapshots = readdirSync(backups).filter((n) => /^\d{4}-\d\d-\d\dT\d{6}Z/.test(n));
    assert.equal(snapshots.length, 1);
    await page.screenshot({ path: join(ARTIFACTS, "admin-after-backup.png"), fullPage: true });
    step("took a backup from the page; it is in the backup folder and on the page");

    // Revoke alice's device, confirmed.
    await alice.getByRole("link", { name: /^Revoke device [0-9a-f]{12} of alice$/ }).click();
    await page.waitForURL(/\/admin\/revoke\?/);
    await page.getByRole("button", { name: "Revoke this device" }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "admin-revoke-confirm.png") });
    await page.getByRole("button", { name: "Revoke this device" }).click();
    await page.waitForURL(/\/admin\?done=revoked$/);
    assert.match(await page.locator("[role=status]").innerText(), /Device revoked/);
    assert.match(await page.locator("section#user-alice").innerText(), /No logged-in devices/);
    await page.screenshot({ path: join(ARTIFACTS, "admin-after-revoke.png"), fullPage: true });
    step("revoked alice's device through the confirmation page");

    const after = ankiClient("sync", url, clientFolder);
    assert.equal(after.status, 3, `the revoked device still syncs:\n${after.out}`);
    assert.match(after.out, /password was incorrect/i);
    step("the real client's next sync is refused");

    // A form posted without the page's token is refused.
    const forged = await page.request.post(`${url}/admin/backup`, { form: { csrf: "forged" }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    step("a POST without the page's CSRF token is refused");

    if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
      copyFileSync(join(ARTIFACTS, "admin-after-backup.png"), join(ROOT, "docs/admin-status-page.png"));
    }
    process.stdout.write(`1..${passed}\nscreenshots: ${readdirSync(ARTIFACTS).sort().join(", ")} in ${ARTIFACTS}\n`);
  } catch (err) {
    process.stdout.write(`not ok - ${err.stack ?? err}\n--- server log ---\n${log.join("")}\n`);
    process.exitCode = 1;
  } finally {
    for (const ctx of contexts) await ctx.close().catch(() => {});
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r() : server.once("exit", r)));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
