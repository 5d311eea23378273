// Paths of a user's media files (the names are in src/data-folder.ts).
export { fsyncDir } from "../durable.js";
import { join } from "node:path";
import { MEDIA_DB_FILE, MEDIA_FOLDER, MEDIA_PENDING_FILE } from "../data-folder.js";

export { DOWNLOAD_TEMP_PATTERN, UPLOAD_TEMP_PATTERN, newDownloadTempName, newUploadTempName } from "../data-folder.js";

export const mediaDbPath = (userDir: string) => join(userDir, MEDIA_DB_FILE);
export const mediaFolder = (userDir: string) => join(userDir, MEDIA_FOLDER);
export const pendingPath = (userDir: string) => join(userDir, MEDIA_PENDING_FILE);

