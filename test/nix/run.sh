#!/usr/bin/env bash
# Checks of the Nix side that run without a nixpkgs checkout or a VM:
#   parse       every .nix file parses (nix-instantiate --parse)
#   wait        modules/nixos/lib/tailscale-wait.sh against a fake `tailscale`
#   hygiene     no registry host, no `resolved` URL and no old registry setting in the repository
#   module      the module and the package evaluated with nixpkgs' lib.evalModules (module-eval.nix)  [lib]
#   docs        docs/nixos.md names every option                                        [lib]
#   ops         the metrics.* options and the container image (ops-eval.nix)            [lib]
#   flake       every flake output evaluates against a stub nixpkgs (stub-nixpkgs/)   [lib]
#   quickstart  the README's NixOS quick start (its flake.nix and configuration.nix, taken
#               from README.md as they are) evaluates with the stub nixpkgs and agenix  [lib]
#   structured  the package's npm flags under __structuredAttrs, expanded as the hooks do, by a
#               real Nix build                                                          [lib]
#   real        the generated ExecStartPre/ExecStart/backup lines run for real: the wait
#               script, our server from dist/ with a $CREDENTIALS_DIRECTORY laid out as
#               LoadCredential= does, a real Anki client (.venv) logging in and uploading,
#               then the backup command                                  [lib, dist/, .venv]
# [lib] sections need nixpkgs' lib (see NIXPKGS_LIB below). Without it they are not run,
# and the script says so in a banner at the end; with CI=true (or NIX_TEST_REQUIRE_LIB=1)
# each of them fails instead. A build of ours that lacks a subcommand the module
# uses fails its check. Last line: "N passed, N failed, N skipped".
# The build without network and the units under a real systemd are separate scripts:
# test/nix/offline-build.sh and test/nix/systemd-box.sh.
#
# Environment:
#   NIXPKGS_LIB       a nixpkgs lib checkout (nix-community/nixpkgs.lib, a nixpkgs tree, or its lib/);
#                     default: ${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/nixpkgs-lib, filled once with
#                       git clone --depth 1 https://github.com/nix-community/nixpkgs.lib \
#                         "${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/nixpkgs-lib"
#   NIX_TEST_INSTALL  1: install Debian's nix-bin when nix is absent (done anyway when CI=true, as root)
#   ANKI_SYNC_DIST    the server's main.js for the `real` section (default dist/cli/main.js)
# Usage: test/nix/run.sh [section...]   (default: all sections)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/test/nix"
NIX_FLAGS=(--option substituters "" --extra-experimental-features "nix-command flakes")
# Debian's nix-bin names a build group that a fresh machine may not have; builds here run as root.
getent group nixbld >/dev/null 2>&1 || NIX_FLAGS+=(--option build-users-group "")

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
skip() { skipped=$((skipped + 1)); echo "skip - $*"; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

want() { [ $# -eq 0 ] || [ -z "${SECTIONS:-}" ] || [[ " $SECTIONS " == *" $1 "* ]]; }
SECTIONS="$*"

# ---- nix ----------------------------------------------------------------------
have_nix=0
if ! command -v nix-instantiate >/dev/null 2>&1; then
  if { [ "${NIX_TEST_INSTALL:-}" = 1 ] || [ "${CI:-}" = true ]; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# installing Debian's nix-bin"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nix-bin; } >"$TMP/apt.log" 2>&1 ||
      { echo "# apt-get install nix-bin failed:"; tail -5 "$TMP/apt.log"; }
  fi
fi
command -v nix-instantiate >/dev/null 2>&1 && have_nix=1

# nixpkgs' lib: $NIXPKGS_LIB, else the documented cache location (never a path of a particular machine).
LIB_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/nixpkgs-lib"
lib_source="${NIXPKGS_LIB:-$LIB_CACHE}"
lib_origin=$([ -n "${NIXPKGS_LIB:-}" ] && echo "NIXPKGS_LIB" || echo "the cache location")
lib_dir=""
lib_problem=""
if [ -f "$lib_source/lib/default.nix" ]; then lib_dir="$lib_source/lib"
elif [ -f "$lib_source/default.nix" ] && [ -f "$lib_source/modules.nix" ]; then lib_dir="$lib_source"
elif [ -e "$lib_source" ]; then lib_problem="$lib_source ($lib_origin) holds neither lib/default.nix nor a lib folder"
elif [ -n "${NIXPKGS_LIB:-}" ]; then lib_problem="no nixpkgs lib: NIXPKGS_LIB=$NIXPKGS_LIB does not exist"
else lib_problem="no nixpkgs lib: NIXPKGS_LIB is unset and $LIB_CACHE does not exist"
fi
[ -n "$lib_dir" ] && echo "# nixpkgs lib: $lib_dir (from $lib_origin)"
require_lib=0
{ [ "${CI:-}" = true ] || [ "${NIX_TEST_REQUIRE_LIB:-}" = 1 ]; } && require_lib=1
not_evaluated=()
need_lib() {
  local why=""
  if [ "$have_nix" != 1 ]; then why="nix is not installed (apt-get install nix-bin, or NIX_TEST_INSTALL=1)"
  elif [ -z "$lib_dir" ]; then why="$lib_problem"
  else return 0
  fi
  not_evaluated+=("$1")
  if [ "$require_lib" = 1 ]; then fail "$1: NOT EVALUATED: $why"; else skip "$1: NOT EVALUATED: $why"; fi
  return 1
}

# Tracked and untracked-but-not-ignored files: what a flake in this work tree sees once added.
repo_files() { git -C "$ROOT" ls-files --cached --others --exclude-standard -z; }

# ---- parse --------------------------------------------------------------------
if want parse; then
  if [ "$have_nix" = 1 ]; then
    count=0
    bad=()
    while IFS= read -r -d '' f; do
      case "$f" in *.nix) ;; *) continue ;; esac
      [ -f "$ROOT/$f" ] || continue
      count=$((count + 1))
      nix-instantiate --parse "$ROOT/$f" >/dev/null 2>"$TMP/parse.err" || { bad+=("$f"); cat "$TMP/parse.err"; }
    done < <(repo_files)
    if [ "${#bad[@]}" = 0 ] && [ "$count" -gt 0 ]; then pass "parse: $count .nix files"; else fail "parse: ${bad[*]:-no .nix file found}"; fi
  else
    skip "parse: nix is not installed (apt-get install nix-bin, or NIX_TEST_INSTALL=1)"
  fi
fi

# ---- wait ---------------------------------------------------------------------
WAIT="$ROOT/modules/nixos/lib/tailscale-wait.sh"
fake_bin="$TMP/fakebin"
mkdir -p "$fake_bin"
# `tailscale ip -4`: fails ("stopped") until $FAKE_TS_UP exists, then prints $FAKE_TS_ADDR.
cat >"$fake_bin/tailscale" <<'EOF'
#!/usr/bin/env bash
[ "$1 $2" = "ip -4" ] || { echo "fake tailscale: unsupported $*" >&2; exit 2; }
if [ -e "$FAKE_TS_UP" ]; then printf '%s\n' "$FAKE_TS_ADDR"; exit 0; fi
echo "Tailscale is stopped." >&2
exit 1
EOF
# `ip -4 -o addr show to ADDR`: one line when ADDR is in $FAKE_LOCAL_ADDRS.
cat >"$fake_bin/ip" <<'EOF'
#!/usr/bin/env bash
addr="${!#}"
for a in $FAKE_LOCAL_ADDRS; do
  [ "$a" = "$addr" ] && echo "3: tailscale0    inet $addr/32 scope global tailscale0"
done
exit 0
EOF
chmod +x "$fake_bin/tailscale" "$fake_bin/ip"

run_wait() { # run_wait LOG ARGS... (PATH: fake tailscale and ip first)
  local log="$1"; shift
  PATH="$fake_bin:$PATH" bash "$WAIT" "$@" 2>"$log"
}

if want wait; then
  export FAKE_TS_ADDR=100.64.0.9 FAKE_TS_UP="$TMP/ts-up" FAKE_LOCAL_ADDRS="100.64.0.9"

  rm -f "$FAKE_TS_UP"
  (sleep 2 && touch "$FAKE_TS_UP") &
  start=$SECONDS
  if run_wait "$TMP/w1.log" --timeout 20 --interval 0.2 --env-file "$TMP/run/address.env" --require-local &&
    [ "$(cat "$TMP/run/address.env")" = "SYNC_HOST=100.64.0.9" ] && [ $((SECONDS - start)) -ge 2 ] &&
    grep -q "waiting up to 20s" "$TMP/w1.log" && grep -q "Tailscale IPv4 address is 100.64.0.9" "$TMP/w1.log"; then
    pass "wait: the address appears after 2 s: written as SYNC_HOST=100.64.0.9, logged"
  else
    fail "wait: address after a delay: $(cat "$TMP/w1.log" "$TMP/run/address.env" 2>&1)"
  fi
  wait

  rm -f "$FAKE_TS_UP"
  start=$SECONDS
  run_wait "$TMP/w2.log" --timeout 2 --interval 0.2 --env-file "$TMP/run2/address.env"
  rc=$?
  took=$((SECONDS - start))
  if [ "$rc" = 1 ] && [ "$took" -ge 2 ] && [ "$took" -le 6 ] && [ ! -e "$TMP/run2/address.env" ] &&
    grep -q "giving up after 2s: Tailscale has no IPv4 address" "$TMP/w2.log"; then
    pass "wait: never appears: exit 1 after the 2 s timeout with a clear message, no file"
  else
    fail "wait: never appears: rc=$rc after ${took}s: $(cat "$TMP/w2.log")"
  fi

  touch "$FAKE_TS_UP"
  FAKE_LOCAL_ADDRS="" run_wait "$TMP/w3.log" --timeout 1 --interval 0.2 --require-local
  rc=$?
  if [ "$rc" = 1 ] && grep -q "reports 100.64.0.9 but no local interface has it" "$TMP/w3.log"; then
    pass "wait: --require-local waits until the address is on a local interface"
  else
    fail "wait: --require-local: rc=$rc $(cat "$TMP/w3.log")"
  fi

  if run_wait "$TMP/w4.log" --timeout 1 && [ ! -e "$TMP/run4" ]; then
    pass "wait: without --env-file it only waits"
  else
    fail "wait: without --env-file: $(cat "$TMP/w4.log")"
  fi

  run_wait "$TMP/w5.log" --timeout soon
  rc=$?
  if [ "$rc" = 2 ] && grep -q "whole number of seconds" "$TMP/w5.log"; then
    pass "wait: a bad --timeout is refused (exit 2)"
  else
    fail "wait: bad --timeout: rc=$rc $(cat "$TMP/w5.log")"
  fi
fi

# ---- hygiene ------------------------------------------------------------------
if want hygiene; then
  # npm's built-in default registry and the one this machine's npm is set to, asked at
  # run time so that no host is written here.
  registry_hosts=$(
    {
      HOME="$TMP/npm-home" npm_config_userconfig="$TMP/npm-home/user" npm_config_globalconfig="$TMP/npm-home/global" \
        npm config get registry
      npm config get registry
    } 2>/dev/null | sed -E 's#^[a-z]+://([^/:]+).*#\1#' | sort -u
  )
  if [ -z "$registry_hosts" ]; then
    fail "hygiene: npm config get registry answered nothing"
  else
    hits=$(for h in $registry_hosts; do repo_files | (cd "$ROOT" && xargs -0 grep -l -F -- "$h" 2>/dev/null); done | sort -u)
    if [ -z "$hits" ]; then pass "hygiene: no registry host ($(echo "$registry_hosts" | wc -l) asked from npm) appears in any file of the repository"
    else fail "hygiene: a registry host is written in: $hits"; fi
  fi
  old_setting=$(repo_files | (cd "$ROOT" && xargs -0 grep -l -E 'ankiSyncNpm''Registry|set npm''Registry to' 2>/dev/null) || true)
  if [ -z "$old_setting" ]; then pass "hygiene: the old registry setting and its evaluation error are gone"
  else fail "hygiene: still mentions the old registry setting: $old_setting"; fi
  if python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))
sys.exit(1 if any("resolved" in v for v in l["packages"].values()) else 0)' "$ROOT/package-lock.json"; then
    pass "hygiene: package-lock.json keeps no resolved URL"
  else
    fail "hygiene: package-lock.json has resolved URLs"
  fi
fi

# ---- module -------------------------------------------------------------------
# eval_checks SECTION FILE: FILE evaluates to a list of { name; ok; detail; }; one result line each.
eval_checks() {
  local section=$1 file=$2
  if nix-instantiate --eval --strict --json "$file" --argstr nixpkgsLib "$lib_dir" \
    >"$TMP/$section.json" 2>"$TMP/$section.err"; then
    while IFS=$'\t' read -r ok name detail; do
      if [ "$ok" = true ]; then pass "$section: $name"; else fail "$section: $name: $detail"; fi
    done < <(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    print("true" if c["ok"] else "false", c["name"], c["detail"].replace("\t", " ").replace("\n", " "), sep="\t")
' "$TMP/$section.json")
  else
    fail "$section: evaluation failed: $(tail -20 "$TMP/$section.err")"
  fi
}

if want module && need_lib module; then
  eval_checks module "$HERE/module-eval.nix"
fi

# ---- docs ---------------------------------------------------------------------
if want docs && need_lib docs; then
  if nix-instantiate --eval --strict --json -E "
      let
        lib = import $lib_dir;
        eval = lib.evalModules { modules = [ $HERE/stub-options.nix $ROOT/modules/nixos { _module.args.pkgs = import $HERE/stub-pkgs.nix { inherit lib; }; } ]; };
        docs = lib.optionAttrSetToDocList eval.options.homeserver;
      in map (o: o.name) (lib.filter (o: o.visible && !o.internal) docs)" >"$TMP/options.json" 2>"$TMP/options.err"; then
    missing=$(python3 -c '
import json, sys
names = json.load(open(sys.argv[1]))
doc = open(sys.argv[2]).read()
print(" ".join(n for n in names if "`" + n + "`" not in doc))
print(len(names), file=sys.stderr)
' "$TMP/options.json" "$ROOT/docs/nixos.md" 2>"$TMP/options.count")
    if [ -z "$missing" ]; then pass "docs: docs/nixos.md documents all $(cat "$TMP/options.count") options"; else fail "docs: docs/nixos.md lacks $missing"; fi
  else
    fail "docs: option list: $(tail -5 "$TMP/options.err")"
  fi
fi

# ---- ops ----------------------------------------------------------------------
# homeserver.ankiSync.metrics.* (imported by the module) and the container image (ops-eval.nix).
if want ops && need_lib ops; then
  eval_checks ops "$HERE/ops-eval.nix"
fi

# ---- flake --------------------------------------------------------------------
# A copy of the work tree as a flake sees it, and the stub nixpkgs and agenix flakes.
copy="$TMP/flake-src"
stub="$TMP/stub-nixpkgs"
stub_agenix="$TMP/stub-agenix"
prepare_flakes() {
  [ -d "$copy" ] && return 0
  mkdir -p "$copy" "$stub" "$stub_agenix"
  repo_files | (cd "$ROOT" && xargs -0 cp --parents -t "$copy" 2>/dev/null)
  cp "$HERE/stub-nixpkgs/flake.nix" "$HERE/stub-pkgs.nix" "$HERE/stub-options.nix" "$stub/"
  cp -r "$lib_dir" "$stub/lib"
  cp "$HERE/stub-agenix.nix" "$stub_agenix/module.nix"
  echo '{ outputs = { self }: { nixosModules.default = ./module.nix; }; }' >"$stub_agenix/flake.nix"
}
nixf() { nix "${NIX_FLAGS[@]}" "$@" 2>"$TMP/flake.err"; }

if want flake && need_lib flake; then
  prepare_flakes
  flake=(--override-input nixpkgs "path:$stub" --no-write-lock-file)

  if [ ! -f "$copy/flake.nix" ]; then
    fail "flake: flake.nix is not in the work tree's file list"
  else
    if nixf flake show "path:$copy" "${flake[@]}" >"$TMP/show.txt"; then
      outputs="apps nixosModules overlays devShells checks packages nixosConfigurations"
      miss=""
      for o in $outputs; do grep -q "$o" "$TMP/show.txt" || miss="$miss $o"; done
      if [ -z "$miss" ]; then pass "flake: nix flake show lists $outputs"; else fail "flake: nix flake show lacks$miss"; fi
    else
      fail "flake: nix flake show: $(tail -15 "$TMP/flake.err")"
    fi

    if nixf flake check --no-build "path:$copy" "${flake[@]}"; then
      pass "flake: nix flake check --no-build (packages, apps, checks incl. the VM test's nodes, modules, overlay, devShell)"
    else
      fail "flake: nix flake check --no-build: $(tail -15 "$TMP/flake.err")"
    fi

    for attr in \
      packages.x86_64-linux.default.drvPath \
      packages.aarch64-linux.default.drvPath \
      packages.x86_64-linux.docker-image.drvPath \
      checks.x86_64-linux.vm-test.drvPath \
      devShells.x86_64-linux.default.drvPath \
      nixosConfigurations.example.config.system.build.toplevel.drvPath; do
      if out=$(nixf eval --raw "path:$copy#$attr" "${flake[@]}"); then
        pass "flake: $attr evaluates (${out##*/})"
      else
        fail "flake: $attr: $(tail -15 "$TMP/flake.err")"
      fi
    done

    if out=$(nixf eval --raw "path:$copy#apps.x86_64-linux.default.program" "${flake[@]}") &&
      [[ "$out" == /nix/store/*-anki-sync-server-ts-*/bin/anki-sync-server ]]; then
      pass "flake: apps.default runs bin/anki-sync-server"
    else
      fail "flake: apps.default.program: ${out:-} $(tail -5 "$TMP/flake.err")"
    fi

    if out=$(nixf eval --json "path:$copy#nixosConfigurations.example.config.homeserver.ankiSync" \
      --apply 'c: [ c.port c.openFirewall c.backup.target ]' "${flake[@]}") &&
      [ "$out" = '[27701,true,"/mnt/hdd/backups/anki"]' ]; then
      pass "flake: the example host's homeserver.ankiSync evaluates"
    else
      fail "flake: example host: ${out:-} $(tail -5 "$TMP/flake.err")"
    fi

    if out=$(nixf eval --json "path:$copy#overlays.default" --apply 'o: builtins.attrNames (o {} {})' "${flake[@]}") &&
      [ "$out" = '["anki-sync-server-ts"]' ]; then
      pass "flake: overlays.default adds pkgs.anki-sync-server-ts (and not anki-sync-server)"
    else
      fail "flake: overlay: ${out:-} $(tail -5 "$TMP/flake.err")"
    fi
  fi

  lock_ok=$(python3 -c '
import json, re, sys
l = json.load(open(sys.argv[1]))
n = l["nodes"]["nixpkgs"]["locked"]
ok = (l["version"] == 7 and n["type"] == "github" and n["owner"] == "NixOS" and n["repo"] == "nixpkgs"
      and re.fullmatch(r"[0-9a-f]{40}", n["rev"]) and re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", n["narHash"])
      and isinstance(n["lastModified"], int))
print("yes" if ok else "no", n.get("rev"), n.get("narHash"))
' "$ROOT/flake.lock" 2>&1)
  if [[ "$lock_ok" == yes* ]]; then pass "flake: flake.lock pins nixpkgs by rev and narHash (${lock_ok#yes })"; else fail "flake: flake.lock: $lock_ok"; fi
fi

# ---- quickstart ---------------------------------------------------------------
if want quickstart && need_lib quickstart; then
  prepare_flakes
  host="$TMP/quickstart-host"
  mkdir -p "$host/secrets"
  # The two ```nix blocks of README.md's "### Quick start (flake + agenix)", as they are.
  if python3 - "$ROOT/README.md" "$host" <<'PY'; then
import re, sys
readme, out = sys.argv[1:3]
text = open(readme, encoding="utf-8").read()
section = text.split("### Quick start (flake + agenix)", 1)[1].split("\n### ", 1)[0]
files = {}
for block in re.findall(r"```nix\n(.*?)```", section, re.S):
    m = re.match(r"# (\S+\.nix)", block.splitlines()[0])
    if m:
        files[m.group(1)] = block
if set(files) != {"flake.nix", "configuration.nix"}:
    sys.exit(f"quick start blocks found: {sorted(files)}")
for name, body in files.items():
    open(f"{out}/{name}", "w").write(body)
PY
    # what the user creates with agenix before the first build (never read here)
    echo "placeholder: the encrypted secret" >"$host/secrets/anki-sync-password.age"
    qs=(--override-input nixpkgs "path:$stub" --override-input agenix "path:$stub_agenix"
      --override-input anki-sync "path:$copy" --no-write-lock-file)
    if out=$(nixf eval --raw "path:$host#nixosConfigurations.homeserver.config.system.build.toplevel.drvPath" "${qs[@]}"); then
      pass "quickstart: the README's flake.nix + configuration.nix evaluate to a system (${out##*/})"
    else
      fail "quickstart: $(tail -15 "$TMP/flake.err")"
    fi
    if out=$(nixf eval --json "path:$host#nixosConfigurations.homeserver.config" --apply 'c: {
        package = c.homeserver.ankiSync.package.name;
        fetched = builtins.length (builtins.attrNames c.homeserver.ankiSync.package.npmDeps.tarballs);
        credential = c.systemd.services.anki-sync-server.serviceConfig.LoadCredential;
        assertMount = c.systemd.services.anki-sync-backup.unitConfig.AssertPathIsMountPoint;
        firewall = builtins.attrNames c.networking.firewall.interfaces;
        warnings = c.warnings;
      }' "${qs[@]}") &&
      python3 -c '
import json, sys
c = json.loads(sys.argv[1])
assert c["package"] == "anki-sync-server-ts-0.1.0", c
assert c["fetched"] > 100, c
assert c["credential"] == ["user-alice:/run/agenix/anki-sync-password"], c
assert c["assertMount"] == "/mnt/hdd", c
assert c["firewall"] == ["tailscale0"], c
assert c["warnings"] == [], c
' "$out" 2>"$TMP/qs.err"; then
      pass "quickstart: the package is built from this flake with nothing configured; credential, firewall on tailscale0, backup tied to /mnt/hdd, no warning"
    else
      fail "quickstart: ${out:-} $(tail -5 "$TMP/flake.err" "$TMP/qs.err" 2>/dev/null)"
    fi
  else
    fail "quickstart: README.md has no quick start with a flake.nix and a configuration.nix block"
  fi
fi

# ---- structured ---------------------------------------------------------------
# The hooks run `npm rebuild $npmRebuildFlags "${npmRebuildFlagsArray[@]}"` (and the
# same for npmPackFlags). A real Nix build with __structuredAttrs expands our values so.
if want structured && need_lib structured; then
  cat >"$TMP/structured.nix" <<'NIX'
{ libDir, stubPkgs, packageFile, asList }:
let
  lib = import libDir;
  pkgs = import stubPkgs { inherit lib; };
  package = pkgs.callPackage packageFile { };
  flags = package.stubArgs.npmRebuildFlags;
in
derivation {
  name = "structured-attrs-npm-flags";
  inherit (pkgs) system;
  builder = "/bin/bash";
  __structuredAttrs = true;
  # asList: the list form the package used before, to show that this check can fail
  npmRebuildFlags = if asList then lib.splitString " " flags else flags;
  inherit (package.stubArgs) npmPackFlags;
  args = [
    "-c"
    ''
      source "''${NIX_ATTRS_SH_FILE:-$NIX_BUILD_TOP/.attrs.sh}"
      rebuild=( $npmRebuildFlags "''${npmRebuildFlagsArray[@]}" )
      pack=( $npmPackFlags "''${npmPackFlagsArray[@]}" )
      echo "rebuild:''${rebuild[*]} pack:''${pack[*]}" > "''${outputs[out]}"
    ''
  ];
}
NIX
  sa_build() {
    nix-build "${NIX_FLAGS[@]}" --option sandbox false --no-out-link "$TMP/structured.nix" \
      --arg libDir "$lib_dir" --arg stubPkgs "$HERE/stub-pkgs.nix" --arg packageFile "$ROOT/nix/package.nix" \
      --arg asList "$1" 2>"$TMP/sa.err" | tail -1
  }
  if got=$(sa_build false) && [ -n "$got" ] &&
    [ "$(cat "$got")" = "rebuild:better-sqlite3 zstd-napi argon2 pack:--ignore-scripts" ]; then
    pass "structured: under __structuredAttrs the hooks get $(cat "$got")"
  else
    fail "structured: $(cat "${got:-/dev/null}" 2>/dev/null) $(tail -5 "$TMP/sa.err")"
  fi
  if got=$(sa_build true) && [ -n "$got" ] && [ "$(cat "$got")" = "rebuild:better-sqlite3 pack:--ignore-scripts" ]; then
    pass "structured: (counter-check) as a list the flags would reach npm rebuild as '$(cut -d' ' -f1 "$got")' only"
  else
    fail "structured: counter-check with a list: $(cat "${got:-/dev/null}" 2>/dev/null) $(tail -5 "$TMP/sa.err")"
  fi
fi

# ---- real ---------------------------------------------------------------------
if want real && need_lib real; then
  DIST="${ANKI_SYNC_DIST:-$ROOT/dist/cli/main.js}"
  PY="$ROOT/.venv/bin/python"
  if [ ! -f "$DIST" ]; then
    fail "real: $DIST is missing (npm run build)"
  elif ! node "$DIST" serve --help 2>/dev/null | grep -q -- "--user-file"; then
    fail "real: our build's serve has no --user-file, which the module's ExecStart uses"
  elif ! "$PY" -c "import anki" 2>/dev/null; then
    if [ "${CI:-}" = true ]; then fail "real: no Anki client in .venv (bash scripts/setup-venv.sh)"
    else skip "real: NOT RUN: no Anki client in .venv (bash scripts/setup-venv.sh)"; not_evaluated+=("real (no .venv)"); fi
  else
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    config="{\"port\": $port, \"users\": {\"alice\": {\"passwordFile\": \"/run/agenix/alice\"}, \"bob\": {\"passwordFile\": \"/run/agenix/bob\"}}, \"backup\": {\"enable\": true, \"target\": \"/mnt/hdd/anki\", \"mountPoint\": \"/mnt/hdd\"}}"
    if ! nix-instantiate --eval --strict --json "$HERE/units.nix" --argstr nixpkgsLib "$lib_dir" --argstr configJSON "$config" \
      >"$TMP/units.json" 2>"$TMP/units.err"; then
      fail "real: evaluating the units: $(tail -5 "$TMP/units.err")"
    else
      field() { python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print("\n".join(v) if isinstance(v, list) else v)' "$TMP/units.json" "$1"; }
      bin=$(field bin)
      state="$TMP/var-lib/anki-sync-server"
      hdd="$TMP/hdd/anki"
      creds="$TMP/credentials"
      runtime="$TMP/run/anki-sync-server"
      mkdir -p "$creds" "$runtime"
      # systemd side, done by hand: "+" ExecStartPre as given, with the runtime dir moved.
      pre=$(field execStartPre)
      pre_args=${pre#+* }
      pre_args=${pre_args//\/run\/anki-sync-server/$runtime}
      export FAKE_TS_ADDR=127.0.0.1 FAKE_TS_UP="$TMP/ts-up" FAKE_LOCAL_ADDRS=127.0.0.1
      touch "$FAKE_TS_UP"
      # shellcheck disable=SC2086 # the unit's words, split as systemd splits them
      if run_wait "$TMP/pre.log" $pre_args --interval 0.2 && [ "$(cat "$runtime/address.env")" = "SYNC_HOST=127.0.0.1" ]; then
        pass "real: ExecStartPre (${pre_args%% --require-local*} ...) wrote SYNC_HOST=127.0.0.1"
      else
        fail "real: ExecStartPre: $(cat "$TMP/pre.log")"
      fi
      # LoadCredential=ID:PATH -> $CREDENTIALS_DIRECTORY/ID holding PATH's content.
      printf '%s' 'alice-plain-password' >"$TMP/alice.secret"
      (cd "$ROOT" && node -e 'require("argon2").hash(process.argv[1], { type: 2 }).then((h) => process.stdout.write(h))' 'bob-hashed-password') >"$TMP/bob.secret"
      while IFS= read -r cred; do
        id=${cred%%:*}
        src=${cred#*:}
        cp "$TMP/${src##*/}.secret" "$creds/$id"
      done < <(field loadCredential)
      chmod 0400 "$creds"/*
      # EnvironmentFile= then ${SYNC_HOST} substitution, as systemd does it.
      # shellcheck disable=SC1090
      host=$(. "$runtime/address.env" && echo "$SYNC_HOST")
      cmd=$(field execStart)
      cmd=${cmd//'${SYNC_HOST}'/$host}
      cmd=${cmd//\/var\/lib\/anki-sync-server/$state}
      cmd=${cmd/#$bin/node $DIST}
      mkdir -p "$state"
      echo "# ExecStart as run: $cmd"
      # shellcheck disable=SC2086
      CREDENTIALS_DIRECTORY="$creds" NODE_ENV=production $cmd 2>"$TMP/server.log" &
      SERVER_PID=$!
      for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
      done
      if "$PY" - "http://127.0.0.1:$port/" "$TMP/client" >"$TMP/client.log" 2>&1 <<'EOF'; then
import os, sys
from anki.collection import Collection
from anki.sync import SyncOutput
endpoint, workdir = sys.argv[1:3]
os.makedirs(workdir, exist_ok=True)
col = Collection(os.path.join(workdir, "collection.anki2"))
for user, password in (("alice", "wrong"), ("bob", "alice-plain-password")):
    try:
        col.sync_login(user, password, endpoint)
    except Exception:
        pass
    else:
        sys.exit(f"{user} logged in with a wrong password")
col.sync_login("bob", "bob-hashed-password", endpoint)
auth = col.sync_login("alice", "alice-plain-password", endpoint)
auth.endpoint = endpoint
note = col.new_note(col.models.by_name("Basic"))
note["Front"] = "from the nix test"
col.add_note(note, col.decks.id("Default"))
out = col.sync_collection(auth, False)
assert out.required == SyncOutput.FULL_UPLOAD, out.required
col.close_for_full_sync()
col.full_upload_or_download(auth=auth, server_usn=None, upload=True)
col.reopen(after_full_sync=True)
assert col.sync_collection(auth, False).required == SyncOutput.NO_CHANGES
col.close()
EOF
        pass "real: ExecStart + credentials: a real client logs in (plain and argon2 password files), wrong passwords refused, full upload"
      else
        fail "real: client against ExecStart: $(tail -5 "$TMP/client.log") / server: $(tail -5 "$TMP/server.log")"
      fi
      if grep -q "alice-plain-password\|bob-hashed-password" "$TMP/server.log"; then
        fail "real: a password appears in the server log"
      else
        pass "real: no password in the server log"
      fi

      bcmd=$(field backupExecStart)
      if ! node "$DIST" --help 2>/dev/null | grep -qE '^ +backup( |$)'; then
        fail "real: our build has no backup command, which the backup unit runs"
      else
        bcmd=${bcmd//\/var\/lib\/anki-sync-server/$state}
        bcmd=${bcmd//\/mnt\/hdd\/anki/$hdd}
        bcmd=${bcmd/#$bin/node $DIST}
        mkdir -p "$hdd" # ExecStartPre=+install -d
        # shellcheck disable=SC2086
        if $bcmd >"$TMP/backup.log" 2>&1 &&
          snap=$(find "$hdd" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | head -1) && [ -n "$snap" ] &&
          find "$snap" -name collection.anki2 | grep -q alice; then
          pass "real: the backup unit's command made a snapshot (${snap##*/}) holding alice's collection"
        else
          fail "real: backup: $(tail -5 "$TMP/backup.log")"
        fi
        empty="$TMP/empty-base"
        mkdir -p "$empty"
        ecmd=${bcmd//$state/$empty}
        # shellcheck disable=SC2086
        if ! $ecmd >"$TMP/backup-empty.log" 2>&1 && [ -s "$TMP/backup-empty.log" ]; then
          pass "real: the backup command refuses an empty data folder: $(tail -1 "$TMP/backup-empty.log")"
        else
          fail "real: backup of an empty data folder did not fail clearly"
        fi
      fi

      if ! node "$DIST" --help 2>/dev/null | grep -qE '^ +healthcheck( |$)'; then
        fail "real: our build has no healthcheck command, which the docs and the VM test use"
      elif node "$DIST" healthcheck --host "$host" --port "$port" >"$TMP/health.log" 2>&1; then
        pass "real: healthcheck --host $host --port $port answers 0 (as in the VM test)"
      else
        fail "real: healthcheck: $(tail -3 "$TMP/health.log")"
      fi

      kill -TERM "$SERVER_PID"
      wait "$SERVER_PID"
      rc=$?
      SERVER_PID=""
      if [ "$rc" = 0 ]; then pass "real: SIGTERM stops the server with exit 0"; else fail "real: SIGTERM: exit $rc"; fi
    fi
  fi
fi

if [ "${#not_evaluated[@]}" -gt 0 ]; then
  echo "#"
  echo "# ############################################################################"
  echo "# NOT EVALUATED: ${not_evaluated[*]}"
  echo "#   ${lib_problem:-see the lines above}"
  echo "#   Fill the cache once:  git clone --depth 1 https://github.com/nix-community/nixpkgs.lib \\"
  echo "#                           \"$LIB_CACHE\""
  echo "#   or point NIXPKGS_LIB at a nixpkgs (or nixpkgs.lib) checkout."
  echo "# ############################################################################"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
