import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { deriveNoteColumns, joinTags, stripHtmlPreservingMediaFilenames } from "../../../src/collection/note-text.js";

describe("note sort field and checksum", () => {
  it("strips tags but keeps media file names", () => {
    expect(stripHtmlPreservingMediaFilenames('a<b>bold</b> <img src="cat.jpg"> [sound:x.mp3]')).toBe("abold  cat.jpg  [sound:x.mp3]");
    expect(stripHtmlPreservingMediaFilenames("<!-- c --><style>p{}</style>x<script>1</script>y")).toBe("xy");
  });

  it("decodes entities, and leaves text with a stray & undecoded", () => {
    expect(stripHtmlPreservingMediaFilenames("a&amp;b&nbsp;c")).toBe("a&b c");
    expect(stripHtmlPreservingMediaFilenames("fish & chips &amp;")).toBe("fish & chips &amp;");
  });

  it("checksums the stripped first field as a big-endian u32 of its SHA-1", () => {
    const derived = deriveNoteColumns(["<b>Hello</b>", "x\u0001y"], 1);
    const expected = createHash("sha1").update("Hello").digest().readUInt32BE(0);
    expect(derived.checksum).toBe(expected);
    expect(derived.sortField).toBe("xy");
    expect(derived.fields[1]).toBe("xy");
  });

  it("joins tags canonically", () => {
    expect(joinTags("  a   b\u3000c ")).toBe(" a b c ");
    expect(joinTags("   ")).toBe("");
  });
});
