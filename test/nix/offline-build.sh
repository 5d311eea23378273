#!/usr/bin/env bash
# The Nix package's build, replayed without network.
#
#   1. fetch (network): nix-build of the package's npmDeps (nix/npm-deps.nix) with
#      Nix, as a user's build does it: one fixed-output derivation per tarball,
#      checked by Nix against the lock's integrity. Packages come from the stub
#      nixpkgs (test/nix/stub-pkgs.nix, whose nodejs is this machine's node and npm).
#   2. build (no network: `unshare -rn`, a new network namespace with no interface up),
#      the steps of nixpkgs' hooks with the package's own flags and environment
#      (read from nix/package.nix): importNpmLock's config hook (npm install from the
#      store tarballs, scripts off, offline; npm rebuild of the native addons against
#      local Node headers), `npm run build`, the install hook (npm pack --dry-run
#      for the file list, npm prune --omit=dev), the package's postInstall, then its
#      install check: the CLI starts and all native modules load.
#   Every connect() to an IPv4/IPv6 address during step 2 (DNS lookups included) is
#   recorded with strace and fails the check, even when the step that tried recovers
#   (prebuild-install falls back to compiling).
#   3. counter-checks, to show the check can fail: the same replay of one addon's
#      rebuild (a) without npm_config_build_from_source: prebuild-install tries to
#      download a prebuilt binary (then falls back to compiling, which would hide
#      it); (b) without local Node headers: node-gyp tries to download them. Both
#      must be caught.
#
# Needs: nix (Debian's nix-bin), nixpkgs' lib (NIXPKGS_LIB or the cache location, as
# test/nix/run.sh), node/npm with a C compiler and python3, unshare, strace (installed
# with apt-get when missing, as root). Local Node headers: NODE_HEADERS (a prefix with
# include/node/common.gypi; default: node's own prefix).
# Last line: "N passed, N failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/test/nix"
NIX_FLAGS=(--option substituters "" --option sandbox false)
getent group nixbld >/dev/null 2>&1 || NIX_FLAGS+=(--option build-users-group "")

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}
t0=$SECONDS
since() { echo "$((SECONDS - ${1:-$t0}))s"; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# ---- prerequisites --------------------------------------------------------------
LIB_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/nixpkgs-lib"
lib_source="${NIXPKGS_LIB:-$LIB_CACHE}"
if [ -f "$lib_source/lib/default.nix" ]; then lib_dir="$lib_source/lib"
elif [ -f "$lib_source/default.nix" ]; then lib_dir="$lib_source"
else
  fail "NOT RUN: no nixpkgs lib (set NIXPKGS_LIB, or fill $LIB_CACHE as docs/nixos.md says)"
  finish
fi
need_tools=()
command -v nix-build >/dev/null || need_tools+=(nix-bin)
command -v strace >/dev/null || need_tools+=(strace)
if [ "${#need_tools[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "# installing ${need_tools[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_tools[@]}"; } \
    >"$WORK/apt.log" 2>&1 || tail -5 "$WORK/apt.log"
fi
for tool in nix-build strace unshare node npm cc python3; do
  command -v "$tool" >/dev/null || { fail "NOT RUN: $tool is missing"; finish; }
done
if ! unshare -rn true 2>/dev/null; then
  fail "NOT RUN: unshare -rn (a user and network namespace) is not allowed here"
  finish
fi
NODE_HEADERS="${NODE_HEADERS:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")}"
if [ ! -f "$NODE_HEADERS/include/node/common.gypi" ]; then
  fail "NOT RUN: no Node headers under $NODE_HEADERS (set NODE_HEADERS; Debian: apt-get install libnode-dev or nodejs from a vendor with headers)"
  finish
fi

# ---- 1. fetch ---------------------------------------------------------------------
pkg_expr="let lib = import $lib_dir; pkgs = import $HERE/stub-pkgs.nix { inherit lib; }; in pkgs.callPackage $ROOT/nix/package.nix { }"
start=$SECONDS
if ! deps=$(nix-build "${NIX_FLAGS[@]}" -j 4 --no-out-link -E "($pkg_expr).npmDeps" 2>"$WORK/fetch.log" | tail -1) || [ ! -f "$deps/package-lock.json" ]; then
  fail "fetch: nix-build of npmDeps: $(grep -v '^building\|nixbld' "$WORK/fetch.log" | tail -15)"
  finish
fi
read -r count bytes < <(python3 - "$deps/package-lock.json" <<'PY'
import json, os, sys
lock = json.load(open(sys.argv[1]))
files = [v["resolved"][5:] for v in lock["packages"].values() if v.get("resolved", "").startswith("file:")]
print(len(files), sum(os.path.getsize(f) for f in files))
PY
)
pass "fetch: $count tarballs ($((bytes / 1000000)) MB) in the store, each checked by Nix against the lock's integrity ($(since "$start"))"

# The mirror option: a registry on loopback serving the fetched tarballs at npm's paths;
# one tarball fetched again through it (--check re-runs its fixed-output build).
mirror="$WORK/mirror"
mkdir -p "$mirror"
python3 - "$deps/package-lock.json" "$mirror" <<'PY'
import json, os, sys
lock, root = sys.argv[1:3]
for path, entry in json.load(open(lock))["packages"].items():
    if entry.get("resolved", "").startswith("file:"):
        name = path.rsplit("node_modules/", 1)[1]
        os.makedirs(f"{root}/{name}/-", exist_ok=True)
        link = f"{root}/{name}/-/{name.rsplit('/', 1)[-1]}-{entry['version']}.tgz"
        if not os.path.exists(link):
            os.symlink(entry["resolved"][5:], link)
PY
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$mirror" >"$WORK/mirror.log" 2>&1 &
mirror_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
mirrored="(pkgs.callPackage $ROOT/nix/package.nix { npmRegistry = \"http://127.0.0.1:$port/\"; }).npmDeps.tarballs.\"node_modules/better-sqlite3\""
mirror_expr="let lib = import $lib_dir; pkgs = import $HERE/stub-pkgs.nix { inherit lib; }; in $mirrored"
if out=$(nix-build "${NIX_FLAGS[@]}" --check --no-out-link -E "$mirror_expr" 2>"$WORK/mirror-build.log" | tail -1) &&
  [ "$out" = "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/better-sqlite3"]["resolved"][5:])' "$deps/package-lock.json")" ] &&
  grep -q 'GET /better-sqlite3/-/better-sqlite3-.*\.tgz HTTP/1.1" 200' "$WORK/mirror.log"; then
  pass "mirror: with npmRegistry = a mirror (here on loopback) the tarball is fetched from it, same store path ($(grep -o 'GET [^ ]*' "$WORK/mirror.log" | head -1))"
else
  fail "mirror: $(grep -v '^building\|nixbld' "$WORK/mirror-build.log" | tail -5) $(tail -3 "$WORK/mirror.log")"
fi
kill "$mirror_pid" 2>/dev/null
wait "$mirror_pid" 2>/dev/null

# The package's own settings and its source as the Nix build sees it (the filtered tree).
if ! nix-instantiate --eval --strict --json --read-write-mode -E "
    let p = $pkg_expr; a = p.stubArgs; in {
      src = \"\${a.src}\";
      rebuild = a.npmRebuildFlags;
      pack = a.npmPackFlags;
      env = a.env;
      addons = p.nativeAddons;
      name = a.pname;
    }" >"$WORK/args.json" 2>"$WORK/args.err"; then
  fail "the package's settings: $(grep -v nixbld "$WORK/args.err" | tail -5)"
  finish
fi
arg() { python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(" ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else " ".join(v) if isinstance(v, list) else v)' "$WORK/args.json" "$1"; }
SRC=$(arg src)
REBUILD=$(arg rebuild)
PACK=$(arg pack)
ENV_VARS=$(arg env)
NAME=$(arg name)
echo "# source $SRC; npmRebuildFlags='$REBUILD'; npmPackFlags='$PACK'; env: $ENV_VARS"

# ---- 2. build without network ----------------------------------------------------
# The hooks' steps, run in the new network namespace by `offline` below.
cat >"$WORK/replay.sh" <<'EOF'
set -euo pipefail
step() { echo "== $*" >&2; }
cd "$BUILD"

step "npmConfigHook: npm install from npmDeps, scripts off, offline"
mv package.json .package.json.orig
mv package-lock.json .package-lock.json.orig
cp --no-preserve=mode "$NPM_DEPS/package.json" package.json
cp --no-preserve=mode "$NPM_DEPS/package-lock.json" package-lock.json
npm install --ignore-scripts
step "npmConfigHook: npm rebuild $REBUILD"
# shellcheck disable=SC2086 # the hook's own unquoted expansion
npm rebuild $REBUILD
[ "${REPLAY_ONLY_REBUILD:-}" = 1 ] && exit 0

step "npmBuildHook: npm run build"
npm run build

step "npmInstallHook: npm pack --dry-run (file list), npm prune --omit=dev"
pkgOut="$OUT/lib/node_modules/$PKG_NAME"
# shellcheck disable=SC2086
npm_config_cache="$HOME/.npm" npm pack --json --dry-run --loglevel=warn --no-foreground-scripts $PACK >"$HOME/pack.json"
python3 -c 'import json, sys; print("\n".join(f["path"] for f in json.load(open(sys.argv[1]))[0]["files"]))' "$HOME/pack.json" |
  while IFS= read -r file; do mkdir -p "$pkgOut/$(dirname "$file")"; cp "$file" "$pkgOut/$(dirname "$file")/"; done
npm prune --omit=dev --no-save
find node_modules -maxdepth 1 -type d -empty -delete
cp -r node_modules "$pkgOut/node_modules"
cp --no-preserve=mode .package.json.orig "$pkgOut/package.json"

step "postInstall: build/unicase.so, compiled addons only"
install -Dm755 build/unicase.so "$pkgOut/build/unicase.so"
for addon in $REBUILD; do
  dir="$pkgOut/node_modules/$addon/build"
  if [ -d "$dir/Release" ]; then
    find "$dir" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find "$dir/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
  fi
done
rm -rf "$pkgOut/node_modules/argon2/prebuilds" "$pkgOut/node_modules/better-sqlite3/deps" \
  "$pkgOut/node_modules/better-sqlite3/src" "$pkgOut/node_modules/zstd-napi/deps"

step "installCheck: the CLI starts, all native modules load"
node "$pkgOut/dist/cli/main.js" --help >/dev/null
NODE_PATH="$pkgOut/node_modules" node "$CHECK" "$pkgOut/build/unicase.so"
EOF

# offline LABEL [VAR=VALUE...]: the replay in a fresh copy of the source, in a network
# namespace without network, every connect() recorded. Returns the replay's status;
# $WORK/LABEL.connects lists the network connections it attempted.
offline() {
  local label="$1"
  shift
  local dir="$WORK/$label"
  mkdir -p "$dir/home" "$dir/out"
  cp -r --no-preserve=mode "$SRC" "$dir/build"
  # Only this environment: no user or global npmrc (which could name a nodedir or a cache).
  env -i PATH="$PATH" HOME="$dir/home" TMPDIR="$dir/home" LANG=C.UTF-8 \
    npm_config_userconfig="$dir/home/npmrc" npm_config_globalconfig="$dir/home/npmrc-global" \
    npm_config_cache="$dir/home/npm-cache" npm_config_offline=true npm_config_progress=false \
    npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false \
    npm_config_nodedir="$NODE_HEADERS" \
    BUILD="$dir/build" OUT="$dir/out" NPM_DEPS="$deps" PKG_NAME="$NAME" REBUILD="$REBUILD" PACK="$PACK" \
    CHECK="$ROOT/nix/native-check.cjs" \
    $ENV_VARS "$@" \
    unshare -rn strace -f -qq --seccomp-bpf -e trace=connect -e signal=none -o "$dir/strace.log" \
    bash "$WORK/replay.sh" >"$dir/log" 2>&1
  local rc=$?
  grep -E 'sa_family=AF_INET6?,' "$dir/strace.log" >"$WORK/$label.connects" 2>/dev/null || true
  return $rc
}
connects() { # a short description of the attempted connections
  local n
  n=$(wc -l <"$WORK/$1.connects")
  [ "$n" = 0 ] && { echo "none"; return; }
  echo "$n, e.g. $(head -1 "$WORK/$1.connects" | grep -oE 'sin6?_(port|addr)=[^,}]*|inet_(addr|pton)\([^)]*\)' | tr '\n' ' ')"
}

start=$SECONDS
offline build
rc=$?
if [ "$rc" = 0 ] && [ ! -s "$WORK/build.connects" ] && grep -q "native modules ok" "$WORK/build/log"; then
  pass "build: install, rebuild of $REBUILD, npm run build, pack, prune, install check with no network; no connection attempted ($(since "$start"))"
else
  fail "build: exit $rc, connections attempted: $(connects build); log: $(tail -15 "$WORK/build/log")"
fi
grep '^== ' "$WORK/build/log" | sed 's/^== /#   /'
out_pkg="$WORK/build/out/lib/node_modules/$NAME"
if [ -d "$out_pkg" ]; then
  echo "# installed package: $(du -sh "$out_pkg" | cut -f1); addons: $(cd "$out_pkg" && find node_modules -name '*.node' | tr '\n' ' ')"
  if [ -d "$out_pkg/node_modules/typescript" ] || [ -d "$out_pkg/node_modules/@bufbuild/buf" ]; then
    fail "build: dev dependencies survived the prune"
  else
    pass "build: the installed package has no dev dependencies (typescript, buf pruned)"
  fi
fi

# ---- 3. counter-checks ------------------------------------------------------------
start=$SECONDS
# (no compiler: the fallback compile after the failed download would only cost time)
offline no-build-from-source REPLAY_ONLY_REBUILD=1 REBUILD=zstd-napi npm_config_build_from_source= CC=false CXX=false
if [ -s "$WORK/no-build-from-source.connects" ]; then
  pass "counter-check: without npm_config_build_from_source, prebuild-install's download attempt is caught: $(connects no-build-from-source) ($(since "$start"))"
else
  fail "counter-check: prebuild-install without build-from-source went unnoticed: $(tail -5 "$WORK/no-build-from-source/log")"
fi

start=$SECONDS
offline no-headers REPLAY_ONLY_REBUILD=1 REBUILD=argon2 npm_config_nodedir=
rc=$?
if [ -s "$WORK/no-headers.connects" ] && [ "$rc" != 0 ]; then
  pass "counter-check: without local Node headers, node-gyp's download fails the build and is caught: $(connects no-headers) ($(since "$start"))"
else
  fail "counter-check: node-gyp without headers: exit $rc, connections $(connects no-headers): $(tail -5 "$WORK/no-headers/log")"
fi

echo "# total $(since)"
finish
