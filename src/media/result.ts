// The media JSON result wrapper: {"data": <value>, "err": ""}. Old clients
// read `err` unconditionally, so it is always present.
import { type Reply, jsonReply } from "../protocol/types.js";

export const mediaResult = (data: unknown): Reply => jsonReply({ data, err: "" });
