// Per-route request budgets: how many bytes a request may carry on the wire
// and after decompression, and how much JSON structure a JSON route may parse.
// Decided from the route before anything is decompressed, and enforced while
// inflating, so a small compressed "bomb" is refused after at most one budget's
// worth of work and memory.
//
// The numbers follow what real clients send (measured with the rslib client,
// see the README's "Request limits"): the small routes carry a few hundred
// bytes, graves arrive in batches of at most 250 ids (legacy clients may send
// all of them in `start`), row chunks hold at most 250 rows and an applyChanges
// carries the collection's decks, notetypes, deck options and tags. Uploads
// keep the collection limit and are streamed to disk, never held in memory.
import { MAX_UPLOAD_BATCH_BYTES } from "../media/limits.js";

export interface RouteBudget {
  /** Decompressed payload bytes; JSON routes hold at most this in memory. */
  bytes: number;
  /** JSON routes: containers and values (`[`, `{`, `,` outside strings) the parser may build; undefined for file routes. */
  jsonTokens?: number;
}

export interface BudgetSettings {
  /** The collection limit: 3 x MAX_SYNC_PAYLOAD_MEGS, as in the official server. */
  collectionBytes: number;
  /** applyChanges / applyChunk (--max-chunk-megs). */
  chunkBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * meta, finish, abort, chunk, download, sanityCheck2 and the media JSON
 * routes: real clients send under 100 bytes. The byte budget is loose (a
 * padded meta of a few MiB has always been accepted); what bounds the parse
 * is the value budget below it.
 */
export const SMALL_BODY_BYTES = 4 * MiB;
/** Values and containers on the small routes: real ones hold under 20. */
export const SMALL_JSON_TOKENS = 20_000;
/** start and applyGraves: graves (legacy clients send all of them in `start`, ~15 bytes per id). */
export const GRAVES_BODY_BYTES = 16 * MiB;
export const DEFAULT_CHUNK_MEGS = 32;
/**
 * What JSON.parse may build: each container costs the parser about 50-100
 * bytes of heap, so this bounds a structure-dense body ("[1],[1],...") to a
 * few hundred MB less than its byte budget would. Real payloads stay far below:
 * a 250-row chunk has a few thousand values, a 10 000-deck applyChanges a few
 * hundred thousand.
 */
export const MAX_JSON_TOKENS = 2_000_000;
/** A media upload zip: the batch limit plus room for its directory and `_meta`. */
export const MEDIA_UPLOAD_BYTES = MAX_UPLOAD_BATCH_BYTES + MiB;



/** /sync/hostKey: two short strings. */
export const LOGIN_BUDGET: RouteBudget = { bytes: 64 * KiB, jsonTokens: 100 };

/** The budget of `/<group>/<name>`; unknown names get the small budget (they are refused anyway). */
export function routeBudget(group: "sync" | "msync", name: string, settings: BudgetSettings): RouteBudget {
  if (group === "sync" && name === "hostKey") return LOGIN_BUDGET;
  const small: RouteBudget = { bytes: Math.min(SMALL_BODY_BYTES, settings.collectionBytes), jsonTokens: SMALL_JSON_TOKENS };
  if (group === "sync") {
    switch (name) {
      case "upload":
        return { bytes: settings.collectionBytes };
      case "applyChanges":
      case "applyChunk":
        return { bytes: Math.min(settings.chunkBytes, settings.collectionBytes), jsonTokens: MAX_JSON_TOKENS };
      case "start":
      case "applyGraves":
        return { bytes: Math.min(GRAVES_BODY_BYTES, settings.collectionBytes), jsonTokens: MAX_JSON_TOKENS };
      default:
        return small;
    }
  }
  if (name === "uploadChanges") return { bytes: MEDIA_UPLOAD_BYTES };
  return small;
}

/**
 * Bytes a request may carry on the wire for a decompressed budget: zstd and
 * gzip add a little to incompressible data; a legacy form adds its parts'
 * headers and text fields.
 */
export function wireLimit(budget: RouteBudget): number {
  return budget.bytes + Math.ceil(budget.bytes / 64) + 64 * KiB;
}

/**
 * Counts JSON structure incrementally, chunk by chunk, without parsing:
 * opening brackets and commas outside strings. Refuses (returns false) once
 * the count passes the limit.
 */
export class JsonTokenCounter {
  private inString = false;
  private escaped = false;
  count = 0;

  constructor(readonly limit: number) {}

  /** False once the body holds more tokens than the limit. */
  add(chunk: Uint8Array): boolean {
    let count = this.count;
    let inString = this.inString;
    let escaped = this.escaped;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b || c === 0x2c) count++;
    }
    this.count = count;
    this.inString = inString;
    this.escaped = escaped;
    return count <= this.limit;
  }
}
