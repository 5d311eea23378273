// The reply buffer pool: a buffer is reused only after it was given back, so
// two replies in flight never share memory; and what a client receives from
// pooled replies is exactly what was sent, batch after batch.
import { randomBytes } from "node:crypto";
import { type Server, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { decompress } from "zstd-napi";
import { BufferPool } from "../../../src/buffer-pool.js";
import { sendPayload } from "../../../src/http/envelope.js";

let servers: Server[] = [];
afterEach(() => {
  for (const s of servers) s.close();
  servers = [];
});

describe("BufferPool", () => {
  it("hands out a given-back buffer again, never one still in use", () => {
    const pool = new BufferPool();
    const a = pool.take(1000);
    const b = pool.take(1000);
    expect(a.buffer === b.buffer).toBe(false);
    expect(a.length).toBeGreaterThanOrEqual(1000);
    pool.give(a);
    expect(pool.take(500)).toBe(a);
    expect(pool.size).toBe(0);
    expect(pool.take(1000)).not.toBe(a);
  });

  it("keeps a few buffers, the larger ones first, and forgets them on clear", () => {
    const pool = new BufferPool();
    const sizes = [1, 2, 3, 4, 5].map((n) => n * 300_000);
    const taken = sizes.map((s) => pool.take(s));
    for (const b of taken) pool.give(b);
    expect(pool.size).toBe(4);
    expect(pool.take(5 * 300_000)).toBe(taken[4]);
    expect(pool.take(300_000)).not.toBe(taken[0]);
    pool.clear();
    expect(pool.size).toBe(0);
  });
});

describe("pooled replies", () => {
  it("delivers every large reply intact while earlier ones are still being sent", async () => {
    const payloads = Array.from({ length: 6 }, (_, i) => randomBytes(300_000 + i * 100_000));
    const released: number[] = [];
    const server = createServer((req, res) => {
      const i = Number(req.url?.slice(1));
      sendPayload(res, payloads[i]!, 1, () => released.push(i));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const fetchOne = (i: number) =>
      new Promise<Buffer>((resolve, reject) => {
        request({ port, host: "127.0.0.1", path: `/${i}` }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks)));
          res.on("error", reject);
        })
          .on("error", reject)
          .end();
      });
    for (let round = 0; round < 2; round++) {
      const bodies = await Promise.all(payloads.map((_, i) => fetchOne(i)));
      bodies.forEach((body, i) => expect(decompress(body).equals(payloads[i]!)).toBe(true));
    }
    expect(released.sort((a, b) => a - b)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  });
});
