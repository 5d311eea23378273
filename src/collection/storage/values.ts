// Checked conversions of SQLite values read through better-sqlite3. The
// Rust client rejects wrong storage classes, so our readers do the same
// instead of passing a surprising value on to the sync layer.

/** An INTEGER column value as a JS number (ids are ms timestamps, < 2^53). */
export function asInt(v: unknown, what: string): number {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "bigint") {
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
    throw new Error(`${what}: integer ${v} is outside the safe range`);
  }
  throw new Error(`${what}: expected an integer, found ${describe(v)}`);
}

/** A TEXT column value. */
export function asText(v: unknown, what: string): string {
  if (typeof v === "string") return v;
  throw new Error(`${what}: expected text, found ${describe(v)}`);
}

/** A BLOB column value. */
export function asBlob(v: unknown, what: string): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  throw new Error(`${what}: expected a BLOB, found ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === null) return "NULL";
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return "a BLOB";
  if (typeof v === "string") return `text ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  return `${typeof v} ${String(v)}`;
}
