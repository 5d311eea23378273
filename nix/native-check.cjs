// Install check of the Nix package: the native parts load and work on this system.
// Usage: NODE_PATH=<pkg>/node_modules node native-check.cjs <pkg>/build/unicase.so
const path = require("path");
const Database = require("better-sqlite3");
const zstd = require("zstd-napi");
const argon2 = require("argon2");
const db = new Database(":memory:");
db.loadExtension(path.resolve(process.argv[2]));
const row = db.prepare("select 'Äb' = 'äB' collate unicase as eq").get();
if (row.eq !== 1) throw new Error("unicase collation does not fold case");
const data = Buffer.from("anki ".repeat(1000));
if (!zstd.decompress(zstd.compress(data)).equals(data)) throw new Error("zstd round trip failed");
argon2.hash("x").then((h) => argon2.verify(h, "x")).then((ok) => {
  if (!ok) throw new Error("argon2 verify failed");
  console.log("native modules ok");
});
