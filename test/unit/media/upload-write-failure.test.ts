// A batch's temp files are written all at once on the thread pool
// (src/media/zip-in.ts). When one of them cannot be written (disk full),
// the batch is refused and no temp file is left behind, including files
// whose creation was still in flight when the first one failed.
import { readdirSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HttpError } from "../../../src/protocol/errors.js";
import { readUploadZip } from "../../../src/media/zip-in.js";
import { tempUserDir, uploadZip } from "./helpers.js";

// open() of node:fs/promises, with the third creation of a temp file failing
// at once while the others are held back, so they complete after it.
let failNth = 0;
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  let creations = 0;
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      if (args[1] === "wx" && failNth > 0) {
        creations++;
        if (creations === failNth) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      return real.open(...args);
    },
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempUserDir());
});
afterEach(() => {
  failNth = 0;
  cleanup();
});

describe("a temp file that cannot be written", () => {
  it("refuses the batch and leaves no temp file, even from writes still in flight", async () => {
    const files: [string, Buffer][] = Array.from({ length: 8 }, (_, i) => [`f${i}.jpg`, Buffer.alloc(1000, i)]);
    const zip = await uploadZip(files);
    failNth = 3;
    const refused = readUploadZip(zip, dir);
    await expect(refused).rejects.toSatisfy((err) => err instanceof HttpError || (err as NodeJS.ErrnoException).code === "ENOSPC");
    // Give any straggler time to land.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(readdirSync(dir).filter((n) => n.startsWith(".media-"))).toEqual([]);
  });

  it("writes every file of a good batch", async () => {
    const zip = await uploadZip([["a.jpg", Buffer.from("aa")], ["b.jpg", Buffer.from("bbb")]]);
    const changes = await readUploadZip(zip, dir);
    expect(changes.map((c) => (c.kind === "file" ? [c.name, c.size] : [c.name]))).toEqual([["a.jpg", 2], ["b.jpg", 3]]);
    expect(readdirSync(dir).filter((n) => n.startsWith(".media-"))).toHaveLength(2);
  });
});
