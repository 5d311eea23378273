/*
 * unicase.c - SQLite loadable extension registering the `unicase` collation
 * exactly as Anki (rslib) defines it: rusqlite's create_collation + the Rust
 * `unicase` crate, version 2.6.0 (pinned by Anki), i.e.
 *
 *     UniCase::new(String::from_utf8_lossy(a))
 *         .cmp(&UniCase::new(String::from_utf8_lossy(b)))
 *
 * Semantics reproduced here:
 *   - Input bytes are decoded as UTF-8 the way Rust's String::from_utf8_lossy
 *     does it (rusqlite 0.36 does that before calling the comparator): each
 *     maximal ill-formed subsequence becomes one U+FFFD. Inputs are not
 *     NUL-terminated and are never read past their given length.
 *   - Every code point is mapped through Unicode 12.0.0 full case folding
 *     (CaseFolding.txt statuses C and F, table in casefold12.h); code points
 *     without an entry map to themselves.
 *   - The folded code point sequences are compared lexicographically by code
 *     point value; a proper prefix sorts first.
 *   - QUIRK of unicase 2.6.0: its iterator over a three-code-point fold yields
 *     the code points in the order (third, first, second). E.g. U+FB03 "ffi"
 *     ligature compares as "iff", U+0390 as U+0301 U+03B9 U+0308. Anki's
 *     existing indexes were built with that order, so it is reproduced here.
 *     Two-code-point folds (e.g. U+00DF -> "ss") are yielded in normal order.
 *   - The crate's pure-ASCII fast path (fold A-Z only) is the ASCII subset of
 *     the above, so no separate case is needed.
 *
 * Build: cc -O2 -shared -fPIC -I <dir with sqlite3ext.h> -o unicase.so unicase.c
 * Load:  db.loadExtension("/path/to/unicase.so")  (entry: sqlite3_unicase_init)
 */
#include <sqlite3ext.h>

#include <stddef.h>
#include <stdint.h>

#include "casefold12.h"

/* Only the entry points are exported. Everything else (including the
 * sqlite3_api pointer defined by SQLITE_EXTENSION_INIT1) stays local, so two
 * copies of this library loaded into one process (SQLite dlopens with
 * RTLD_GLOBAL) can never interpose on each other. */
#ifdef _WIN32
#define UNICASE_EXPORT __declspec(dllexport)
#else
#define UNICASE_EXPORT __attribute__((visibility("default")))
#pragma GCC visibility push(hidden)
#endif

SQLITE_EXTENSION_INIT1

#define REPLACEMENT_CHAR 0xFFFDu

/*
 * Decodes one code point from [p, end) (p < end). Returns the number of bytes
 * consumed (>= 1). Ill-formed input yields U+FFFD for each maximal subpart of
 * an ill-formed sequence (Unicode "substitution of maximal subparts", which is
 * what Rust's from_utf8_lossy implements), including a truncated sequence at
 * the end of the input.
 */
static size_t decode_utf8(const unsigned char *p, const unsigned char *end, uint32_t *out) {
  size_t avail = (size_t)(end - p);
  unsigned c = p[0];
  unsigned lo = 0x80, hi = 0xBF;
  size_t need;
  uint32_t cp;
  size_t i;

  if (c < 0x80) {
    *out = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;      /* no overlongs */
    else if (c == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;      /* no overlongs */
    else if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
  } else {
    /* 0x80-0xC1 (continuation / overlong lead) and 0xF5-0xFF */
    *out = REPLACEMENT_CHAR;
    return 1;
  }
  for (i = 1; i <= need; i++) {
    unsigned b;
    if (i >= avail) {
      *out = REPLACEMENT_CHAR;
      return i;
    }
    b = p[i];
    if (b < lo || b > hi) {
      *out = REPLACEMENT_CHAR;
      return i;
    }
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  *out = cp;
  return need + 1;
}

/* Index of cp in the simple table, or -1. */
static int find_simple(uint32_t cp) {
  int lo = 0, hi = CASEFOLD12_SIMPLE_COUNT - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    uint32_t k = casefold12_simple[mid][0];
    if (k == cp) return mid;
    if (k < cp) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* Index of cp in the full (multi-code-point) table, or -1. */
static int find_full(uint32_t cp) {
  int lo = 0, hi = CASEFOLD12_FULL_COUNT - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    uint32_t k = casefold12_full[mid][0];
    if (k == cp) return mid;
    if (k < cp) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* Iterator over the folded code points of one input string. */
typedef struct {
  const unsigned char *p;
  const unsigned char *end;
  uint32_t pending[2]; /* folded code points still to be yielded */
  int npending;
  int ipending;
} fold_iter;

static void fold_iter_init(fold_iter *it, const void *data, int len) {
  it->p = (const unsigned char *)data;
  it->end = it->p + (len > 0 ? (size_t)len : 0);
  it->npending = 0;
  it->ipending = 0;
}

/* Stores the next folded code point in *out; returns 0 at the end. */
static int fold_iter_next(fold_iter *it, uint32_t *out) {
  uint32_t cp;
  int idx;

  if (it->ipending < it->npending) {
    *out = it->pending[it->ipending++];
    return 1;
  }
  if (it->p >= it->end) return 0;

  if (*it->p < 0x80) {
    /* ASCII: only A-Z fold. */
    cp = *it->p++;
    *out = (cp >= 'A' && cp <= 'Z') ? cp + ('a' - 'A') : cp;
    return 1;
  }

  it->p += decode_utf8(it->p, it->end, &cp);
  if (cp < 0xB5) { /* first non-ASCII code point with a fold is U+00B5 */
    *out = cp;
    return 1;
  }
  idx = find_simple(cp);
  if (idx >= 0) {
    *out = casefold12_simple[idx][1];
    return 1;
  }
  idx = find_full(cp);
  if (idx >= 0) {
    const uint32_t *f = casefold12_full[idx];
    it->ipending = 0;
    if (f[3] == 0) {
      /* two code points: yielded in order */
      *out = f[1];
      it->pending[0] = f[2];
      it->npending = 1;
    } else {
      /* three code points: unicase 2.6.0 yields (third, first, second) */
      *out = f[3];
      it->pending[0] = f[1];
      it->pending[1] = f[2];
      it->npending = 2;
    }
    return 1;
  }
  *out = cp;
  return 1;
}

static int unicase_compare(void *arg, int len1, const void *s1, int len2, const void *s2) {
  fold_iter a, b;
  (void)arg;
  fold_iter_init(&a, s1, len1);
  fold_iter_init(&b, s2, len2);
  for (;;) {
    uint32_t ca = 0, cb = 0;
    int ha = fold_iter_next(&a, &ca);
    int hb = fold_iter_next(&b, &cb);
    if (!ha || !hb) return ha - hb; /* shorter (prefix) sorts first */
    if (ca != cb) return ca < cb ? -1 : 1;
  }
}

static int register_unicase(sqlite3 *db, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  return sqlite3_create_collation_v2(db, "unicase", SQLITE_UTF8, NULL, unicase_compare, NULL);
}

#ifndef _WIN32
#pragma GCC visibility pop
#endif

/* Entry point SQLite derives from the file name unicase.so. */
UNICASE_EXPORT int sqlite3_unicase_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  (void)pzErrMsg;
  return register_unicase(db, pApi);
}

/* Generic entry point, for files renamed or loaders that ask for the default name. */
UNICASE_EXPORT int sqlite3_extension_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  (void)pzErrMsg;
  return register_unicase(db, pApi);
}
