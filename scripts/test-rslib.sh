#!/usr/bin/env bash
# Anki's own sync tests (rslib, the Rust core of every Anki client) against our
# server. Builds the `anki` crate's unit tests from the official source and runs
# each test that talks to a sync server (sync::collection::tests::*,
# sync::media::tests::*) against a fresh instance of our server, through the
# TEST_ENDPOINT variable those tests honour. The tests use the official
# server's derived host key for user:pass, so our server runs with
# --accept-derived-host-keys.
#
# Slow (a first build is ~10 minutes on 2 cores) and not part of .ci/run.
#
# Sources (fetched at run time, never committed; kept in the cache folder):
#   ANKI_GIT      a git dir or clone URL of ankitects/anki   (default: the GitHub repository)
#   ANKI_REF      the commit to test                          (default: ANKI_GIT's HEAD)
#   ANKI_DEPS     a folder holding git dirs of the pieces the build needs, as
#                 <owner>+<name>/repo or <owner>+<name>.git:
#                   ankitects+rust-url, ankitects+linkcheck      (Cargo git dependencies)
#                   ankitects+anki-core-i18n, ankitects+anki-desktop-ftl  (translation submodules)
#                 when unset, they are cloned from GitHub into the cache.
#   RSLIB_CACHE   build and source cache, outside the repository
#                 (default: ${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server-rslib)
# Debian packages needed: protobuf-compiler pkg-config libssl-dev (and a Rust toolchain, cargo).
#
# Usage: scripts/test-rslib.sh [test-name-filter]
# Prints one line per test and a summary; exit 0 only if every test passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${RSLIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server-rslib}"
ANKI_GIT="${ANKI_GIT:-https://github.com/ankitects/anki.git}"
FILTER="${1:-}"
MAIN_JS="$ROOT/dist/cli/main.js"

say() { echo "test-rslib: $*" >&2; }
die() { say "$*"; exit 2; }

for tool in cargo protoc pkg-config git node; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install protobuf-compiler pkg-config libssl-dev; Rust from rustup)"
done
pkg-config --exists openssl || die "OpenSSL headers are missing (Debian: apt-get install libssl-dev)"
[ -f "$MAIN_JS" ] || die "$MAIN_JS is missing: run npm run build first"
mkdir -p "$CACHE"

# A git dir for <owner>/<name>: from ANKI_DEPS when given, else a bare clone in the cache.
git_dir() {
  local slug="$1" local_name="${1/\//+}"
  if [ -n "${ANKI_DEPS:-}" ]; then
    for candidate in "$ANKI_DEPS/$local_name/repo" "$ANKI_DEPS/$local_name.git" "$ANKI_DEPS/$local_name"; do
      if git --git-dir="$candidate" rev-parse --git-dir >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
    die "ANKI_DEPS=$ANKI_DEPS has no git dir for $slug (looked for $local_name/repo, $local_name.git)"
  fi
  local dir="$CACHE/git/$local_name.git"
  if [ ! -d "$dir" ]; then
    say "cloning $slug"
    git clone --bare --quiet "https://github.com/$slug.git" "$dir"
  fi
  echo "$dir"
}

# Extracts <commit> of a git dir into <dest> (once); falls back to HEAD when the
# mirror lacks that commit, and says so.
extract() {
  local gitdir="$1" commit="$2" dest="$3" what="$4"
  [ -f "$dest/.extracted" ] && return
  if ! git --git-dir="$gitdir" cat-file -e "$commit^{commit}" 2>/dev/null; then
    say "warning: $what: commit $commit not in $gitdir; using its HEAD $(git --git-dir="$gitdir" rev-parse --short HEAD) instead"
    commit=HEAD
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  git --git-dir="$gitdir" archive "$commit" | tar -x -C "$dest"
  touch "$dest/.extracted"
}

# ---- the official source at ANKI_REF ---------------------------------------------
if git --git-dir="$ANKI_GIT" rev-parse --git-dir >/dev/null 2>&1; then
  anki_git="$ANKI_GIT"
else
  anki_git="$CACHE/git/ankitects+anki.git"
  [ -d "$anki_git" ] || { say "cloning $ANKI_GIT"; git clone --bare --quiet --filter=blob:none "$ANKI_GIT" "$anki_git"; }
fi
commit="$(git --git-dir="$anki_git" rev-parse "${ANKI_REF:-HEAD}^{commit}")"
src="$CACHE/src/anki-$commit"
say "Anki $commit"
extract "$anki_git" "$commit" "$src" "anki"

# translation submodules, at the commits the source pins
for sub in ftl/core-repo:ankitects/anki-core-i18n ftl/qt-repo:ankitects/anki-desktop-ftl; do
  path="${sub%%:*}" slug="${sub#*:}"
  pinned="$(git --git-dir="$anki_git" ls-tree "$commit" "$path" | awk '{print $3}')"
  [ -n "$pinned" ] || die "no submodule $path in $commit"
  if [ ! -f "$src/$path/.extracted" ]; then
    extract "$(git_dir "$slug")" "$pinned" "$src/$path" "$path"
  fi
done

# Cargo git dependencies: patched to local copies (no network for git, crates.io as usual)
patches=""
for dep in percent-encoding-iri:ankitects/rust-url linkcheck:ankitects/linkcheck; do
  crate="${dep%%:*}" slug="${dep#*:}"
  rev="$(sed -n "/^\[workspace.dependencies.$crate\]/,/^\[/s/^rev = \"\(.*\)\"/\1/p" "$src/Cargo.toml")"
  url="$(sed -n "/^\[workspace.dependencies.$crate\]/,/^\[/s/^git = \"\(.*\)\"/\1/p" "$src/Cargo.toml")"
  [ -n "$rev" ] && [ -n "$url" ] || die "cannot find the git dependency $crate in Cargo.toml"
  dest="$CACHE/deps/${slug/\//+}-$rev"
  extract "$(git_dir "$slug")" "$rev" "$dest" "$slug"
  manifest="$(grep -rl --include=Cargo.toml -E "^name = \"$crate\"" "$dest" | head -1)"
  [ -n "$manifest" ] || die "$slug has no crate named $crate"
  patches+="[patch.\"$url\"]"$'\n'"$crate = { path = \"$(dirname "$manifest")\" }"$'\n'
done
mkdir -p "$src/.cargo"
printf '%s' "$patches" >"$src/.cargo/config.toml"

# ---- build ------------------------------------------------------------------------
export CARGO_TARGET_DIR="$CACHE/target"
# The source pins a toolchain (rust-toolchain.toml); without it installed, use
# the default one (RSLIB_TOOLCHAIN overrides) rather than have rustup download one.
if [ -n "${RSLIB_TOOLCHAIN:-}" ]; then
  export RUSTUP_TOOLCHAIN="$RSLIB_TOOLCHAIN"
elif command -v rustup >/dev/null && [ -f "$src/rust-toolchain.toml" ]; then
  pinned="$(sed -n 's/^channel = "\(.*\)"/\1/p' "$src/rust-toolchain.toml")"
  if [ -n "$pinned" ] && ! rustup toolchain list | grep -q "^$pinned"; then
    RUSTUP_TOOLCHAIN="$(rustup default | awk '{print $1}')"
    export RUSTUP_TOOLCHAIN
    say "warning: the pinned toolchain $pinned is not installed; building with $RUSTUP_TOOLCHAIN"
  fi
fi
say "building the anki crate's tests (slow the first time; log: $CACHE/build.log)"
(cd "$src" && cargo test -p anki --lib --no-run --message-format=json 2>"$CACHE/build.log") >"$CACHE/build.json" ||
  { tail -30 "$CACHE/build.log" >&2; die "build failed"; }
bin="$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "anki" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])
' "$CACHE/build.json" | tail -1)"
[ -x "$bin" ] || die "no test executable found (see $CACHE/build.json)"

mapfile -t tests < <("$bin" --list --format=terse 2>/dev/null | sed -n 's/: test$//p' | grep -E '^sync::(collection|media)::tests::' | grep -e "$FILTER" || true)
[ "${#tests[@]}" -gt 0 ] || die "no server tests found"
say "${#tests[@]} server tests"

# ---- one fresh server per test ------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0
failures=()
for t in "${tests[@]}"; do
  port="$(free_port)"
  base="$work/$passed-$failed-data"
  SYNC_USER1=user:pass node "$MAIN_JS" serve --host 127.0.0.1 --port "$port" --base "$base" --accept-derived-host-keys >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if (cd "$src/rslib" && TEST_ENDPOINT="http://127.0.0.1:$port/" "$bin" --exact "$t" --test-threads=1 >"$work/test.log" 2>&1); then
    passed=$((passed + 1)); echo "ok - $t"
  else
    failed=$((failed + 1)); failures+=("$t"); echo "not ok - $t"
    sed 's/^/    /' "$work/test.log" | tail -20
    sed 's/^/    server: /' "$work/server.log" | tail -10
  fi
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true
  server_pid=""
done

echo "$passed passed, $failed failed (Anki $commit, rslib server tests via TEST_ENDPOINT)"
[ "$failed" -eq 0 ]
