/*
 * Tests for the `unicase` SQLite collation (native/unicase.c, loaded by
 * src/collection/unicase.ts). Requires build/unicase.so: `node scripts/build-native.mjs`.
 *
 * How test/unit/fixtures/unicase-vectors.json is made (reference oracle = the
 * real crate Anki uses): scripts/unicase-vectors, a small Rust program
 * depending on `unicase = "=2.6.0"`, reads the inputs in
 * scripts/unicase-vectors/inputs.txt, decodes byte-string pairs with
 * `String::from_utf8_lossy` (exactly what rusqlite 0.36's create_collation
 * does before calling Anki's comparator) and writes the sign of
 * `UniCase::new(a).cmp(&UniCase::new(b))` for every pair, plus the `sorted`
 * list sorted with that comparator (stable sort) with each string's
 * equivalence class. `npm run generate` reruns it; scripts/check-generated.sh
 * (CI) checks the committed file against it. The inputs, first made by a
 * seeded Node script that was not kept:
 *   - hand-picked cases: ASCII punctuation vs letters, ß/ẞ/ss, ſ, Kelvin and
 *     Ångström signs, final sigma, ypogegrammeni, İ/ı, ligatures (ﬀ ﬃ ﬄ ﬅ ﬆ),
 *     Armenian ligatures, Cherokee, titlecase digraphs (ǅ), Georgian Mtavruli,
 *     Latin Extended-D letters added in 12.0 (A7C2-A7C6, must fold) and in
 *     13.0+ (A7C7-A7CA, A7F5/A7F6, A7C0, A7D0..., must NOT fold), Glagolitic and
 *     Vithkuqi letters added in 14.0, Deseret/Osage/Adlam/Medefaidrin (astral),
 *     emoji/ZWJ/flags, U+FFFD vs astral, NUL bytes, NFC vs NFD;
 *   - every code point with a Unicode 12.0.0 C/F fold paired with its fold;
 *   - every code point ≤ U+1FFFF that has a lowercase mapping in the
 *     generating machine's (newer) Unicode but no 12.0.0 fold, paired with
 *     that lowercase (must compare unequal);
 *   - ~2200 random mixed-script pairs (case variants, neighbours, prefixes);
 *   - `bytePairs`: ill-formed UTF-8 (overlongs, surrogates, truncated and
 *     stray bytes) against each other and against U+FFFD;
 *   - `sorted`: ~2600 random strings and case variants in the crate's order.
 *
 * Notable crate behaviour captured by the vectors: unicase 2.6.0 yields
 * three-code-point folds in the order (third, first, second), so "ﬃ" compares
 * equal to "iff", not "ffi" (two-code-point folds like ß → "ss" are in order).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadUnicase, unicaseExtensionPath } from "../../src/collection/unicase.js";

type Sign = -1 | 0 | 1;
interface Vectors {
  pairs: [string, string, Sign][];
  bytePairs: [string, string, Sign][];
  sorted: [number, string][];
}

const vectors = JSON.parse(
  readFileSync(new URL("./fixtures/unicase-vectors.json", import.meta.url), "utf8"),
) as Vectors;

function openMemory(): Database.Database {
  const db = new Database(":memory:");
  loadUnicase(db);
  return db;
}

const SIGN_SQL =
  "SELECT CASE WHEN @a = @b COLLATE unicase THEN 0 WHEN @a < @b COLLATE unicase THEN -1 ELSE 1 END AS s";
const SIGN_SQL_BYTES =
  "SELECT CASE WHEN CAST(@a AS TEXT) = CAST(@b AS TEXT) COLLATE unicase THEN 0 " +
  "WHEN CAST(@a AS TEXT) < CAST(@b AS TEXT) COLLATE unicase THEN -1 ELSE 1 END AS s";

const fmt = (s: string) =>
  JSON.stringify(s) + " [" + [...s].map((c) => "U+" + c.codePointAt(0)!.toString(16).toUpperCase()).join(" ") + "]";

describe("unicase extension", () => {
  let db: Database.Database;
  let sign: (a: string, b: string) => number;
  beforeAll(() => {
    db = openMemory();
    const stmt = db.prepare(SIGN_SQL).pluck();
    sign = (a, b) => stmt.get({ a, b }) as number;
  });
  afterAll(() => db.close());

  it("resolves the extension path under the package root", () => {
    expect(unicaseExtensionPath()).toMatch(/[\\/]build[\\/]unicase\.so$/);
  });

  it("without the extension, the collation is unknown", () => {
    const plain = new Database(":memory:");
    expect(() => plain.prepare("SELECT 'a' = 'A' COLLATE unicase").get()).toThrow(/no such collation/);
    plain.close();
  });

  it("matches the vectors of the storage-schema doc, section 3.3", () => {
    const doc: [string, string, Sign][] = [
      ["abc", "ABD", -1],
      ["Straße", "STRASSE", 0],
      ["\u01C5", "\u01C6", 0],
      ["\u{212A}", "k", 0],
      ["a", "a\u{10000}", -1],
      ["\u{FFFD}", "\u{10000}", -1],
      ["_", "a", -1],
      ["_", "A", -1],
    ];
    for (const [a, b, s] of doc) {
      expect(sign(a, b), `${fmt(a)} vs ${fmt(b)}`).toBe(s);
      expect(sign(b, a), `${fmt(b)} vs ${fmt(a)}`).toBe(0 - s);
    }
  });

  it("reproduces unicase 2.6.0's order for three-code-point folds", () => {
    expect(sign("\uFB03", "iff")).toBe(0);
    expect(sign("\uFB03", "ffi")).toBe(1);
    expect(sign("\u0390", "\u0301\u03B9\u0308")).toBe(0);
    expect(sign("ß", "ss")).toBe(0);
    expect(sign("\u0130", "i\u0307")).toBe(0);
    expect(sign("\uA7C7", "\uA7C8")).toBe(-1); // added in Unicode 13: no fold
  });

  it(`agrees with the unicase 2.6.0 crate on ${vectors.pairs.length} string pairs`, () => {
    const bad: string[] = [];
    for (const [a, b, s] of vectors.pairs) {
      const got = sign(a, b);
      if (got !== s) bad.push(`${fmt(a)} vs ${fmt(b)}: got ${got}, crate says ${s}`);
    }
    expect(bad.slice(0, 20)).toEqual([]);
  });

  it(`agrees with the crate (after from_utf8_lossy) on ${vectors.bytePairs.length} byte-string pairs incl. invalid UTF-8`, () => {
    const stmt = db.prepare(SIGN_SQL_BYTES).pluck();
    const bad: string[] = [];
    for (const [a, b, s] of vectors.bytePairs) {
      const got = stmt.get({ a: Buffer.from(a, "hex"), b: Buffer.from(b, "hex") }) as number;
      if (got !== s) bad.push(`${a} vs ${b}: got ${got}, crate says ${s}`);
    }
    expect(bad.slice(0, 20)).toEqual([]);
  });

  it("never reads past the given lengths (substrings of larger buffers)", () => {
    // substr() hands the collation pointers into the middle of a value, not NUL-terminated.
    const stmt = db.prepare("SELECT substr(@a, 1, @b) = substr(@c, 1, @d) COLLATE unicase").pluck();
    expect(stmt.get({ a: "abcdef", b: 3, c: "ABCxyz", d: 3 })).toBe(1);
    expect(stmt.get({ a: "straßeX", b: 6, c: "STRASSEY", d: 7 })).toBe(1);
    expect(stmt.get({ a: "abcdef", b: 4, c: "ABCxyz", d: 4 })).toBe(0);
    const bytes = db.prepare("SELECT CAST(@a AS TEXT) = CAST(@b AS TEXT) COLLATE unicase").pluck();
    // truncated multi-byte sequences at the very end of the value
    for (const tail of ["e2", "e282", "f09f98", "f0", "c3"]) {
      expect(bytes.get({ a: Buffer.from("61" + tail, "hex"), b: Buffer.from("41efbfbd", "hex") })).toBe(1);
    }
  });
});

describe("unicase-keyed WITHOUT ROWID table", () => {
  let dir: string;
  let db: Database.Database;
  const rankOf = new Map<string, number>(vectors.sorted.map(([r, s]) => [s, r]));
  const classes = vectors.sorted[vectors.sorted.length - 1]![0] + 1;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "unicase-test-"));
    db = new Database(join(dir, "t.db"));
    loadUnicase(db);
    db.exec("CREATE TABLE t (k TEXT NOT NULL COLLATE unicase PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID");
  });
  afterAll(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Deterministic PRNG so failures are reproducible.
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };

  it("stores the crate-ordered strings, passes integrity_check, and orders like the crate", () => {
    const strings = vectors.sorted.map(([, s]) => s);
    for (let i = strings.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [strings[i], strings[j]] = [strings[j]!, strings[i]!];
    }
    const ins = db.prepare("INSERT OR IGNORE INTO t (k, v) VALUES (?, ?)");
    db.transaction(() => strings.forEach((s, i) => ins.run(s, i)))();

    expect(db.prepare("PRAGMA integrity_check").pluck().all()).toEqual(["ok"]);
    const count = db.prepare("SELECT count(*) FROM t").pluck().get() as number;
    expect(count).toBe(classes);

    const ordered = db.prepare("SELECT k FROM t ORDER BY k").pluck().all() as string[];
    expect(ordered.map((s) => rankOf.get(s))).toEqual([...Array(classes).keys()]);
    const desc = db.prepare("SELECT k FROM t ORDER BY k DESC").pluck().all() as string[];
    expect(desc.map((s) => rankOf.get(s))).toEqual([...Array(classes).keys()].reverse());
  });

  it("finds every row by any equivalent (differently cased) key", () => {
    const get = db.prepare("SELECT k FROM t WHERE k = ?").pluck();
    const bad: string[] = [];
    for (const [rank, s] of vectors.sorted) {
      const found = get.get(s) as string | undefined;
      if (found === undefined || rankOf.get(found) !== rank) bad.push(`${fmt(s)} -> ${found === undefined ? "missing" : fmt(found)}`);
    }
    expect(bad.slice(0, 20)).toEqual([]);
    const range = db.prepare("SELECT count(*) FROM t WHERE k >= ? AND k < ?").pluck();
    // range scans agree with the crate's order too
    const lo = vectors.sorted.find(([r]) => r === Math.floor(classes / 4))![1];
    const hi = vectors.sorted.find(([r]) => r === Math.floor((3 * classes) / 4))![1];
    expect(range.get(lo, hi)).toBe(Math.floor((3 * classes) / 4) - Math.floor(classes / 4));
  });

  it("stays consistent under random inserts/deletes of random mixed-script strings (incl. invalid UTF-8)", () => {
    const alphabet = [
      ..."aAbBzZ_[`{09 ßẞſKkÅåΣσςΐİıﬃﬀŉǅǆꭰᎠᏸᏰ\uA7C7\uA7C8\uA7C2\uA7C3Ǆ\u0307\u0301éÉ日本\uFFFD\uE000",
      "\u{1F600}",
      "\u{10400}",
      "\u{10428}",
      "\u{1E900}",
      "\u{1E922}",
      "\u{10570}",
      "\u{10FFFF}",
    ];
    const bad = ["c0", "ed", "ed a0 80", "e2 82", "f4 90", "ff", "80", "c3"].map((h) =>
      Buffer.from(h.replace(/ /g, ""), "hex"),
    );
    const randKey = (): Buffer => {
      const parts: Buffer[] = [];
      const n = 1 + Math.floor(rnd() * 6);
      for (let i = 0; i < n; i++) {
        parts.push(
          rnd() < 0.08
            ? bad[Math.floor(rnd() * bad.length)]!
            : Buffer.from(alphabet[Math.floor(rnd() * alphabet.length)]!, "utf8"),
        );
      }
      return Buffer.concat(parts);
    };
    db.exec("CREATE TABLE r (k TEXT NOT NULL COLLATE unicase PRIMARY KEY, v INTEGER) WITHOUT ROWID");
    db.exec("CREATE TABLE r2 (k TEXT NOT NULL COLLATE unicase, v INTEGER)");
    db.exec("CREATE INDEX r2_k ON r2 (k)");
    const ins = db.prepare("INSERT OR IGNORE INTO r (k, v) VALUES (CAST(? AS TEXT), ?)");
    const ins2 = db.prepare("INSERT INTO r2 (k, v) VALUES (CAST(? AS TEXT), ?)");
    const del = db.prepare("DELETE FROM r WHERE k = CAST(? AS TEXT)");
    db.transaction(() => {
      for (let i = 0; i < 6000; i++) {
        const k = randKey();
        if (rnd() < 0.15) del.run(k);
        else {
          ins.run(k, i);
          ins2.run(k, i);
        }
      }
    })();
    expect(db.prepare("PRAGMA integrity_check").pluck().all()).toEqual(["ok"]);

    // Adjacent rows of ORDER BY are strictly increasing under the collation.
    const keys = db.prepare("SELECT CAST(k AS BLOB) FROM r ORDER BY k").pluck().all() as Buffer[];
    expect(keys.length).toBeGreaterThan(1000);
    const lt = db.prepare("SELECT CAST(@a AS TEXT) < CAST(@b AS TEXT) COLLATE unicase").pluck();
    for (let i = 1; i < keys.length; i++) {
      if (lt.get({ a: keys[i - 1], b: keys[i] }) !== 1) throw new Error(`order broken at ${i}`);
    }
    // Lookups through the (non-unique) index of r2 agree with full scans.
    const viaIndex = db.prepare("SELECT count(*) FROM r2 INDEXED BY r2_k WHERE k = CAST(? AS TEXT)").pluck();
    const viaScan = db.prepare("SELECT count(*) FROM r2 NOT INDEXED WHERE k = CAST(? AS TEXT)").pluck();
    for (let i = 0; i < keys.length; i += 7) {
      const n = viaScan.get(keys[i]) as number;
      expect(n).toBeGreaterThan(0);
      expect(viaIndex.get(keys[i])).toBe(n);
    }
  });
});

describe("loadUnicase errors", () => {
  it("a missing extension produces an actionable message", () => {
    const db = new Database(":memory:");
    expect(() => loadUnicase(db, join(tmpdir(), "definitely-missing", "unicase.so"))).toThrow(/npm run build/);
    db.close();
  });
});
