// Typed access to legacy JSON objects with rslib's (serde's) acceptance
// rules, so the server accepts and rejects what the Rust client does:
//   required      key must exist and be valid, else LegacyJsonError
//   def(x)        missing -> x; present but invalid -> error
//   inv(x)        missing or invalid -> x   (rslib's default_on_invalid)
//   keyReqInv(x)  missing -> error; invalid -> x
// Errors name the object and the key.
import { hasKey, isJsonObject, type JsonObject, type JsonValue } from "./json.js";

export class LegacyJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LegacyJsonError";
  }
}

/** A value parser: returns undefined when the value is not acceptable. */
export type Parse<T> = (v: JsonValue) => T | undefined;

export type Mode<T> =
  | { kind: "required" }
  | { kind: "def"; value: T }
  | { kind: "inv"; value: T }
  | { kind: "keyReqInv"; value: T };

export const required = { kind: "required" } as const;
export const def = <T>(value: T): Mode<T> => ({ kind: "def", value });
export const inv = <T>(value: T): Mode<T> => ({ kind: "inv", value });
export const keyReqInv = <T>(value: T): Mode<T> => ({ kind: "keyReqInv", value });

/** Reads `key` of `obj` with `parse` under `mode`; `what` names the object for errors. */
export function field<T>(obj: JsonObject, key: string, what: string, parse: Parse<T>, mode: Mode<T>, expected: string): T {
  if (!hasKey(obj, key)) {
    if (mode.kind === "def" || mode.kind === "inv") return mode.value;
    throw new LegacyJsonError(`${what}: missing key "${key}"`);
  }
  const raw = obj[key] as JsonValue;
  const parsed = parse(raw);
  if (parsed !== undefined) return parsed;
  if (mode.kind === "inv" || mode.kind === "keyReqInv") return mode.value;
  throw new LegacyJsonError(`${what}: key "${key}" must be ${expected}, found ${describe(raw)}`);
}

export function describe(v: JsonValue): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 30 ? v.slice(0, 30) + "…" : v)}`;
  return `${typeof v === "bigint" ? "integer" : typeof v} ${String(v)}`;
}

// ---- value parsers (serde semantics) ----

/** An integer JSON number within [min, max]; floats are rejected like serde does. */
export function int(min: number, max: number): Parse<number> {
  return (v) => {
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    if (typeof v === "bigint" && v >= BigInt(min) && v <= BigInt(max)) return Number(v);
    return undefined;
  };
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** A signed 64-bit integer kept exact (field/template ids). */
export const i64: Parse<bigint> = (v) => {
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (typeof v === "bigint" && v >= I64_MIN && v <= I64_MAX) return v;
  return undefined;
};

/** An id or timestamp: an i64 that must also fit a JS number exactly. */
export const safeInt: Parse<number> = int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

/** serde_aux deserialize_number_from_string: a number, or a string holding one. */
export function numOrString(p: Parse<number>): Parse<number> {
  return (v) => {
    if (typeof v === "string") {
      if (!/^[+-]?\d+$/.test(v)) return undefined;
      const n = BigInt(v);
      return p(Number.isSafeInteger(Number(n)) ? Number(n) : n);
    }
    return p(v);
  };
}

/** Any JSON number (an f32 field accepts integers and floats). */
export const num: Parse<number> = (v) => {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
};

export const str: Parse<string> = (v) => (typeof v === "string" ? v : undefined);
export const bool: Parse<boolean> = (v) => (typeof v === "boolean" ? v : undefined);

/** serde_aux deserialize_bool_from_anything: true/false, 1/0 (int or float), "true"/"false"/"1"/"0". */
export const boolish: Parse<boolean> = (v) => {
  if (typeof v === "boolean") return v;
  if (typeof v === "number" || typeof v === "bigint") {
    if (Number(v) === 1) return true;
    if (Number(v) === 0) return false;
    return undefined;
  }
  if (typeof v === "string") {
    const s = v.toLowerCase();
    if (s === "true" || s === "1") return true;
    if (s === "false" || s === "0") return false;
  }
  return undefined;
};

/** `Option<T>`: null is a valid "absent". */
export function nullable<T>(p: Parse<T>): Parse<T | null> {
  return (v) => (v === null ? null : p(v));
}

/** `Vec<T>`: every element must parse. */
export function arrayOf<T>(p: Parse<T>): Parse<T[]> {
  return (v) => {
    if (!Array.isArray(v)) return undefined;
    const out: T[] = [];
    for (const e of v) {
      const x = p(e);
      if (x === undefined) return undefined;
      out.push(x);
    }
    return out;
  };
}

export const object: Parse<JsonObject> = (v) => (isJsonObject(v) ? v : undefined);

export const U8 = int(0, 0xff);
export const U16 = int(0, 0xffff);
export const U32 = int(0, 0xffffffff);
export const I32 = int(-0x80000000, 0x7fffffff);

/** The top-level value must be a JSON object. */
export function expectObject(v: JsonValue, what: string): JsonObject {
  if (!isJsonObject(v)) throw new LegacyJsonError(`${what}: expected a JSON object, found ${describe(v)}`);
  return v;
}
