// Strict readers for the JSON values of sync rows. A row that does not match
// the layout Anki sends is a malformed request (400), caught before any write.
export class RowFormatError extends Error {}

export function expectArray(value: unknown, length: number, what: string): unknown[] {
  if (!Array.isArray(value)) throw new RowFormatError(`${what}: expected an array`);
  if (value.length !== length) throw new RowFormatError(`${what}: expected ${length} elements, got ${value.length}`);
  return value;
}

/** An integer; with `lenient`, a float is truncated as Anki's lenient parser does. */
export function expectInt(value: unknown, what: string, lenient = false): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new RowFormatError(`${what}: expected a number`);
  if (Number.isInteger(value)) return value;
  if (lenient) return Math.trunc(value);
  throw new RowFormatError(`${what}: expected an integer, got ${value}`);
}

export function expectRange(value: number, min: number, max: number, what: string): number {
  if (value < min || value > max) throw new RowFormatError(`${what}: ${value} is outside ${min}..${max}`);
  return value;
}

export function expectString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new RowFormatError(`${what}: expected a string`);
  return value;
}

export function expectIdList(value: unknown, what: string): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new RowFormatError(`${what}: expected an array of ids`);
  // Old AnkiMobile sent ids as strings.
  return value.map((v, i) => {
    if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
    return expectInt(v, `${what}[${i}]`);
  });
}
