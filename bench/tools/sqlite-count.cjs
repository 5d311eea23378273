// Counts SQLite work in our server: statements prepared and executed, by SQL text.
// Load it into the server with node's --require, e.g.
//   BENCH_SQL_COUNT_DIR=/tmp/sql bash bench/run.sh --servers ours --scenarios normal_sync \
//     --reps 1 --ours-node-args "--require $PWD/bench/tools/sqlite-count.cjs"
// Each server process writes $BENCH_SQL_COUNT_DIR/sql-<pid>.json when it exits;
// summarize with: node bench/tools/sqlite-count-report.mjs /tmp/sql/sql-<pid>.json
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const Database = require("better-sqlite3");

const outDir = process.env.BENCH_SQL_COUNT_DIR || "/tmp";
const counts = new Map(); // sql -> {prepare, run, get, all, iterate, exec, pragma}
const bump = (sql, what) => {
  const key = String(sql).replace(/\s+/g, " ").trim();
  let c = counts.get(key);
  if (!c) counts.set(key, (c = {}));
  c[what] = (c[what] || 0) + 1;
};

const dbProto = Database.prototype;
for (const name of ["prepare", "exec", "pragma"]) {
  const orig = dbProto[name];
  dbProto[name] = function (sql, ...rest) {
    bump(name === "pragma" ? `PRAGMA ${sql}` : sql, name);
    return orig.call(this, sql, ...rest);
  };
}
const probe = new Database(":memory:");
const stmtProto = Object.getPrototypeOf(probe.prepare("SELECT 1"));
probe.close();
counts.clear();
for (const name of ["run", "get", "all", "iterate"]) {
  const orig = stmtProto[name];
  stmtProto[name] = function (...args) {
    bump(this.source, name);
    return orig.apply(this, args);
  };
}

process.on("exit", () => {
  const rows = [...counts.entries()].map(([sql, c]) => ({ sql, ...c }));
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `sql-${process.pid}.json`), JSON.stringify(rows, null, 1));
});
