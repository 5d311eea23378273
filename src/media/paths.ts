// Where a user's media lives, in the official server's layout:
//   <user>/media.db   the server media database (SQLite)
//   <user>/media/     the files, flat, each named by its (NFC) media name
// plus our own crash-safety files beside them (never inside media/):
//   <user>/media-pending.json        redo log of the upload being applied
//   <user>/.media-upload-<hex>.tmp   an uploaded file before it is renamed into media/
//   <user>/.media-download-<hex>.zip a downloadFiles reply being streamed out
// Temp files live in the user folder, so media/ must be on the same file
// system as the user folder (renames are atomic only within one file system).
export { fsyncDir } from "../durable.js";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export const MEDIA_DB_FILE = "media.db";
export const MEDIA_FOLDER = "media";
export const PENDING_FILE = "media-pending.json";

export const UPLOAD_TEMP_PATTERN = /^\.media-upload-[0-9a-f]{32}\.tmp$/;
export const DOWNLOAD_TEMP_PATTERN = /^\.media-download-[0-9a-f]{32}\.zip$/;

export const mediaDbPath = (userDir: string) => join(userDir, MEDIA_DB_FILE);
export const mediaFolder = (userDir: string) => join(userDir, MEDIA_FOLDER);
export const pendingPath = (userDir: string) => join(userDir, PENDING_FILE);

export const newUploadTempName = () => `.media-upload-${randomBytes(16).toString("hex")}.tmp`;
export const newDownloadTempName = () => `.media-download-${randomBytes(16).toString("hex")}.zip`;

