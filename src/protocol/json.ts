// Payload parsing shared by the routes. Request JSON from clients never holds
// integers beyond 2^53 on these routes, so plain JSON.parse is safe here.
import { badRequest } from "./errors.js";

export function parseJsonObject(payload: Buffer, route: string): Record<string, unknown> {
  if (payload.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(payload.toString("utf8"));
  } catch {
    throw badRequest(`${route}: invalid json`);
  }
  // `[]` is what some clients send for "no arguments".
  if (Array.isArray(value) && value.length === 0) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw badRequest(`${route}: expected a JSON object`);
  return value as Record<string, unknown>;
}

export function requireString(obj: Record<string, unknown>, key: string, route: string): string {
  const value = obj[key];
  if (typeof value !== "string") throw badRequest(`${route}: "${key}" must be a string`);
  return value;
}

export function requireInteger(obj: Record<string, unknown>, key: string, route: string): number {
  const value = obj[key];
  if (typeof value !== "number" || !Number.isInteger(value)) throw badRequest(`${route}: "${key}" must be an integer`);
  return value;
}
