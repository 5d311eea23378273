// Lossless JSON for legacy (schema 11) objects. Notetype field/template ids
// are random signed 64-bit integers and JSON.parse would silently round them,
// so integers outside the safe range are kept as bigint and written back as
// bare JSON integers.
import { parse, stringify, isInteger } from "lossless-json";

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Parses JSON text; integers beyond ±2^53 become bigint, everything else is a number. */
export function parseJson(text: string): JsonValue {
  return parse(text, null, parseNumber) as JsonValue;
}

function parseNumber(literal: string): number | bigint {
  if (isInteger(literal)) {
    const n = Number(literal);
    return Number.isSafeInteger(n) ? n : BigInt(literal);
  }
  return Number(literal);
}

/** Compact JSON text (like serde_json::to_string); bigint printed as an integer. */
export function stringifyJson(value: JsonValue): string {
  const out = stringify(value);
  if (out === undefined) throw new Error("stringifyJson: value has no JSON representation");
  return out;
}

/** Parses UTF-8 JSON bytes (config values, `other` blobs). */
export function parseJsonBytes(bytes: Uint8Array): JsonValue {
  return parseJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
}

export function jsonBytes(value: JsonValue): Buffer {
  return Buffer.from(stringifyJson(value), "utf8");
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object without prototype tricks: `__proto__` keys stay ordinary data. */
export function newJsonObject(): JsonObject {
  return Object.create(null) as JsonObject;
}

/** Sets a key even if it is `__proto__`. */
export function setKey(obj: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function hasKey(obj: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}
