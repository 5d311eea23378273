// V8's compilers while code runs that runs only once: the server's start-up
// and, at the first login, the import of the sync and media handlers.
//
// Loading ~65 modules at start (and ~60 more at the first login) makes
// Node's own path-resolution helpers hot enough for TurboFan and Sparkplug
// to compile them. That machine code, the compilers' working memory (which
// malloc keeps) and the compilers' own pages of the `node` binary then stay
// resident for code that never runs again: about 4.5 MB of an idle server
// and 9 MB more at the first login. So both compilers are paused around
// these phases and resumed after; from then on hot code (every sync) is
// optimized as usual. A command-line flag could not be set in every way the
// server starts (npm start, the bin, the Nix wrapper, the bench) and
// NODE_OPTIONS can be cleared; V8 reads these two flags at each tiering
// decision, so switching them at run time is enough (Node leaves flags
// unfrozen after start). The flags are process-wide: a request served during
// a pause runs interpreted for those few hundred milliseconds, once.
import { setFlagsFromString } from "node:v8";

let pauses = 0;

/** Pauses both compilers until the matching resume (pauses nest). */
export function pauseOptimizingCompilers(): void {
  if (pauses++ === 0) setFlagsFromString("--no-turbofan --no-sparkplug");
}

export function resumeOptimizingCompilers(): void {
  if (pauses === 0) return;
  if (--pauses === 0) setFlagsFromString("--turbofan --sparkplug");
}

/** Runs `load` (imports) with the compilers paused. */
export async function withCompilersPaused<T>(load: () => Promise<T>): Promise<T> {
  pauseOptimizingCompilers();
  try {
    return await load();
  } finally {
    resumeOptimizingCompilers();
  }
}
