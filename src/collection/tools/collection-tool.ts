// Small command-line entry point used by the interop tests (run as
// `node dist/collection/tools/collection-tool.js <command> …` after
// `npx tsc -p tsconfig.json`). Results go to stdout as one line of JSON
// (64-bit ids printed exactly).
//
//   create <path> [nowMs]      create an empty collection like the official server
//   dump <path>                legacy JSON of all notetypes/decks/presets/config/tags
//   load <path> <json-file>    replace the model of <path> with the legacy JSON
//                              objects in <json-file> ({models, decks, dconf, conf?, tags?})
//   roundtrip <json-file>      legacy JSON -> stored form -> legacy JSON, no database
//   downgrade <path>           turn a schema-18 file into schema 11 in place
//   upgrade <path> [usn]       turn a schema-11 file into schema 18 in place
import { readFileSync } from "node:fs";
import { createEmptyCollection } from "../create.js";
import { openCollectionDb } from "../open.js";
import { parseJson, stringifyJson, isJsonObject, type JsonValue } from "../legacy/json.js";
import { dumpLegacyModel, replaceLegacyModel } from "../legacy/model.js";
import { notetypeFromLegacy, notetypeToLegacy } from "../legacy/notetypes.js";
import { deckFromLegacy, deckToLegacy } from "../legacy/decks.js";
import { deckConfigFromLegacy, deckConfigToLegacy } from "../legacy/deckconfig.js";
import { encodeMessage, decodeMessage, DeckConfig_ConfigSchema } from "../messages.js";
import { downgradeToSchema11 } from "../upgrade/downgrade.js";
import { upgradeToSchema18 } from "../upgrade/upgrade.js";

function usage(): never {
  process.stderr.write(
    "usage: collection-tool create <path> [nowMs] | dump <path> | load <path> <json> | roundtrip <json> |" +
      " downgrade <path> | upgrade <path> [usn]\n",
  );
  process.exit(2);
}

function print(v: JsonValue): void {
  process.stdout.write(stringifyJson(v) + "\n");
}

function readJsonFile(path: string): JsonValue {
  return parseJson(readFileSync(path, "utf8"));
}

function list(v: JsonValue | undefined): JsonValue[] {
  return Array.isArray(v) ? v : [];
}

function main(argv: string[]): void {
  const [cmd, a, b] = argv;
  switch (cmd) {
    case "create": {
      if (a === undefined) usage();
      createEmptyCollection(a, b === undefined ? new Date() : new Date(Number(b)));
      print({ ok: true });
      return;
    }
    case "dump": {
      if (a === undefined) usage();
      const db = openCollectionDb(a, { readonly: true, mustExist: true });
      try {
        const m = dumpLegacyModel(db);
        print({ models: m.models, decks: m.decks, dconf: m.dconf, conf: m.conf, tags: m.tags });
      } finally {
        db.close();
      }
      return;
    }
    case "load": {
      if (a === undefined || b === undefined) usage();
      const input = readJsonFile(b);
      if (!isJsonObject(input)) throw new Error("load: the JSON file must hold an object");
      const db = openCollectionDb(a, { mustExist: true });
      try {
        replaceLegacyModel(db, input);
      } finally {
        db.close();
      }
      print({ ok: true });
      return;
    }
    case "roundtrip": {
      if (a === undefined) usage();
      const input = readJsonFile(a);
      if (!isJsonObject(input)) throw new Error("roundtrip: the JSON file must hold an object");
      print({
        models: list(input.models).map((m) => notetypeToLegacy(notetypeFromLegacy(m))),
        decks: list(input.decks).map((d) => deckToLegacy(deckFromLegacy(d))),
        dconf: list(input.dconf).map((c) => {
          // through the bytes too, as a stored row would be
          const stored = deckConfigFromLegacy(c);
          const bytes = encodeMessage(DeckConfig_ConfigSchema, stored.config);
          return deckConfigToLegacy({ ...stored, config: decodeMessage(DeckConfig_ConfigSchema, bytes, "dconf") });
        }),
      });
      return;
    }
    case "downgrade": {
      if (a === undefined) usage();
      downgradeToSchema11(a);
      print({ ok: true });
      return;
    }
    case "upgrade": {
      if (a === undefined) usage();
      upgradeToSchema18(a, b === undefined ? undefined : Number(b));
      print({ ok: true });
      return;
    }
    default:
      usage();
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
