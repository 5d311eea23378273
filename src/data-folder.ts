// The data folder (--base): every name in it is defined here, and nowhere else.
//
//   <base>/
//     .anki-sync-server.sqlite3     the server database: host keys, the user store
//     .anki-sync-server.sock        the control socket (src/control/): server <-> maintenance commands
//     .anki-sync-server.health      written and removed by each /health check
//     .legacy-incoming/             legacy (protocol 8-10) payloads until the form names the user
//     .backup-staging-<pid>-<hex>/  a backup copying files it could not snapshot in place
//     .restore-{new,old}-<user>-<hex>/  a restore's incoming and outgoing user folders
//     .reset-old-<user>-<hex>/      a reset-user's outgoing user folder
//     <user>/                       one folder per user, named after the user
//       collection.anki2            the collection (SQLite, WAL)
//       media.db                    the server media database (SQLite)
//       media/                      the media files, flat, each named by its (NFC) media name
//       media-pending.json          redo log of the media upload being applied
//       .incoming-<hex>.tmp         a request payload streamed to disk (full upload, media upload)
//       .collection.anki2.<pid>.<hex>.tmp  a new empty collection being built
//       .download-<hex>.tmp         a copy of the collection being sent as a full download
//       .media-upload-<hex>.tmp     an uploaded media file before it is renamed into media/
//       .media-download-<hex>.zip   a downloadFiles reply being streamed out
//
// Names starting with a dot are never a user's: user names cannot start with one.
// Temp files live in the user folder, so media/ must be on the same file
// system as the user folder (renames are atomic only within one file system).
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export const SERVER_DB_FILE = ".anki-sync-server.sqlite3";
export const CONTROL_SOCKET_FILE = ".anki-sync-server.sock";
export const HEALTH_PROBE_FILE = ".anki-sync-server.health";
export const LEGACY_SPOOL_FOLDER = ".legacy-incoming";
export const BACKUP_STAGING_PREFIX = ".backup-staging-";
export const RESTORE_STAGING_PREFIX = ".restore-";
export const RESET_TRASH_PREFIX = ".reset-old-";

export const COLLECTION_FILE = "collection.anki2";
export const MEDIA_DB_FILE = "media.db";
export const MEDIA_FOLDER = "media";
export const MEDIA_PENDING_FILE = "media-pending.json";

export const UPLOAD_TEMP_PATTERN = /^\.media-upload-[0-9a-f]{32}\.tmp$/;
/** Request payloads (newIncomingTempName) and half-built new collections: what the start-up sweep removes. */
export const INCOMING_TEMP_PATTERN = /^\.incoming-[0-9a-f]+\.tmp$/;
export const COLLECTION_DOWNLOAD_TEMP_PATTERN = /^\.download-[0-9a-f]+\.tmp$/;
export const NEW_COLLECTION_TEMP_PATTERN = /^\..+\.\d+\.[0-9a-f]{12}\.tmp(-journal)?$/;
export const DOWNLOAD_TEMP_PATTERN = /^\.media-download-[0-9a-f]{32}\.zip$/;

/** The folder holding one user's files. */
export const userDir = (base: string, name: string): string => join(base, name);

/** A request payload streamed to disk before its handler runs. */
export const newIncomingTempName = (): string => `.incoming-${randomBytes(6).toString("hex")}.tmp`;
/** A private copy of the collection being streamed out as a full download. */
export const newCollectionDownloadTempName = (): string => `.download-${randomBytes(8).toString("hex")}.tmp`;
export const newUploadTempName = (): string => `.media-upload-${randomBytes(16).toString("hex")}.tmp`;
export const newDownloadTempName = (): string => `.media-download-${randomBytes(16).toString("hex")}.zip`;
