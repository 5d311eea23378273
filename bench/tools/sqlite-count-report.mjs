#!/usr/bin/env node
// Summarize a sql-<pid>.json written by sqlite-count.cjs.
// usage: node bench/tools/sqlite-count-report.mjs FILE [N]
import { readFileSync } from "node:fs";
const [file, nArg] = process.argv.slice(2);
const N = Number(nArg ?? 20);
const rows = JSON.parse(readFileSync(file, "utf8"));
const sum = (k) => rows.reduce((a, r) => a + (r[k] ?? 0), 0);
const execs = (r) => (r.run ?? 0) + (r.get ?? 0) + (r.all ?? 0) + (r.iterate ?? 0) + (r.exec ?? 0) + (r.pragma ?? 0);
console.log(`${file}: ${rows.length} distinct statements; prepare() ${sum("prepare")}, executions ${rows.reduce((a, r) => a + execs(r), 0)}` +
  ` (run ${sum("run")}, get ${sum("get")}, all ${sum("all")}, iterate ${sum("iterate")}, exec ${sum("exec")}, pragma ${sum("pragma")})`);
console.log("\n-- most prepared");
for (const r of [...rows].sort((a, b) => (b.prepare ?? 0) - (a.prepare ?? 0)).slice(0, N))
  console.log(`${String(r.prepare ?? 0).padStart(8)} prepares ${String(execs(r)).padStart(8)} execs  ${r.sql.slice(0, 110)}`);
console.log("\n-- most executed");
for (const r of [...rows].sort((a, b) => execs(b) - execs(a)).slice(0, N))
  console.log(`${String(execs(r)).padStart(8)} execs ${String(r.prepare ?? 0).padStart(8)} prepares  ${r.sql.slice(0, 110)}`);
