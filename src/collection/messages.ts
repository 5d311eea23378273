// Binary encode/decode of the protobuf messages stored in BLOB columns.
// Centralised so every writer binds a Buffer (a TEXT value in these columns
// breaks rslib's blob reader) and every reader reports which object failed.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

export {
  Deck_CommonSchema,
  Deck_KindContainerSchema,
  Deck_NormalSchema,
  Deck_Normal_DayLimitSchema,
  Deck_FilteredSchema,
  Deck_Filtered_SearchTermSchema,
  type Deck_Common,
  type Deck_KindContainer,
  type Deck_Normal,
  type Deck_Normal_DayLimit,
  type Deck_Filtered,
  type Deck_Filtered_SearchTerm,
} from "./proto/gen/anki/decks_pb.js";
export {
  DeckConfig_ConfigSchema,
  type DeckConfig_Config,
} from "./proto/gen/anki/deck_config_pb.js";
export {
  Notetype_ConfigSchema,
  Notetype_Config_CardRequirementSchema,
  Notetype_Config_CardRequirement_Kind,
  Notetype_Config_Kind,
  Notetype_Field_ConfigSchema,
  Notetype_Template_ConfigSchema,
  StockNotetype_OriginalStockKind,
  type Notetype_Config,
  type Notetype_Config_CardRequirement,
  type Notetype_Field_Config,
  type Notetype_Template_Config,
} from "./proto/gen/anki/notetypes_pb.js";

/** Serialises a message into a Buffer ready to bind to a BLOB column. */
export function encodeMessage<Desc extends DescMessage>(schema: Desc, msg: MessageShape<Desc>): Buffer {
  const bytes = toBinary(schema, msg);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Parses a stored BLOB. `what` names the object (e.g. "deck 1 common") so a
 * corrupt row is identifiable from the error alone.
 */
export function decodeMessage<Desc extends DescMessage>(
  schema: Desc,
  bytes: unknown,
  what: string,
): MessageShape<Desc> {
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(`${what}: expected a BLOB, found ${bytes === null ? "NULL" : typeof bytes}`);
  }
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${what}: invalid protobuf (${msg})`, { cause: err });
  }
}
