// Deck and tag name normalisation, mirroring what rslib applies to names it
// receives: NFC, no ASCII control characters, trimmed components, "blank"
// for empty components.

// Rust's char::is_whitespace is the Unicode White_Space property; JS \s is a
// different set (it includes U+FEFF and misses U+0085), so use the property.
const EDGE_WS_OR_COLON = /^[\p{White_Space}:]+|[\p{White_Space}:]+$/gu;
const EDGE_WS = /^\p{White_Space}+|\p{White_Space}+$/gu;
// eslint-disable-next-line no-control-regex
const ASCII_CONTROL = /[\u0000-\u001f\u007f]/g;
// eslint-disable-next-line no-control-regex
const ASCII_CONTROL_OR_TAG_SEP = /[\u0000-\u001f\u007f \u3000]/g;

function deckComponent(comp: string): string {
  const cleaned = comp.normalize("NFC").replace(ASCII_CONTROL, "").replace(EDGE_WS_OR_COLON, "");
  return cleaned === "" ? "blank" : cleaned;
}

/** Human deck name ("a::b") -> normalised native name ("a\x1fb"). */
export function nativeDeckName(human: string): string {
  return human.split("::").map(deckComponent).join("\x1f");
}

/** Native deck name -> human name. */
export function humanDeckName(native: string): string {
  return native.replaceAll("\x1f", "::");
}

function tagComponent(comp: string): string {
  const cleaned = comp.normalize("NFC").replace(ASCII_CONTROL_OR_TAG_SEP, "").replace(EDGE_WS, "");
  return cleaned === "" ? "blank" : cleaned;
}

/** Normalises a tag name received through sync ("a::b" hierarchy kept). */
export function normalizeTagName(tag: string): string {
  return tag.split("::").map(tagComponent).join("::");
}
