// The numbers media sync is built around. Values come from the official
// implementation (rslib/src/sync/media/mod.rs, zip.rs, database/server/
// entry/changes.sql); the only one of our own is MAX_ZIP_ENTRIES.

/** Files (or deletions) per zip, both directions: upload `_meta` rows and downloadFiles names. */
export const MAX_FILES_PER_ZIP = 25;

/**
 * Once a batch holds more than this many file bytes, no further file is added
 * (the client does it for uploads, the server for downloads). The file that
 * crosses the line stays in the batch.
 */
export const TARGET_ZIP_BYTES = 2_621_440; // 2.5 MiB

/** Largest single media file, upload and download. */
export const MAX_FILE_BYTES = 104_857_600; // 100 MiB

/**
 * File bytes one upload may carry: a client stops adding files once it is past
 * TARGET_ZIP_BYTES, so a real batch never holds more than the target plus one
 * maximal file.
 */
export const MAX_UPLOAD_BATCH_BYTES = TARGET_ZIP_BYTES + MAX_FILE_BYTES;

/**
 * An upload body up to this size (decompressed) is received in memory, not
 * spooled to a file: a typical batch (TARGET_ZIP_BYTES plus the zip's
 * headers) fits. Ours, not Anki's: at most this much per request is held
 * while its body arrives, as a JSON body holds its chunk.
 */
export const IN_MEMORY_UPLOAD_BODY_BYTES = 4 * 1024 * 1024;

/** Longest file name the server accepts, in UTF-8 bytes (clients create at most 120). */
export const MAX_NAME_BYTES = 255;

/** The upload `_meta` entry is read up to this size; longer is malformed. */
export const MAX_META_BYTES = 50 * 1024;

/** Rows per mediaChanges reply. */
export const MAX_CHANGES_PER_REPLY = 1000;

/**
 * Entries in an upload zip's central directory. Not an Anki limit: real zips
 * hold at most MAX_FILES_PER_ZIP files plus `_meta`; this only bounds what the
 * server scans of a hostile archive.
 */
export const MAX_ZIP_ENTRIES = 100;
