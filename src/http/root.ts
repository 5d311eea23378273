// GET / : one line of plain text saying what listens here and which address
// to give Anki, for an admin who points a browser or curl at the port.
import type { IncomingMessage, ServerResponse } from "node:http";
import { SERVER_NAME, VERSION } from "../ops/version.js";
import { HttpError } from "../protocol/errors.js";

/** A Host header we are willing to repeat back: a name or address with an optional port. */
const PLAIN_HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$/;

export function rootText(hostHeader: string | undefined): string {
  const host = hostHeader !== undefined && PLAIN_HOST.test(hostHeader) ? hostHeader : "<this host>:<port>";
  return (
    `${SERVER_NAME} ${VERSION}: an Anki sync server. ` +
    `In Anki, set Preferences > Syncing > Self-hosted sync server to http://${host}/ and log in with your account here.\n`
  );
}

export function serveRoot(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "/ takes GET");
  const data = Buffer.from(rootText(req.headers.host), "utf8");
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": String(data.length), "cache-control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : data);
}
