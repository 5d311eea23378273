// Per-route budgets, the JSON structure counter, the disk reserve setting and
// the start-up sweep.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JsonTokenCounter, MAX_JSON_TOKENS, SMALL_BODY_BYTES, routeBudget, wireLimit } from "../../../src/http/budgets.js";
import { ConfigError, parseDiskReserve } from "../../../src/config.js";
import { DiskFullError, DiskSpace } from "../../../src/disk-space.js";
import { sweepLeftovers } from "../../../src/sweep.js";

const settings = { collectionBytes: 300 * 1024 * 1024, chunkBytes: 32 * 1024 * 1024 };

describe("route budgets", () => {
  it("gives small routes 4 MiB and 20 000 values, chunks the chunk limit, uploads the collection limit", () => {
    for (const name of ["meta", "finish", "abort", "sanityCheck2", "chunk", "download"]) expect(routeBudget("sync", name, settings)).toEqual({ bytes: SMALL_BODY_BYTES, jsonTokens: 20_000 });
    expect(routeBudget("sync", "applyChunk", settings)).toEqual({ bytes: settings.chunkBytes, jsonTokens: MAX_JSON_TOKENS });
    expect(routeBudget("sync", "applyChanges", settings).bytes).toBe(settings.chunkBytes);
    expect(routeBudget("sync", "upload", settings)).toEqual({ bytes: settings.collectionBytes });
    expect(routeBudget("msync", "begin", settings).bytes).toBe(SMALL_BODY_BYTES);
    expect(routeBudget("msync", "uploadChanges", settings).jsonTokens).toBeUndefined();
    // never above the collection limit, whatever --max-chunk-megs says
    expect(routeBudget("sync", "applyChunk", { collectionBytes: 3 * 1024 * 1024, chunkBytes: 32 * 1024 * 1024 }).bytes).toBe(3 * 1024 * 1024);
    expect(wireLimit({ bytes: 1024 * 1024 })).toBeGreaterThan(1024 * 1024);
  });
});

describe("JsonTokenCounter", () => {
  it("counts containers and commas outside strings, across chunk boundaries", () => {
    const c = new JsonTokenCounter(100);
    expect(c.add(Buffer.from('{"a":[1,2,'))).toBe(true);
    expect(c.add(Buffer.from('3],"b":"x,[{\\",]"}'))).toBe(true);
    // { [ , , , (after ]) -- the string's , [ { and escaped quote are not counted
    expect(c.count).toBe(5);
  });

  it("refuses a structure-dense body once past the limit", () => {
    const c = new JsonTokenCounter(1000);
    expect(c.add(Buffer.from("[1],".repeat(400)))).toBe(true);
    expect(c.add(Buffer.from("[1],".repeat(200)))).toBe(false);
  });
});

describe("disk reserve", () => {
  it("parses MiB, percentages and both", () => {
    expect(parseDiskReserve("1024")).toEqual({ bytes: 1024 * 1024 * 1024 });
    expect(parseDiskReserve("5%")).toEqual({ percent: 5 });
    expect(parseDiskReserve("512, 2.5%")).toEqual({ bytes: 512 * 1024 * 1024, percent: 2.5 });
    expect(() => parseDiskReserve("lots")).toThrow(ConfigError);
    expect(() => parseDiskReserve("95%")).toThrow(ConfigError);
  });

  it("refuses a write that would eat into the reserve with 507", () => {
    const dir = mkdtempSync(join(tmpdir(), "disk-reserve-"));
    try {
      const everything = new DiskSpace(dir, { percent: 90 });
      const { free, reserve } = everything.status();
      expect(reserve).toBeGreaterThan(0);
      const err = (() => {
        try {
          everything.ensure(free, "test");
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DiskFullError);
      expect((err as DiskFullError).status).toBe(507);
      expect((err as Error).message).toMatch(/^disk full/);
      expect(() => new DiskSpace(dir, { bytes: 0 }).ensure(1, "test")).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("start-up sweep", () => {
  let base: string | undefined;
  afterEach(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it("removes every leftover kind and keeps what a pending media batch owns", () => {
    base = mkdtempSync(join(tmpdir(), "sweep-"));
    mkdirSync(join(base, ".legacy-incoming"));
    writeFileSync(join(base, ".legacy-incoming", "abc.part"), "x");
    mkdirSync(join(base, "alice"));
    const media = ".media-upload-" + "ab".repeat(16) + ".tmp";
    for (const name of [".incoming-0123456789ab.tmp", media, ".collection.anki2.123.0123456789ab.tmp", "collection.anki2"]) writeFileSync(join(base, "alice", name), "x");
    mkdirSync(join(base, "bob"));
    writeFileSync(join(base, "bob", "media-pending.json"), "{}");
    writeFileSync(join(base, "bob", media), "x");
    const counts = sweepLeftovers(base);
    expect(counts).toEqual({ legacySpool: 1, incoming: 1, mediaStaging: 1, newCollection: 1 });
    expect(readdirSync(join(base, ".legacy-incoming"))).toEqual([]);
    expect(readdirSync(join(base, "alice"))).toEqual(["collection.anki2"]);
    expect(readdirSync(join(base, "bob")).sort()).toEqual([media, "media-pending.json"].sort());
  });
});
