// writePayloadToFile (src/http/envelope.ts): a file route's body goes to a
// spool file, except that a transient route may keep a small one in memory
// (media upload batches), spilling to the file once it passes the size.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compress } from "zstd-napi";
import { writePayloadToFile } from "../../../src/http/envelope.js";
import type { BodyLimits } from "../../../src/protocol/types.js";
import { DiskFullError } from "../../../src/disk-space.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "spool-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const limits: BodyLimits = { compressed: 64 * 1024 * 1024, decompressed: 64 * 1024 * 1024 };

/** A request whose zstd body arrives in pieces of about 16 KiB, as from a socket. */
function request(payload: Buffer): IncomingMessage {
  const frame = compress(payload);
  const pieces: Buffer[] = [];
  for (let i = 0; i < frame.length; i += 16384) pieces.push(frame.subarray(i, i + 16384));
  return Readable.from(pieces) as unknown as IncomingMessage;
}

describe("writePayloadToFile", () => {
  it("keeps a transient payload up to keepInMemoryUpTo in memory and creates no file", async () => {
    const payload = randomBytes(3 * 1024 * 1024);
    const path = join(dir, "body");
    const got = await writePayloadToFile(request(payload), limits, path, { transient: true, keepInMemoryUpTo: 4 * 1024 * 1024 });
    expect(got.bytes).toBe(payload.length);
    expect(got.tooLarge).toBe(false);
    expect(got.data?.equals(payload)).toBe(true);
    expect(existsSync(path)).toBe(false);
  });

  it("spills a larger payload to the file, whole and in order, and returns no data", async () => {
    const payload = randomBytes(5 * 1024 * 1024 + 123);
    const path = join(dir, "body");
    const got = await writePayloadToFile(request(payload), limits, path, { transient: true, keepInMemoryUpTo: 4 * 1024 * 1024 });
    expect(got.data).toBeUndefined();
    expect(got.bytes).toBe(payload.length);
    expect(readFileSync(path).equals(payload)).toBe(true);
  });

  it("writes a file for a route that is not transient, whatever keepInMemoryUpTo says", async () => {
    const payload = randomBytes(1000);
    const path = join(dir, "body");
    const got = await writePayloadToFile(request(payload), limits, path, { keepInMemoryUpTo: 4 * 1024 * 1024 });
    expect(got.data).toBeUndefined();
    expect(readFileSync(path).equals(payload)).toBe(true);
  });

  it("an empty transient body is empty data; without the option, an empty file", async () => {
    const inMemory = await writePayloadToFile(Readable.from([]) as unknown as IncomingMessage, limits, join(dir, "a"), { transient: true, keepInMemoryUpTo: 1024 });
    expect(inMemory.data?.length).toBe(0);
    expect(existsSync(join(dir, "a"))).toBe(false);
    const onDisk = await writePayloadToFile(Readable.from([]) as unknown as IncomingMessage, limits, join(dir, "b"), { transient: true });
    expect(onDisk.data).toBeUndefined();
    expect(readFileSync(join(dir, "b")).length).toBe(0);
  });

  it("reports a payload past the decompressed limit as too large in either mode", async () => {
    const payload = randomBytes(200_000);
    const small: BodyLimits = { compressed: limits.compressed, decompressed: 100_000 };
    const inMemory = await writePayloadToFile(request(payload), small, join(dir, "a"), { transient: true, keepInMemoryUpTo: 1024 * 1024 });
    expect(inMemory.tooLarge).toBe(true);
    const onDisk = await writePayloadToFile(request(payload), small, join(dir, "b"), { transient: true });
    expect(onDisk.tooLarge).toBe(true);
  });

  it("counts a payload kept in memory against the free-space reserve (507 below it, no file)", async () => {
    const seen: number[] = [];
    const disk: BodyLimits["disk"] = {
      writer: () => (bytes: number) => {
        seen.push(bytes);
        if (seen.reduce((a, b) => a + b, 0) > 1_000_000) throw new DiskFullError("upload: below the reserve");
      },
    };
    const path = join(dir, "body");
    const refused = writePayloadToFile(request(randomBytes(2_000_000)), { ...limits, disk }, path, { transient: true, keepInMemoryUpTo: 4 * 1024 * 1024 });
    await expect(refused).rejects.toMatchObject({ status: 507 });
    expect(existsSync(path)).toBe(false);
  });
});
