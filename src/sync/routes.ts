// The `/sync/<method>` route table: every method name and the module in this
// folder that answers it (the `/msync/` table is src/media/routes.ts).
//
// The handler modules are not imported at server start: the sync steps pull
// in the collection code (protobuf codecs, legacy JSON conversion), which an
// idle server need not keep in memory. They load together on the first login
// (preloadSyncHandlers, called by the app) or, at the latest, with the first
// request of any route; later requests find them loaded. The code that
// creates a brand-new collection (stock notetypes) loads only for a user who
// has none yet.
import { existsSync } from "node:fs";
import { jsonReply, type Reply, type RequestInfo, type RouteTable, type UserRoute } from "../protocol/types.js";
import { loadCollectionCreator, type UserState } from "../users/user.js";

export interface CollectionRouteDeps {
  /** The largest collection a full upload may send (the body limit). */
  maxCollectionBytes: number;
  mediaUsn: (user: UserState) => number;
}

async function loadHandlers() {
  const [meta, start, applyGraves, applyChanges, chunk, applyChunk, sanityCheck, finish, upload, download] = await Promise.all([
    import("./meta.js"),
    import("./start.js"),
    import("./apply-graves.js"),
    import("./apply-changes.js"),
    import("./chunk.js"),
    import("./apply-chunk.js"),
    import("./sanity-check.js"),
    import("./finish.js"),
    import("./upload.js"),
    import("./download.js"),
  ]);
  return {
    meta: meta.meta,
    start: start.start,
    applyGraves: applyGraves.applyGraves,
    applyChanges: applyChanges.applyChanges,
    chunk: chunk.chunk,
    applyChunk: applyChunk.applyChunk,
    sanityCheck: sanityCheck.sanityCheck,
    finish: finish.finish,
    upload: upload.upload,
    download: download.download,
  };
}

type Handlers = Awaited<ReturnType<typeof loadHandlers>>;
let loading: Promise<Handlers> | undefined;

/** Loads every sync step's module (once; later calls share the first load, a failed one is retried). */
export function preloadSyncHandlers(): Promise<Handlers> {
  loading ??= loadHandlers().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/** The handlers, and for a user without a collection the code that creates one. */
async function handlersFor(user: UserState): Promise<Handlers> {
  if (!existsSync(user.collectionPath)) await loadCollectionCreator();
  return preloadSyncHandlers();
}

type JsonHandler = (h: Handlers, user: UserState, payload: Buffer, info: RequestInfo) => Promise<Reply> | Reply;

function json(run: JsonHandler): UserRoute {
  return { body: "json", handle: async (user, payload, info) => run(await handlersFor(user), user, payload, info) };
}

export function collectionRoutes(deps: CollectionRouteDeps): RouteTable {
  const { maxCollectionBytes } = deps;
  return {
    // Login: answered by the HTTP layer with the authenticator (src/http/login.ts).
    hostKey: { body: "login" },
    meta: json((h, user, payload) => h.meta(user, payload, { maxCollectionBytes, mediaUsn: deps.mediaUsn })),
    start: json((h, user, payload, info) => h.start(user, payload, info)),
    applyGraves: json((h, user, payload, info) => h.applyGraves(user, payload, info)),
    applyChanges: json((h, user, payload, info) => h.applyChanges(user, payload, info)),
    chunk: json((h, user, payload, info) => h.chunk(user, payload, info)),
    applyChunk: json((h, user, payload, info) => h.applyChunk(user, payload, info)),
    sanityCheck2: json((h, user, payload, info) => h.sanityCheck(user, payload, info)),
    finish: json((h, user, payload, info) => h.finish(user, payload, info)),
    upload: { body: "file", handle: async (user, file) => (await handlersFor(user)).upload(user, file) },
    download: json((h, user, _payload, info) => h.download(user, info)),
    // Ends whatever sync the user has open; answered with JSON null whatever the state.
    abort: {
      body: "json",
      handle: (user) => {
        user.abortActiveSession();
        return jsonReply(null);
      },
    },
  };
}
