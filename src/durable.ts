// Durability helpers shared by every writer that renames files into place.
import { closeSync, fsyncSync, openSync } from "node:fs";

/** Makes a directory's entries (creations, renames, deletions) durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
