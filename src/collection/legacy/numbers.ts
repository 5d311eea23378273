// Numeric conversions that reproduce Rust's casts and f32 arithmetic, so a
// value converted by us equals what rslib would have stored or emitted.

/** Rounds to the nearest IEEE single (what a protobuf `float` holds). */
export const f32 = Math.fround;

/**
 * The JS number whose shortest decimal form is the shortest decimal that
 * reads back as the same f32 — what serde_json prints for an f32 (0.9, not
 * 0.8999999761581421). Non-finite values become null, as serde_json does.
 */
export function f32ToJson(x: number): number | null {
  if (!Number.isFinite(x)) return null;
  const v = f32(x);
  if (v === 0) return 0;
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (f32(candidate) === v) return candidate;
  }
  return v;
}

/** `x as T` for an integer target in Rust: truncate toward zero, saturate, NaN -> 0. */
function saturatingCast(x: number, min: number, max: number): number {
  if (Number.isNaN(x)) return 0;
  const t = Math.trunc(x);
  return t < min ? min : t > max ? max : t;
}

export const castF32ToU16 = (x: number): number => saturatingCast(x, 0, 0xffff);
export const castF32ToU32 = (x: number): number => saturatingCast(x, 0, 0xffffffff);

/** `n as u16` for an integer source: keep the low 16 bits. */
export const wrapU16 = (n: number): number => Number(BigInt.asUintN(16, BigInt(Math.trunc(n))));
/** `n as u8` for an integer source: keep the low 8 bits. */
export const wrapU8 = (n: number): number => Number(BigInt.asUintN(8, BigInt(Math.trunc(n))));
/** `n as i32` for an integer source: keep the low 32 bits, signed. */
export const wrapI32 = (n: number): number => Number(BigInt.asIntN(32, BigInt(Math.trunc(n))));

export const U8_MAX = 0xff;
export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;
export const I32_MIN = -0x80000000;
export const I32_MAX = 0x7fffffff;
