// V8 in "start-up mode" while code runs that runs only once: the server's
// start-up and, at the first login, the import of the sync and media
// handlers.
//
// Loading ~65 modules at start (and ~60 more at the first login) makes
// Node's own path-resolution helpers hot enough for TurboFan and Sparkplug
// to compile them. That machine code, the compilers' working memory (which
// malloc keeps) and the compilers' own pages of the `node` binary then stay
// resident for code that never runs again: about 4.5 MB of an idle server
// and 9 MB more at the first login. The same burst of allocation also
// doubles V8's young generation (semi-spaces 1 -> 2 MiB), which an idle
// server then keeps, mostly empty, until V8's memory reducer runs ~10 s
// later: 1 MB more. So in start-up mode both compilers are off and the young
// generation does not grow; leaving it restores V8's defaults, and from then
// on hot code (every sync) is optimized and the young generation sized as
// usual.
//
// Command-line flags could not be set in every way the server starts (npm
// start, the bin, the Nix wrapper, the bench) and NODE_OPTIONS can be
// cleared; V8 reads these flags at each tiering decision and each
// young-generation resize, so switching them at run time is enough (Node
// leaves flags unfrozen after start). They are process-wide: a request
// served meanwhile runs interpreted for those few hundred milliseconds, once.
import { setFlagsFromString } from "node:v8";

const START_UP_FLAGS = "--no-turbofan --no-sparkplug --semi-space-growth-factor=1";
/** V8's defaults for the same flags (Node 20, V8 11.3). */
const DEFAULT_FLAGS = "--turbofan --sparkplug --semi-space-growth-factor=2";

let depth = 0;

/** Enters start-up mode until the matching leave (they nest). */
export function enterStartUpMode(): void {
  if (depth++ === 0) setFlagsFromString(START_UP_FLAGS);
}

export function leaveStartUpMode(): void {
  if (depth === 0) return;
  if (--depth === 0) setFlagsFromString(DEFAULT_FLAGS);
}

/** Runs `load` (imports) in start-up mode. */
export async function inStartUpMode<T>(load: () => Promise<T>): Promise<T> {
  enterStartUpMode();
  try {
    return await load();
  } finally {
    leaveStartUpMode();
  }
}
