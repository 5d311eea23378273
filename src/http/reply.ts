// Encoding a reply for the request's protocol: below 11 raw, from 11 on zstd
// with anki-original-size.
import type { ServerResponse } from "node:http";
import { type Reply, isLegacyProtocol } from "../protocol/types.js";
import { sendFile, sendPayload, whenSent } from "./envelope.js";
import { sendRawFile, sendRawPayload } from "./legacy.js";

export async function sendReply(res: ServerResponse, reply: Reply, protocol: number): Promise<void> {
  const legacy = isLegacyProtocol(protocol);
  if (reply.kind === "payload") {
    if (legacy) {
      if (reply.release) whenSent(res, reply.release);
      sendRawPayload(res, reply.data);
    } else sendPayload(res, reply.data, reply.compressionLevel, reply.release);
  }
  else {
    try {
      await (legacy ? sendRawFile : sendFile)(res, reply.path, reply.size);
    } finally {
      reply.cleanup?.();
    }
  }
}
