// The `other` catch-all (protobuf field 255): legacy JSON keys a shape does
// not name are kept as a compact JSON object and re-emitted later, minus the
// shape's reserved keys (so a named key can never be emitted twice).
import { hasKey, isJsonObject, jsonBytes, newJsonObject, parseJsonBytes, setKey, type JsonObject } from "./json.js";

/** Keys of `obj` that are not in `named`, as a new object (insertion order kept). */
export function unknownKeys(obj: JsonObject, named: ReadonlySet<string>): JsonObject {
  const out = newJsonObject();
  for (const key of Object.keys(obj)) {
    if (!named.has(key)) setKey(out, key, obj[key]!);
  }
  return out;
}

/** Serialises a map for the `other` field; empty map -> empty bytes. */
export function otherToBytes(map: JsonObject): Uint8Array {
  return Object.keys(map).length === 0 ? new Uint8Array(0) : jsonBytes(map);
}

/**
 * Parses a stored `other` field; unparsable or non-object content counts as
 * empty (rslib logs and ignores it). Reserved keys are dropped.
 */
export function parseOther(bytes: Uint8Array, reserved: ReadonlySet<string>): JsonObject {
  if (bytes.length === 0) return newJsonObject();
  let parsed;
  try {
    parsed = parseJsonBytes(bytes);
  } catch {
    return newJsonObject();
  }
  if (!isJsonObject(parsed)) return newJsonObject();
  const out = newJsonObject();
  for (const key of Object.keys(parsed)) {
    if (!reserved.has(key)) setKey(out, key, parsed[key]!);
  }
  return out;
}

/** Appends `extra` keys to `target` without overwriting keys it already has. */
export function appendOther(target: JsonObject, extra: JsonObject): JsonObject {
  for (const key of Object.keys(extra)) {
    if (!hasKey(target, key)) setKey(target, key, extra[key]!);
  }
  return target;
}
