// A normal sync driven over HTTP against a running server, step by step as
// rslib's NormalSyncer makes it, with the stored collection checked after each
// sync; then the merge rules for conflicting rows and the failure paths
// (wrong session, failed sanity check, abort, a failing step).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LegacyObject, ProtocolError, type ServerChanges, SyncClient } from "./client.js";
import { card, counts, deck, note, notetypeId, review, stored } from "./rows.js";
import { type TestServer, startTestServer } from "./server-fixture.js";

const USERS = ["whole", "merge", "graves", "chunks", "conf", "session", "sanity", "abort", "failstep", "meta"];
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ users: USERS.map((u) => `${u}:pw-${u}`) });
});

afterAll(async () => {
  await server.close();
});

const login = (user: string) => SyncClient.login(server.url, user, `pw-${user}`);

const NOW_SECS = Math.floor(Date.now() / 1000);
const DECK_ID = 1_700_000_000_001;
const NOTE_ID = 1_700_000_000_100;
const CARD_ID = 1_700_000_000_200;
const REVIEW_ID = 1_700_000_000_300;

interface FirstSync {
  basic: number;
  stockNotetypes: number;
  finishedAt: number;
}

/**
 * The first sync of a device that has one deck, one note with its card and a
 * review. Returns what later steps need to know about the server.
 */
async function firstSync(client: SyncClient): Promise<FirstSync> {
  const meta = await client.meta();
  expect(meta).toMatchObject({ usn: 0, mod: 0, empty: true, cont: true });
  expect(await client.start(0, false)).toEqual({ cards: [], notes: [], decks: [] });
  await client.applyGraves({});
  const server: ServerChanges = await client.applyChanges({ decks: [deck(DECK_ID, "Vocab", NOW_SECS)], tags: ["vocab"] });
  const basic = notetypeId(server, "Basic");
  expect(await client.allChunks()).toEqual({ done: true, notes: [], cards: [], revlog: [] });
  await client.applyChunk({
    notes: [note(NOTE_ID, basic, NOW_SECS, ["<b>hola</b>", "hello"], " vocab ")],
    cards: [card(CARD_ID, NOTE_ID, DECK_ID, NOW_SECS)],
    revlog: [review(REVIEW_ID, CARD_ID)],
  });
  const stockNotetypes = server.models.length;
  // The server's Default deck and deck options, plus the deck this device added.
  const sanity = await client.sanityCheck(counts({ cards: 1, notes: 1, revlog: 1, notetypes: stockNotetypes, decks: 2, deckConfigs: 1 }));
  expect(sanity.status).toBe("ok");
  const finishedAt = await client.finish();
  return { basic, stockNotetypes, finishedAt };
}

describe("a whole normal sync", () => {
  it("stores the client's rows, stamps them with the server usn and bumps the collection's usn", async () => {
    const a = await login("whole");
    const before = Date.now();
    const { basic, finishedAt } = await firstSync(a);
    expect(finishedAt).toBeGreaterThanOrEqual(before);
    expect(finishedAt).toBeLessThanOrEqual(Date.now());

    stored(server.collectionPath("whole"), (col) => {
      expect(col.col()).toEqual({ usn: 1, mod: finishedAt, ls: finishedAt });
      const [stored] = col.notes();
      expect(col.notes()).toHaveLength(1);
      // The server computes the sort field and checksum itself (HTML stripped).
      expect(stored).toMatchObject({ id: NOTE_ID, mid: basic, mod: NOW_SECS, usn: 0, tags: " vocab ", flds: "<b>hola</b>\u001fhello", sfld: "hola" });
      expect(stored!.csum).toBeGreaterThan(0);
      expect(col.cards()).toEqual([{ id: CARD_ID, nid: NOTE_ID, did: DECK_ID, mod: NOW_SECS, usn: 0, due: 1 }]);
      expect(col.revlog()).toEqual([{ id: REVIEW_ID, cid: CARD_ID, usn: 0, ease: 3 }]);
      expect(col.count("decks")).toBe(2);
    });
  });

  it("hands those rows, the deck and the tag to the next device", async () => {
    const b = await login("whole");
    const meta = await b.meta();
    expect(meta.usn).toBe(1);
    expect(meta.empty).toBe(false);
    await b.start(0, false);
    const changes = await b.applyChanges({});
    expect(changes.decks[0].map((d) => d.name)).toContain("Vocab");
    expect(changes.tags).toContain("vocab");
    // The older side gets the whole config and crt.
    expect(changes.conf).toBeTypeOf("object");
    expect(changes.crt).toBeTypeOf("number");
    const rows = await b.allChunks();
    // Rows go out with their stored usn; sfld and csum are empty strings on the wire.
    expect(rows.notes).toEqual([[NOTE_ID, `guid${NOTE_ID}`, expect.any(Number), NOW_SECS, 0, " vocab ", "<b>hola</b>\u001fhello", "", "", 0, ""]]);
    expect(rows.cards!.map((c) => c[0])).toEqual([CARD_ID]);
    expect(rows.revlog!.map((r) => r[0])).toEqual([REVIEW_ID]);
    await b.abort();
  });

  it("sends nothing back to a device that is up to date, and leaves conf to the newer side", async () => {
    const c = await login("whole");
    await c.meta();
    await c.start(1, true);
    const changes = await c.applyChanges({});
    expect(changes).toEqual({ models: [], decks: [[], []], tags: [] });
    expect(await c.chunk()).toEqual({ done: true });
    await c.abort();
  });
});

describe("merge rules for notes and cards", () => {
  it("keeps the server's row when it changed since the client last synced and is at least as new", async () => {
    const a = await login("merge");
    const { basic, stockNotetypes } = await firstSync(a);

    // Device B last synced before A's sync (minUsn 0): A's note is new to B.
    const b = await login("merge");
    await b.meta();
    await b.start(0, false);
    await b.applyChanges({});
    await b.allChunks();
    await b.applyChunk({
      // An older edit of the same note loses...
      notes: [note(NOTE_ID, basic, NOW_SECS - 100, ["older", "edit"])],
      // ...a newer edit of the card wins.
      cards: [card(CARD_ID, NOTE_ID, DECK_ID, NOW_SECS + 100, 42)],
      // A review the server already has is not overwritten.
      revlog: [review(REVIEW_ID, CARD_ID, 1)],
    });
    expect((await b.sanityCheck(counts({ cards: 1, notes: 1, revlog: 1, notetypes: stockNotetypes, decks: 2, deckConfigs: 1 }))).status).toBe("ok");
    await b.finish();

    stored(server.collectionPath("merge"), (col) => {
      expect(col.col().usn).toBe(2);
      expect(col.notes()[0]).toMatchObject({ flds: "<b>hola</b>\u001fhello", mod: NOW_SECS, usn: 0 });
      expect(col.cards()[0]).toMatchObject({ mod: NOW_SECS + 100, due: 42, usn: 1 });
      expect(col.revlog()[0]).toMatchObject({ ease: 3, usn: 0 });
    });
  });

  it("takes the client's row when the server's did not change since the client's last sync, even if older", async () => {
    const c = await login("merge");
    const meta = await c.meta();
    // Device C synced after both (minUsn = server usn): nothing on the server is new to it.
    await c.start(meta.usn, false);
    await c.applyChanges({});
    expect(await c.chunk()).toEqual({ done: true });
    // C edits the note it already has, with its notetype.
    const mid = stored(server.collectionPath("merge"), (col) => col.notes()[0]!.mid);
    await c.applyChunk({ notes: [note(NOTE_ID, mid, NOW_SECS - 500, ["edited on C", "back"], " vocab edited ")] });
    const stockNotetypes = stored(server.collectionPath("merge"), (col) => col.count("notetypes"));
    expect((await c.sanityCheck(counts({ cards: 1, notes: 1, revlog: 1, notetypes: stockNotetypes, decks: 2, deckConfigs: 1 }))).status).toBe("ok");
    await c.finish();
    stored(server.collectionPath("merge"), (col) => {
      expect(col.notes()[0]).toMatchObject({ flds: "edited on C\u001fback", sfld: "edited on C", mod: NOW_SECS - 500, usn: 2, tags: " vocab edited " });
    });
  });

  it("keeps a deck the server changed later than the client's copy, and takes a newer one", async () => {
    const d = await login("merge");
    const meta = await d.meta();
    await d.start(meta.usn, true);
    await d.applyChanges({ decks: [deck(DECK_ID, "Renamed too early", NOW_SECS - 1000), deck(DECK_ID + 1, "Second", NOW_SECS)], tags: ["Vocab", "extra"] });
    const stockNotetypes = stored(server.collectionPath("merge"), (col) => col.count("notetypes"));
    expect((await d.sanityCheck(counts({ cards: 1, notes: 1, revlog: 1, notetypes: stockNotetypes, decks: 3, deckConfigs: 1 }))).status).toBe("ok");
    await d.finish();

    const e = await login("merge");
    await e.meta();
    await e.start(0, false);
    const changes = await e.applyChanges({});
    const names = changes.decks[0].map((x) => x.name).sort();
    expect(names).toEqual(["Default", "Second", "Vocab"]);
    // Tags are matched case-insensitively: "Vocab" is the existing "vocab".
    expect([...changes.tags].sort()).toEqual(["extra", "vocab"]);
    await e.abort();
  });
});

describe("deletions", () => {
  it("applyGraves deletes the rows, records graves, and start hands them to the next device", async () => {
    const a = await login("graves");
    const { stockNotetypes } = await firstSync(a);
    const b = await login("graves");
    const meta = await b.meta();
    await b.start(meta.usn, false);
    await b.applyGraves({ notes: [NOTE_ID], cards: [CARD_ID], decks: [DECK_ID] });
    await b.applyChanges({});
    await b.allChunks();
    await b.applyChunk({});
    expect((await b.sanityCheck(counts({ cards: 0, notes: 0, revlog: 1, notetypes: stockNotetypes, decks: 1, deckConfigs: 1 }))).status).toBe("ok");
    await b.finish();
    stored(server.collectionPath("graves"), (col) => {
      expect(col.notes()).toEqual([]);
      expect(col.cards()).toEqual([]);
      expect(col.graves()).toEqual([
        { oid: CARD_ID, type: 0, usn: 1 },
        { oid: NOTE_ID, type: 1, usn: 1 },
        { oid: DECK_ID, type: 2, usn: 1 },
      ]);
    });
    const c = await login("graves");
    await c.meta();
    expect(await c.start(1, false)).toEqual({ cards: [CARD_ID], notes: [NOTE_ID], decks: [DECK_ID] });
    await c.abort();
  });
});

describe("chunks and config", () => {
  it("sends more than 250 rows in several chunks and never echoes the client's own rows", async () => {
    const a = await login("chunks");
    await a.meta();
    await a.start(0, false);
    const changes = await a.applyChanges({});
    const basic = notetypeId(changes, "Basic");
    const notes = Array.from({ length: 300 }, (_, i) => note(NOTE_ID + i, basic, NOW_SECS, [`front ${i}`, "back"]));
    await a.applyChunk({ notes: notes.slice(0, 150) });
    await a.applyChunk({ notes: notes.slice(150) });
    expect((await a.sanityCheck(counts({ cards: 0, notes: 300, revlog: 0, notetypes: changes.models.length, decks: 1, deckConfigs: 1 }))).status).toBe("ok");
    await a.finish();

    const b = await login("chunks");
    await b.meta();
    await b.start(0, false);
    await b.applyChanges({});
    const first = await b.chunk();
    expect(first.done).toBe(false);
    expect(first.notes).toHaveLength(250);
    // A row the client sends now is not among what the server still has to send.
    await b.applyChunk({ notes: [note(NOTE_ID + 1000, basic, NOW_SECS, ["new on b", ""])] });
    const second = await b.chunk();
    expect(second.done).toBe(true);
    const sent = [...first.notes!, ...second.notes!].map((n) => n[0]);
    expect(new Set(sent).size).toBe(300);
    expect(sent).not.toContain(NOTE_ID + 1000);
    expect(await b.chunk()).toEqual({ done: true });
    await b.abort();
  });

  it("the newer client's config replaces the server's whole config map; the older one gets the server's", async () => {
    const a = await login("conf");
    await a.meta();
    await a.start(0, false);
    const server = await a.applyChanges({});
    expect(server.conf).toHaveProperty("curDeck");
    await a.abort();

    const b = await login("conf");
    await b.meta();
    await b.start(0, true);
    const conf: LegacyObject = { ...server.conf, curDeck: 1, addedByClient: "yes" };
    delete conf.curModel;
    const reply = await b.applyChanges({ conf, crt: 1_600_000_000 });
    expect(reply).not.toHaveProperty("conf");
    expect((await b.sanityCheck(counts({ cards: 0, notes: 0, revlog: 0, notetypes: server.models.length, decks: 1, deckConfigs: 1 }))).status).toBe("ok");
    await b.finish();

    const c = await login("conf");
    await c.meta();
    await c.start(0, false);
    const after = await c.applyChanges({});
    expect(after.crt).toBe(1_600_000_000);
    expect(after.conf).toMatchObject({ addedByClient: "yes", curDeck: 1 });
    expect(after.conf).not.toHaveProperty("curModel");
    await c.abort();
  });
});

describe("failure paths", () => {
  it("answers 409 to a step with another session's key or without a sync, and the right key carries on", async () => {
    const a = await login("session");
    await a.meta();
    await a.start(0, false);
    const owner = a.sessionKey;
    a.sessionKey = "someone-else";
    expect(await a.status("/sync/applyGraves", { chunk: { cards: [], notes: [], decks: [] } })).toBe(409);
    expect(await a.status("/sync/chunk", { _pad: null })).toBe(409);
    a.sessionKey = owner;
    await a.applyGraves({});
    // A new start (another device, another key) replaces the sync: the old key is now refused.
    const b = await login("session");
    await b.start(0, false);
    expect(await a.status("/sync/applyChanges", { changes: { models: [], decks: [[], []], tags: [] } })).toBe(409);
    await b.finish();
    // After finish there is no sync left to continue.
    expect(await b.status("/sync/chunk", { _pad: null })).toBe(409);
    expect(await b.status("/sync/finish", { _pad: null })).toBe(409);
  });

  it("a full download ends the open sync: its key then gets 409", async () => {
    const a = await login("session");
    await a.meta();
    await a.start(1, false);
    const download = await a.post("/sync/download", { _pad: null });
    expect(download.status).toBe(200);
    expect(download.body.subarray(0, 16).toString("latin1")).toBe("SQLite format 3\u0000");
    expect(await a.status("/sync/applyGraves", { chunk: { cards: [], notes: [], decks: [] } })).toBe(409);
  });

  it("a failed sanity check rolls back everything of the sync; the next step fails and nothing was stored", async () => {
    const a = await login("sanity");
    await a.meta();
    await a.start(0, false);
    const changes = await a.applyChanges({ decks: [deck(DECK_ID, "Vocab", NOW_SECS)] });
    await a.allChunks();
    await a.applyChunk({ notes: [note(NOTE_ID, notetypeId(changes, "Basic"), NOW_SECS, ["a", "b"])], cards: [card(CARD_ID, NOTE_ID, DECK_ID, NOW_SECS)] });
    // The client claims two notes: the counts differ.
    const reply = await a.sanityCheck(counts({ cards: 1, notes: 2, revlog: 0, notetypes: changes.models.length, decks: 2, deckConfigs: 1 }));
    expect(reply.status).toBe("bad");
    expect(reply.s).toEqual(counts({ cards: 1, notes: 1, revlog: 0, notetypes: changes.models.length, decks: 2, deckConfigs: 1 }));
    // The client then aborts; a finish sent anyway must not commit anything.
    expect(await a.status("/sync/finish", { _pad: null })).toBe(400);
    expect(await a.abort()).toBeNull();
    stored(server.collectionPath("sanity"), (col) => {
      expect(col.col().usn).toBe(0);
      expect(col.notes()).toEqual([]);
      expect(col.cards()).toEqual([]);
      expect(col.count("decks")).toBe(1);
    });
    const b = await login("sanity");
    expect((await b.meta()).usn).toBe(0);
    await b.start(0, false);
    expect((await b.applyChanges({})).decks[0].map((d) => d.name)).toEqual(["Default"]);
    expect(await b.chunk()).toEqual({ done: true });
    await b.abort();
  });

  it("abort rolls back the sync whatever was applied, and is answered null even with no sync open", async () => {
    const a = await login("abort");
    expect(await a.abort()).toBeNull();
    await a.meta();
    await a.start(0, false);
    const changes = await a.applyChanges({ tags: ["kept?"] });
    await a.applyChunk({ notes: [note(NOTE_ID, notetypeId(changes, "Basic"), NOW_SECS, ["a", "b"])] });
    expect(await a.abort()).toBeNull();
    expect(await a.status("/sync/sanityCheck2", { client: counts({ cards: 0, notes: 1, revlog: 0, notetypes: 0, decks: 1, deckConfigs: 1 }) })).toBe(409);
    stored(server.collectionPath("abort"), (col) => {
      expect(col.notes()).toEqual([]);
      expect(col.col().usn).toBe(0);
    });
    const b = await login("abort");
    await b.start(0, false);
    expect((await b.applyChanges({})).tags).toEqual([]);
    await b.abort();
  });

  it("a step that fails (a note of an unknown notetype) answers 400 and rolls back the sync's earlier steps", async () => {
    const a = await login("failstep");
    await a.meta();
    await a.start(0, false);
    const changes = await a.applyChanges({ decks: [deck(DECK_ID, "Vocab", NOW_SECS)] });
    await a.applyChunk({ notes: [note(NOTE_ID, notetypeId(changes, "Basic"), NOW_SECS, ["a", "b"])] });
    const bad = await a.post("/sync/applyChunk", { chunk: { done: true, notes: [note(NOTE_ID + 1, 12345, NOW_SECS, ["x", "y"])] } });
    expect(bad.status).toBe(400);
    // The session is gone with the failure.
    expect(await a.status("/sync/finish", { _pad: null })).toBe(409);
    stored(server.collectionPath("failstep"), (col) => {
      expect(col.notes()).toEqual([]);
      expect(col.count("decks")).toBe(1);
    });
  });

  it("a malformed step body is a 400 that leaves the sync intact", async () => {
    const a = await login("failstep");
    await a.start(0, false);
    expect(await a.status("/sync/applyChunk", { chunk: { notes: [[1, "short"]] } })).toBe(400);
    expect(await a.status("/sync/applyGraves", { chunk: { cards: "nope" } })).toBe(400);
    expect(await a.chunk()).toEqual({ done: true });
    await a.abort();
  });

  it("refuses an unsupported sync version in meta with 501 and a wrong password with 403", async () => {
    const a = await login("meta");
    expect(await a.status("/sync/meta", { v: 7, cv: "old" })).toBe(501);
    expect(await a.status("/sync/meta", { v: 12, cv: "new" })).toBe(501);
    await expect(SyncClient.login(server.url, "meta", "wrong")).rejects.toMatchObject({ status: 403 } satisfies Partial<ProtocolError>);
    expect((await a.meta()).usn).toBe(0);
  });
});
