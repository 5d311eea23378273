// V8's compilers during the server's start-up.
//
// Start-up runs once: ~65 modules are resolved and evaluated, and Node's own
// path-resolution helpers get hot enough for TurboFan (and Sparkplug) to
// compile them. Their machine code, and the compilers' own pages of the
// `node` binary, then stay resident for the life of an idle server: about
// 4-5 MB of its idle RSS, for code that never runs again. So `serve` starts
// with both compilers off and turns them back on once it listens; from then
// on hot code (every sync) is optimized as usual. A flag on the command line
// would do the same but could not be set in every way the server is started
// (npm start, the bin, the Nix wrapper, the bench), and NODE_OPTIONS can be
// cleared; V8 reads these two flags at each tiering decision, so switching
// them at run time is enough (Node leaves flags unfrozen after start).
import { setFlagsFromString } from "node:v8";

export function pauseOptimizingCompilers(): void {
  setFlagsFromString("--no-turbofan --no-sparkplug");
}

export function resumeOptimizingCompilers(): void {
  setFlagsFromString("--turbofan --sparkplug");
}
