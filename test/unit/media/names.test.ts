import { describe, expect, it } from "vitest";
import { isValidMediaName, mediaNameProblem } from "../../../src/media/names.js";

describe("media file names", () => {
  it.each([
    "a.jpg",
    "photo 1 from trip.jpg",
    "café crème.png",
    "日本語の音声.ogg",
    "🎉 party 🦊.gif",
    "Ünïcödé-Straße.webp",
    "back\\slash.png", // a legal name on Linux; old clients may hold it
    "colon:name.mp3",
    ".hidden",
    "...",
    "x".repeat(251) + ".png", // 255 bytes
    "é".repeat(127) + "a", // 255 bytes of 2-byte chars + 1
  ])("accepts %j", (name) => {
    expect(mediaNameProblem(name)).toBeUndefined();
  });

  it.each([
    ["", "empty"],
    [".", ". or .."],
    ["..", ". or .."],
    ["../x", "separator"],
    ["/etc/x", "separator"],
    ["a/b", "separator"],
    ["a\u0000b", "control"],
    ["a\u0001b", "control"],
    ["tab\there", "control"],
    ["del\u007f", "control"],
    ["x".repeat(252) + ".png", "longer than 255"],
    ["é".repeat(128), "longer than 255"],
    ["cafe\u0301.txt", "NFC"],
    ["lone \ud800 surrogate", "surrogate"],
  ])("refuses %j", (name, reason) => {
    expect(mediaNameProblem(name)).toContain(reason);
    expect(isValidMediaName(name)).toBe(false);
  });

  it("refuses non-strings", () => {
    expect(isValidMediaName(null)).toBe(false);
    expect(isValidMediaName(3)).toBe(false);
  });

  it("accepts a surrogate pair (emoji) and counts its UTF-8 bytes", () => {
    expect(isValidMediaName("😀".repeat(63))).toBe(true); // 252 bytes
    expect(isValidMediaName("😀".repeat(64))).toBe(false); // 256 bytes
  });
});
