// Operator repair for a media DB that lists files the media folder no longer
// holds (lost disk, a media.db restored without its folder, files deleted by
// hand). Symptom: a device's media sync fails again and again with a conflict
// ("Only one copy of Anki can sync...") while its progress stays at
// "Checked: N", because every downloadFiles for a missing file answers 409 and
// the official behaviour forgets only one such file per attempt; meanwhile the
// devices that still have the files believe the server has them too and never
// send them again.
//
// What it does, with the server stopped:
//  1. finishes any upload interrupted by a crash (as every open does);
//  2. checks every current entry against media/: the file must exist and have
//     the recorded size and (unless told not to) the recorded SHA-1;
//  3. forgets each entry that fails (row dropped, no deletion record, so no
//     device deletes its copy), recomputes the meta totals from the rows, and,
//     if anything was forgotten, raises last_usn by one.
// The raised usn makes every device fetch changes at its next media sync and
// then run the media sanity check. Devices whose media DB still counts the
// forgotten files fail it once ("resync required"), reset their media sync
// state, and on the following sync upload whatever they hold that the server
// lacks; the others download it from there.
import { closeSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { MediaDb, type MediaEntry } from "./db.js";

export interface ReconcileOptions {
  /** Compare contents with the recorded SHA-1 (reads every file). Default true. */
  verifyHashes?: boolean;
  /** Report only; change nothing. */
  dryRun?: boolean;
}

export interface ReconcileReport {
  entries: number;
  missing: string[];
  wrongSize: string[];
  wrongContent: string[];
  /** Files in media/ that no current entry names (left alone). */
  unreferenced: number;
  lastUsnBefore: number;
  lastUsnAfter: number;
  totalsBefore: { bytes: number; files: number };
  totalsAfter: { bytes: number; files: number };
  changed: boolean;
}

function sha1OfFile(path: string): Buffer {
  const hash = createHash("sha1");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest();
}

export function reconcileMedia(userDir: string, options: ReconcileOptions = {}): ReconcileReport {
  const verify = options.verifyHashes ?? true;
  const db = MediaDb.open(userDir);
  try {
    const before = db.meta();
    const entries = db.nonemptyEntries();
    const report: ReconcileReport = {
      entries: entries.length,
      missing: [],
      wrongSize: [],
      wrongContent: [],
      unreferenced: 0,
      lastUsnBefore: before.lastUsn,
      lastUsnAfter: before.lastUsn,
      totalsBefore: { bytes: before.totalBytes, files: before.totalNonemptyFiles },
      totalsAfter: { bytes: before.totalBytes, files: before.totalNonemptyFiles },
      changed: false,
    };
    const bad: MediaEntry[] = [];
    for (const entry of entries) {
      const path = join(db.folder, entry.fname);
      let size: number | undefined;
      try {
        const st = statSync(path);
        if (st.isFile()) size = st.size;
      } catch {
        size = undefined;
      }
      if (size === undefined) report.missing.push(entry.fname);
      else if (size !== entry.size) report.wrongSize.push(entry.fname);
      else if (verify && !sha1OfFile(path).equals(entry.sha1)) report.wrongContent.push(entry.fname);
      else continue;
      bad.push(entry);
    }
    const current = new Set(entries.map((e) => e.fname));
    for (const name of readdirSync(db.folder)) if (!current.has(name)) report.unreferenced++;

    const good = entries.filter((e) => !bad.includes(e));
    const totals = { bytes: good.reduce((sum, e) => sum + e.size, 0), files: good.length };
    report.totalsAfter = totals;
    const totalsDrift = totals.bytes !== before.totalBytes || totals.files !== before.totalNonemptyFiles;
    if (options.dryRun || (bad.length === 0 && !totalsDrift)) return report;

    db.transaction((meta) => {
      const drop = db.db.prepare("DELETE FROM media WHERE fname = ?");
      for (const entry of bad) drop.run(entry.fname);
      meta.totalBytes = totals.bytes;
      meta.totalNonemptyFiles = totals.files;
      if (bad.length > 0) meta.lastUsn += 1;
      report.lastUsnAfter = meta.lastUsn;
    });
    report.changed = true;
    return report;
  } finally {
    db.close();
  }
}
