import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { compress } from "zstd-napi";
import { zstdDecode, zstdDecodeReusing } from "../../../src/http/envelope.js";

type Decoder = (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>;

// zstdDecodeReusing hands out views of one buffer: copy each before the next.
// A small buffer (64 KiB) puts its boundaries at awkward places too.
const decoders: [string, Decoder][] = [
  ["zstdDecode", zstdDecode],
  ["zstdDecodeReusing", (source) => zstdDecodeReusing(source, Buffer.alloc(65536))],
];

async function decodeWith(decode: Decoder, chunks: Buffer[]): Promise<Buffer> {
  async function* source() {
    yield* chunks;
  }
  const out: Buffer[] = [];
  for await (const piece of decode(source())) out.push(Buffer.from(piece));
  return Buffer.concat(out);
}

function split(data: Buffer, sizes: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = sizes();
    chunks.push(data.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

describe.each(decoders)("%s", (_name, decode) => {
  const decodeAll = (chunks: Buffer[]) => decodeWith(decode, chunks);

  // Regression: a frame whose last output exactly filled the 128 KiB output
  // buffer was reported as truncated (seen with real client uploads).
  it.each([65536, 131072, 2 * 131072, 131072 + 1, 131072 - 1])("decodes a frame of %i bytes ending on the output-buffer boundary", async (size) => {
    const data = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size - Math.floor(size / 2), 9)]);
    const frame = compress(data);
    expect((await decodeAll([frame])).equals(data)).toBe(true);
    expect((await decodeAll(split(frame, () => 1460))).equals(data)).toBe(true);
  });

  it("decodes whatever the chunk boundaries", async () => {
    const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(900_000, 1)]);
    const frame = compress(data);
    for (let round = 0; round < 50; round++) {
      const decoded = await decodeAll(split(frame, () => 1 + Math.floor(Math.random() * 5000)));
      expect(decoded.equals(data)).toBe(true);
    }
  });

  it("accepts concatenated frames and rejects a truncated one", async () => {
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    expect((await decodeAll([compress(a), compress(b)])).equals(Buffer.concat([a, b]))).toBe(true);
    await expect(decodeAll([compress(b).subarray(0, 50)])).rejects.toThrow(/middle of a zstd frame/);
  });
});
