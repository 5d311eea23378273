// Media file names as the server accepts them. A name becomes a file directly
// inside the user's media folder, so everything that could make it anything
// else is refused before the disk is touched.
//
// The official server checks: at most 255 UTF-8 bytes, NFC, no path separator
// ("/" on Linux). We also refuse what would make it fail later or escape the
// folder: the empty name, "." and "..", control characters (NUL included) and
// unpaired surrogates. Real clients never produce any of those (their own
// normalization strips control characters). Backslash, ":" and the like are
// legal names on Linux and stay accepted: old clients may hold such files.
import { MAX_NAME_BYTES } from "./limits.js";

// In a /u regex a well-formed surrogate pair is one code point, so only
// unpaired halves match \p{Cs}.
const LONE_SURROGATE = /\p{Cs}/u;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `name` is not an acceptable media file name, or undefined when it is. */
export function mediaNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return "name is not a string";
  if (name.length === 0) return "empty name";
  if (LONE_SURROGATE.test(name)) return "name has an unpaired surrogate";
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) return `name longer than ${MAX_NAME_BYTES} bytes`;
  if (name.normalize("NFC") !== name) return "name is not NFC";
  if (name.includes("/")) return "name contains a path separator";
  if (name === "." || name === "..") return "name is . or ..";
  if (CONTROL.test(name)) return "name contains a control character";
  return undefined;
}

export function isValidMediaName(name: unknown): name is string {
  return mediaNameProblem(name) === undefined;
}

/** A name shortened and escaped for log lines. */
export function nameForLog(name: string): string {
  return name.length > 80 ? `${name.slice(0, 77)}...` : name;
}
