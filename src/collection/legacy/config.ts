// Config entries <-> the legacy `conf` map (sync applyChanges, col.conf of
// schema 11). Values are opaque JSON kept losslessly.
import type { CollectionDb } from "../open.js";
import { deleteAllConfig, readAllConfig, writeConfigEntry, type StoredConfigEntry } from "../storage/config.js";
import { newJsonObject, parseJsonBytes, setKey, stringifyJson, type JsonObject, type JsonValue } from "./json.js";
import { expectObject, LegacyJsonError } from "./read.js";

/**
 * The whole config as one object. A value that is not valid JSON is an
 * error naming the key (rslib's get_all_config fails on it too).
 */
export function configToLegacy(entries: readonly StoredConfigEntry[]): JsonObject {
  const out = newJsonObject();
  for (const e of entries) {
    let v: JsonValue;
    try {
      v = parseJsonBytes(e.value);
    } catch (err) {
      throw new LegacyJsonError(`config ${e.key}: stored value is not JSON (${(err as Error).message})`);
    }
    setKey(out, e.key, v);
  }
  return out;
}

/** Checks a received `conf` map and returns its entries as (key, JSON text). */
export function configEntriesFromLegacy(conf: JsonValue): Array<[key: string, json: string]> {
  const obj = expectObject(conf, "config");
  return Object.keys(obj).map((k) => [k, stringifyJson(obj[k]!)]);
}

export function readConfigMap(db: CollectionDb): JsonObject {
  return configToLegacy(readAllConfig(db));
}

/**
 * Replaces the entire config table with `conf`, as a sync peer's config map
 * does (keys it lacks disappear). Validates before deleting anything.
 */
export function replaceConfigMap(db: CollectionDb, conf: JsonValue, usn: number, mtimeSecs: number): void {
  const entries = configEntriesFromLegacy(conf);
  db.transaction(() => {
    deleteAllConfig(db);
    for (const [k, json] of entries) writeConfigEntry(db, k, json, usn, mtimeSecs);
  })();
}
