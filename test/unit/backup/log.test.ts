// Syslog priority prefixes when stderr is the journal.
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatLine, isJournalStream } from "../../../src/log.js";

const dir = mkdtempSync(join(tmpdir(), "anki-sync-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("priority prefixes", () => {
  it("map levels to syslog priorities", () => {
    expect(formatLine("error", "boom", { user: "a b" }, true)).toBe('<3>error boom user="a b"');
    expect(formatLine("warn", "w", {}, true)).toBe("<4>warn w");
    expect(formatLine("info", "listening", { port: 1 }, true)).toBe("<6>info listening port=1");
    expect(formatLine("debug", "d", {}, true)).toBe("<7>debug d");
    expect(formatLine("info", "plain", {}, false)).toBe("info plain");
  });

  it("recognise the journal by JOURNAL_STREAM's device:inode, not by the variable alone", () => {
    const fd = openSync(join(dir, "stream"), "w");
    const other = openSync(join(dir, "other"), "w");
    try {
      const st = fstatSync(fd, { bigint: true });
      const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
      expect(isJournalStream(env, fd)).toBe(true);
      expect(isJournalStream(env, other)).toBe(false);
      expect(isJournalStream({}, fd)).toBe(false);
      expect(isJournalStream({ JOURNAL_STREAM: "garbage" }, fd)).toBe(false);
    } finally {
      closeSync(fd);
      closeSync(other);
    }
  });
});
