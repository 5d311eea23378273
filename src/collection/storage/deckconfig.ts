// Rows of `deck_config` (schema 18): deck options presets, config column =
// protobuf DeckConfig.Config. Schema 14 stored legacy JSON bytes there
// instead; that form only exists inside the upgrade (see upgrade/).
import type { CollectionDb } from "../open.js";
import { prepareCached } from "../statements.js";
import { DeckConfig_ConfigSchema, decodeMessage, encodeMessage, type DeckConfig_Config } from "../messages.js";
import { asInt, asText } from "./values.js";

export interface StoredDeckConfig {
  id: number;
  name: string;
  mtimeSecs: number;
  usn: number;
  config: DeckConfig_Config;
}

const COLUMNS = "id, name, mtime_secs, usn, config";

/** Inserts or replaces a preset. */
export function writeDeckConfig(db: CollectionDb, dc: StoredDeckConfig): void {
  prepareCached(db, `INSERT OR REPLACE INTO deck_config (${COLUMNS}) VALUES (?, ?, ?, ?, ?)`).run(
    dc.id,
    dc.name,
    dc.mtimeSecs,
    dc.usn,
    encodeMessage(DeckConfig_ConfigSchema, dc.config),
  );
}

export function deleteDeckConfig(db: CollectionDb, id: number): void {
  prepareCached(db, "DELETE FROM deck_config WHERE id = ?").run(id);
}

type Row = Record<string, unknown>;

function rowToDeckConfig(r: Row): StoredDeckConfig {
  const id = asInt(r.id, "deck config id");
  return {
    id,
    name: asText(r.name, `deck config ${id} name`),
    mtimeSecs: asInt(r.mtime_secs, `deck config ${id} mtime_secs`),
    usn: asInt(r.usn, `deck config ${id} usn`),
    config: decodeMessage(DeckConfig_ConfigSchema, r.config, `deck config ${id} config`),
  };
}

/** All presets in id order. */
export function readAllDeckConfigs(db: CollectionDb): StoredDeckConfig[] {
  return (prepareCached(db, `SELECT ${COLUMNS} FROM deck_config ORDER BY id`).all() as Row[]).map(rowToDeckConfig);
}

/** Presets with usn >= minUsn, in id order. */
export function readDeckConfigsSince(db: CollectionDb, minUsn: number): StoredDeckConfig[] {
  return (prepareCached(db, `SELECT ${COLUMNS} FROM deck_config WHERE usn >= ? ORDER BY id`).all(minUsn) as Row[]).map(
    rowToDeckConfig,
  );
}

export function deckConfigMtime(db: CollectionDb, id: number): number | undefined {
  const row = prepareCached(db, "SELECT mtime_secs FROM deck_config WHERE id = ?").get(id) as Row | undefined;
  return row === undefined ? undefined : asInt(row.mtime_secs, `deck config ${id} mtime_secs`);
}
