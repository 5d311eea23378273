#!/usr/bin/env node
// Summarize a V8 .cpuprofile (from `node --cpu-prof`): self time per function
// and per source file, and inclusive time of the top-level callers in src/.
// usage: node bench/tools/cpuprofile-top.mjs [--after MS] FILE.cpuprofile [N]
// --after MS: only samples taken MS milliseconds or more after the profile
// started (e.g. to leave out the server's start-up).
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
let afterUs = 0;
const at = args.indexOf("--after");
if (at >= 0) {
  afterUs = Number(args[at + 1]) * 1000;
  args.splice(at, 2);
}
const [file, nArg] = args;
if (!file || !Number.isFinite(afterUs)) {
  console.error("usage: cpuprofile-top.mjs [--after MS] FILE.cpuprofile [N]");
  process.exit(2);
}
const N = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// sample counts -> microseconds per node
const selfUs = new Map();
const deltas = prof.timeDeltas;
let elapsedUs = 0;
for (let i = 0; i < prof.samples.length; i++) {
  elapsedUs += deltas[i] ?? 0;
  if (elapsedUs < afterUs) continue;
  const id = prof.samples[i];
  const dt = deltas[i + 1] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const short = (url) => url.replace(/^file:\/\//, "").replace(/^.*\/(dist|node_modules)\//, "$1/");
const label = (n) => {
  const cf = n.callFrame;
  return `${cf.functionName || "(anonymous)"} ${cf.url ? short(cf.url) + ":" + (cf.lineNumber + 1) : ""}`.trim();
};

const fnSelf = new Map();
const fileSelf = new Map();
const inclusive = new Map();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  const l = label(n);
  fnSelf.set(l, (fnSelf.get(l) ?? 0) + us);
  const f = n.callFrame.url ? short(n.callFrame.url) : `(${n.callFrame.functionName})`;
  fileSelf.set(f, (fileSelf.get(f) ?? 0) + us);
  // inclusive time for frames in our own code (dist/), counted once per sample stack
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cn = byId.get(cur);
    if (!cn.callFrame.url.includes("/dist/")) continue;
    const cl = label(cn);
    if (seen.has(cl)) continue;
    seen.add(cl);
    inclusive.set(cl, (inclusive.get(cl) ?? 0) + us);
  }
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms`;
const top = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, N);
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
console.log("\n-- self time by function");
for (const [k, v] of top(fnSelf)) console.log(`${pct(v)}  ${k}`);
console.log("\n-- self time by file");
for (const [k, v] of top(fileSelf)) console.log(`${pct(v)}  ${k}`);
console.log("\n-- inclusive time, our code (dist/)");
for (const [k, v] of top(inclusive)) console.log(`${pct(v)}  ${k}`);
