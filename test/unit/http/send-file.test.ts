// sendFile: a file streamed as a zstd reply through a small pool of reused
// buffers. What a client sees: the same bytes back, the original size in the
// header; and a client that hangs up mid-file ends the send with an error
// (the caller logs it and frees the user's lock) instead of leaving it waiting.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decompress } from "zstd-napi";
import { sendFile } from "../../../src/http/envelope.js";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});

function fileOf(data: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), "send-file-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "collection.anki2");
  writeFileSync(path, data);
  return path;
}

function serve(path: string, size: number, outcome: (err: unknown) => void): Promise<number> {
  const server: Server = createServer((_req, res) => {
    sendFile(res, path, size).then(() => outcome(undefined), outcome);
  });
  cleanups.push(() => server.close());
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

describe("sendFile", () => {
  it.each([0, 1, 1024 * 1024, 5 * 1024 * 1024 + 12345])("sends a %i-byte file whole, zstd-compressed", async (size) => {
    // Half random, half repetitive: both compressible and incompressible stretches.
    const data = Buffer.concat([randomBytes(Math.floor(size / 2)), Buffer.alloc(size - Math.floor(size / 2), 7)]);
    let result: unknown = "pending";
    const port = await serve(fileOf(data), size, (err) => (result = err));
    const { header, body } = await new Promise<{ header: string | undefined; body: Buffer }>((resolve, reject) => {
      request({ port, host: "127.0.0.1", method: "POST" }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ header: res.headers["anki-original-size"] as string | undefined, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      }).end();
    });
    expect(header).toBe(String(size));
    expect(decompress(body).equals(data)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(result).toBeUndefined();
  });

  it("fails, without hanging, when the client hangs up in the middle", async () => {
    const size = 64 * 1024 * 1024;
    const path = fileOf(randomBytes(size));
    const ended = new Promise<unknown>((resolve) => {
      void serve(path, size, resolve).then((port) => {
        const req = request({ port, host: "127.0.0.1", method: "POST" }, (res) => {
          // Read a little, then go away: the server's buffers fill up behind the socket.
          res.once("data", () => req.destroy());
        });
        req.on("error", () => {});
        req.end();
      });
    });
    const err = await ended;
    expect(err).toBeInstanceOf(Error);
  });
});
