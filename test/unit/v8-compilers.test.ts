// `serve` starts with V8's compilers paused and resumes them once it listens,
// and the first login imports the handlers with them paused
// (src/v8-compilers.ts). What matters to a user: code that runs
// while paused stays in the interpreter (nothing compiled for start-up stays
// resident), and after resuming hot code, including code that first ran
// while paused, is optimized again, so syncs are not left running slow.
import { setFlagsFromString } from "node:v8";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pauseOptimizingCompilers, resumeOptimizingCompilers, withCompilersPaused } from "../../src/v8-compilers.js";

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
  resumeOptimizingCompilers();
  setFlagsFromString("--concurrent-recompilation");
});

describe("start-up compilers", () => {
  it("a hot function is optimized normally (the probe works)", () => {
    const f = makeHot();
    warm(f);
    expect(status(f) & TURBOFANNED).toBe(TURBOFANNED);
  });

  it("while paused, hot code is neither baseline-compiled nor optimized", () => {
    pauseOptimizingCompilers();
    try {
      const f = makeHot();
      warm(f);
      expect(status(f) & (TURBOFANNED | BASELINE)).toBe(0);
    } finally {
      resumeOptimizingCompilers();
    }
  });

  it("after resuming, code that first ran while paused is optimized once hot", () => {
    pauseOptimizingCompilers();
    const f = makeHot();
    warm(f);
    resumeOptimizingCompilers();
    warm(f);
    expect(status(f) & TURBOFANNED).toBe(TURBOFANNED);
  });

  it("pauses nest: the compilers come back with the last resume, and withCompilersPaused resumes after a failure", async () => {
    pauseOptimizingCompilers();
    pauseOptimizingCompilers();
    resumeOptimizingCompilers();
    const f = makeHot();
    warm(f);
    expect(status(f) & (TURBOFANNED | BASELINE)).toBe(0);
    resumeOptimizingCompilers();
    await expect(withCompilersPaused(async () => Promise.reject(new Error("import failed")))).rejects.toThrow("import failed");
    const g = makeHot();
    warm(g);
    expect(status(g) & TURBOFANNED).toBe(TURBOFANNED);
  });
});
