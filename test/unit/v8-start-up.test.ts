// Start-up mode (src/v8-start-up.ts): `serve` starts in it and leaves it once
// it listens, and the first login imports the handlers in it. What matters to
// a user: code that runs meanwhile stays in the interpreter and the young
// generation does not grow (nothing of it stays resident in an idle server),
// and afterwards hot code, including code that first ran in start-up mode,
// is optimized again and the young generation grows as usual, so syncs do not
// run slow.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enterStartUpMode, inStartUpMode, leaveStartUpMode } from "../../src/v8-start-up.js";

// Bits of %GetOptimizationStatus (V8's runtime-test.cc).
const TURBOFANNED = 1 << 6;
const BASELINE = 1 << 15;

type Probe = (f: (n: number) => number) => number;
let status: Probe;

let made = 0;
function makeHot(): (n: number) => number {
  // A new source text each time: V8 caches compiled functions (and their
  // optimized code) by source, so each test's function starts cold.
  made++;
  return new Function("n", `let s = ${made}; for (let i = 0; i < n; i++) s += (i * 31) ^ (s >>> 3); return s;`) as (n: number) => number;
}

function warm(f: (n: number) => number): void {
  for (let k = 0; k < 3000; k++) f(200);
}

beforeAll(() => {
  // Compile optimizations on this thread, so the status is final when read.
  setFlagsFromString("--allow-natives-syntax --no-concurrent-recompilation");
  status = new Function("f", "return %GetOptimizationStatus(f);") as Probe;
});

afterAll(() => {
  leaveStartUpMode();
  setFlagsFromString("--concurrent-recompilation");
});

describe("start-up mode: compilers", () => {
  it("a hot function is optimized normally (the probe works)", () => {
    const f = makeHot();
    warm(f);
    expect(status(f) & TURBOFANNED).toBe(TURBOFANNED);
  });

  it("in start-up mode, hot code is neither baseline-compiled nor optimized", () => {
    enterStartUpMode();
    try {
      const f = makeHot();
      warm(f);
      expect(status(f) & (TURBOFANNED | BASELINE)).toBe(0);
    } finally {
      leaveStartUpMode();
    }
  });

  it("after leaving it, code that first ran in start-up mode is optimized once hot", () => {
    enterStartUpMode();
    const f = makeHot();
    warm(f);
    leaveStartUpMode();
    warm(f);
    expect(status(f) & TURBOFANNED).toBe(TURBOFANNED);
  });

  it("nests: the mode ends with the last leave, and inStartUpMode leaves it after a failure", async () => {
    enterStartUpMode();
    enterStartUpMode();
    leaveStartUpMode();
    const f = makeHot();
    warm(f);
    expect(status(f) & (TURBOFANNED | BASELINE)).toBe(0);
    leaveStartUpMode();
    await expect(inStartUpMode(async () => Promise.reject(new Error("import failed")))).rejects.toThrow("import failed");
    const g = makeHot();
    warm(g);
    expect(status(g) & TURBOFANNED).toBe(TURBOFANNED);
  });
});

// The young generation is sized by the process's whole history, so this runs
// in a fresh Node process, on the built module (the test command builds first).
const built = fileURLToPath(new URL("../../dist/v8-start-up.js", import.meta.url));

describe.runIf(existsSync(built))("start-up mode: young generation", () => {
  it("does not grow in start-up mode and grows again after it", () => {
    const script = `
      import { getHeapSpaceStatistics } from "node:v8";
      import { enterStartUpMode, leaveStartUpMode } from ${JSON.stringify(built)};
      const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
      // Objects that live a little while, as module loading makes: they survive scavenges.
      function churn() { const keep = []; for (let i = 0; i < 300000; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 50000) keep.length = 0; } }
      const before = newSpace();
      enterStartUpMode(); churn(); const during = newSpace();
      leaveStartUpMode(); churn(); const after = newSpace();
      console.log(JSON.stringify({ before, during, after }));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    const { before, during, after } = JSON.parse(out) as { before: number; during: number; after: number };
    expect(during).toBeLessThanOrEqual(2 * before);
    expect(after).toBeGreaterThan(2 * during);
  });
});
