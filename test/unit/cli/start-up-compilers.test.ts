// `serve` starts with V8's compilers paused and resumes them once it listens
// (src/cli/start-up-compilers.ts). What matters to a user: code that runs
// while paused stays in the interpreter (nothing compiled for start-up stays
// resident), and after resuming hot code, including code that first ran
// while paused, is optimized again, so syncs are not left running slow.
import { setFlagsFromString } from "node:v8";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pauseOptimizingCompilers, resumeOptimizingCompilers } from "../../../src/cli/start-up-compilers.js";

// Bits of %GetOptimizationStatus (V8's runtime-test.cc).
const TURBOFANNED = 1 << 6;
const BASELINE = 1 << 15;

type Probe = (f: (n: number) => number) => number;
let status: Probe;

function makeHot(): (n: number) => number {
  // A fresh closure each time, so each test's function has its own feedback.
  return new Function("n", "let s = 0; for (let i = 0; i < n; i++) s += (i * 31) ^ (s >>> 3); return s;") as (n: number) => number;
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
});
