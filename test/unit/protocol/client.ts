// A minimal v11 sync client for the protocol tests: the `anki-sync` header,
// zstd bodies both ways, JSON that keeps 64-bit ids exact (notetype field and
// template ids exceed 2^53), and the calls of a normal sync and a media sync in
// the order rslib makes them. It knows nothing of the server's code.
import { randomBytes } from "node:crypto";
import { isInteger, isSafeNumber, parse, stringify } from "lossless-json";
import yauzl from "yauzl";
import yazl from "yazl";
import { compress, decompress } from "zstd-napi";

export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

export interface Reply {
  status: number;
  body: Buffer;
}

export class ProtocolError extends Error {
  constructor(
    readonly method: string,
    readonly status: number,
    readonly text: string,
  ) {
    super(`${method}: HTTP ${status} ${text}`);
  }
}

export const toJson = (value: unknown): string => stringify(value) ?? "null";
/** Numbers stay numbers unless they are integers beyond 2^53, which become bigints. */
const parseNumber = (text: string): number | bigint => (isInteger(text) && !isSafeNumber(text) ? BigInt(text) : Number(text));
export const fromJson = (text: string): Json => parse(text, null, parseNumber) as Json;

export interface Graves {
  cards: number[];
  notes: number[];
  decks: number[];
}

export type Counts = [[number, number, number], number, number, number, number, number, number, number];

export interface SanityReply {
  status: "ok" | "bad";
  c: Counts | null;
  s: Counts | null;
}

export class SyncClient {
  /** The session key (`s` of the header): rslib picks a fresh one per sync. */
  sessionKey = randomBytes(4).toString("hex");

  private constructor(
    readonly url: string,
    readonly hostKey: string,
  ) {}

  /** POST /sync/hostKey; returns the HTTP status on failure instead of throwing. */
  static async login(url: string, user: string, password: string): Promise<SyncClient> {
    const reply = await send(url, "/sync/hostKey", "", "", compress(Buffer.from(toJson({ u: user, p: password }))));
    if (reply.status !== 200) throw new ProtocolError("hostKey", reply.status, reply.body.toString());
    const { key } = JSON.parse(decompress(reply.body).toString()) as { key: string };
    return new SyncClient(url, key);
  }

  newSession(): void {
    this.sessionKey = randomBytes(4).toString("hex");
  }

  /** One request; the body is zstd-compressed JSON (or raw bytes for uploads). */
  async post(path: string, body: unknown, options: { raw?: boolean } = {}): Promise<Reply> {
    const bytes = options.raw ? (body as Buffer) : Buffer.from(toJson(body), "utf8");
    const reply = await send(this.url, path, this.hostKey, this.sessionKey, compress(bytes));
    return { status: reply.status, body: reply.status === 200 ? decompress(reply.body) : reply.body };
  }

  /** A call that must succeed; its JSON answer. */
  async call<T = Json>(path: string, body: unknown, options: { raw?: boolean } = {}): Promise<T> {
    const reply = await this.post(path, body, options);
    if (reply.status !== 200) throw new ProtocolError(path, reply.status, reply.body.toString());
    return fromJson(reply.body.toString("utf8")) as T;
  }

  /** The HTTP status a call gets (for the failure paths). */
  async status(path: string, body: unknown): Promise<number> {
    return (await this.post(path, body)).status;
  }

  meta(): Promise<MetaReply> {
    return this.call<MetaReply>("/sync/meta", { v: 11, cv: "anki,25.02 (protocol-test),linux" });
  }
  start(minUsn: number, lnewer: boolean): Promise<Graves> {
    return this.call<Graves>("/sync/start", { minUsn, lnewer, graves: null });
  }
  applyGraves(graves: Partial<Graves>): Promise<null> {
    return this.call<null>("/sync/applyGraves", { chunk: { cards: [], notes: [], decks: [], ...graves } });
  }
  applyChanges(changes: LocalChanges): Promise<ServerChanges> {
    return this.call<ServerChanges>("/sync/applyChanges", {
      changes: { models: changes.models ?? [], decks: [changes.decks ?? [], changes.deckConfigs ?? []], tags: changes.tags ?? [], ...extra(changes) },
    });
  }
  chunk(): Promise<ServerChunk> {
    return this.call<ServerChunk>("/sync/chunk", { _pad: null });
  }
  /** Every chunk the server has for this sync, as rslib pulls them before pushing its own. */
  async allChunks(): Promise<ServerChunk> {
    const all: ServerChunk = { done: true, notes: [], cards: [], revlog: [] };
    for (;;) {
      const c = await this.chunk();
      all.notes!.push(...(c.notes ?? []));
      all.cards!.push(...(c.cards ?? []));
      all.revlog!.push(...(c.revlog ?? []));
      if (c.done) return all;
    }
  }
  applyChunk(rows: { notes?: NoteRow[]; cards?: CardRow[]; revlog?: RevlogRow[] }): Promise<null> {
    return this.call<null>("/sync/applyChunk", { chunk: { done: true, ...rows } });
  }
  sanityCheck(counts: Counts): Promise<SanityReply> {
    return this.call<SanityReply>("/sync/sanityCheck2", { client: counts });
  }
  finish(): Promise<number> {
    return this.call<number>("/sync/finish", { _pad: null });
  }
  abort(): Promise<null> {
    return this.call<null>("/sync/abort", { _pad: null });
  }

  // Media sync
  begin(): Promise<MediaResult<{ usn: number; sk: string }>> {
    return this.call("/msync/begin", { v: "anki,25.02 (protocol-test),linux" });
  }
  mediaChanges(lastUsn: number): Promise<MediaResult<[string, number, string][]>> {
    return this.call("/msync/mediaChanges", { lastUsn });
  }
  async uploadChanges(files: [string, Buffer | null][]): Promise<MediaResult<[number, number]>> {
    return this.call("/msync/uploadChanges", await uploadZip(files), { raw: true });
  }
  /** The files of a downloadFiles zip, by their real names (the zip's `_meta` maps "0", "1", ... to them). */
  async downloadFiles(names: string[]): Promise<Map<string, Buffer>> {
    const reply = await this.post("/msync/downloadFiles", { files: names });
    if (reply.status !== 200) throw new ProtocolError("downloadFiles", reply.status, reply.body.toString());
    const entries = await readZip(reply.body);
    const meta = JSON.parse(entries.get("_meta")?.toString() ?? "null") as Record<string, string>;
    const files = new Map<string, Buffer>();
    for (const [inZip, name] of Object.entries(meta)) files.set(name, entries.get(inZip) ?? Buffer.alloc(0));
    return files;
  }
}

export interface MetaReply {
  mod: number;
  scm: number;
  usn: number;
  ts: number;
  msg: string;
  cont: boolean;
  hostNum: number;
  empty: boolean;
  media_usn: number;
}

export type LegacyObject = { [key: string]: Json };

export interface LocalChanges {
  models?: LegacyObject[];
  decks?: LegacyObject[];
  deckConfigs?: LegacyObject[];
  tags?: string[];
  conf?: LegacyObject;
  crt?: number;
}

function extra(changes: LocalChanges): Partial<Record<"conf" | "crt", Json>> {
  const out: Partial<Record<"conf" | "crt", Json>> = {};
  if (changes.conf !== undefined) out.conf = changes.conf;
  if (changes.crt !== undefined) out.crt = changes.crt;
  return out;
}

export interface ServerChanges {
  models: LegacyObject[];
  decks: [LegacyObject[], LegacyObject[]];
  tags: string[];
  conf?: LegacyObject;
  crt?: number;
}

/** [id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data] */
export type NoteRow = [number, string, number, number, number, string, string, string, string, number, string];
/** [id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data] */
export type CardRow = [number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, string];
/** [id, cid, usn, ease, ivl, lastIvl, factor, time, type] */
export type RevlogRow = [number, number, number, number, number, number, number, number, number];

export interface ServerChunk {
  done: boolean;
  notes?: NoteRow[];
  cards?: CardRow[];
  revlog?: RevlogRow[];
}

export interface MediaResult<T> {
  data: T;
  err: string;
}

async function send(url: string, path: string, hostKey: string, sessionKey: string, body: Buffer): Promise<Reply> {
  const header = JSON.stringify({ v: 11, k: hostKey, c: "anki,25.02 (protocol-test),linux", s: sessionKey });
  const res = await fetch(url + path, { method: "POST", body, headers: { "anki-sync": header, "content-type": "application/octet-stream" } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** An upload zip as rslib builds it: entries "0", "1", ... and `_meta` = [[name, entry or null], ...]. */
export async function uploadZip(files: [string, Buffer | null][]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const meta: [string, string | null][] = [];
  files.forEach(([name, data], i) => {
    if (data === null) {
      meta.push([name, null]);
    } else {
      zip.addBuffer(data, String(i), { compress: false });
      meta.push([name, String(i)]);
    }
  });
  zip.addBuffer(Buffer.from(JSON.stringify(meta)), "_meta");
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readZip(data: Buffer): Promise<Map<string, Buffer>> {
  const zip = await yauzl.fromBufferPromise(data, { lazyEntries: true });
  const out = new Map<string, Buffer>();
  for await (const entry of zip.eachEntry()) {
    const chunks: Buffer[] = [];
    for await (const c of await zip.openReadStreamPromise(entry)) chunks.push(c as Buffer);
    out.set(entry.fileName, Buffer.concat(chunks));
  }
  return out;
}
