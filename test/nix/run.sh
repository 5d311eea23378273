#!/usr/bin/env bash
# Checks of the Nix side that run without nixpkgs or a VM:
#   parse     every .nix file parses (nix-instantiate --parse)
#   wait      modules/nixos/lib/tailscale-wait.sh against a fake `tailscale`
#   module    the module evaluated with nixpkgs' lib.evalModules (module-eval.nix)  [NIXPKGS_LIB]
#   docs      docs/nixos.md names every option                                        [NIXPKGS_LIB]
#   flake     every flake output evaluates against a stub nixpkgs (stub-nixpkgs/)   [NIXPKGS_LIB]
#   real      the generated ExecStartPre/ExecStart/backup lines run for real: the wait
#             script, our server from dist/ with a $CREDENTIALS_DIRECTORY laid out as
#             LoadCredential= does, a real Anki client (.venv) logging in and uploading,
#             then the backup command                    [NIXPKGS_LIB, dist/, .venv with anki]
# What cannot run is skipped with the reason. Last line: "N passed, N failed, N skipped".
#
# Environment:
#   NIXPKGS_LIB       a nixpkgs lib checkout (nix-community/nixpkgs.lib, a nixpkgs tree, or its lib/)
#   NIX_TEST_INSTALL  1: install Debian's nix-bin when nix is absent (done anyway when CI=true, as root)
#   ANKI_SYNC_DIST    the server's main.js for the `real` section (default dist/cli/main.js)
# Usage: test/nix/run.sh [section...]   (default: all sections)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/test/nix"
NIX_FLAGS=(--option substituters "" --extra-experimental-features "nix-command flakes")

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

lib_dir=""
if [ -n "${NIXPKGS_LIB:-}" ]; then
  if [ -f "$NIXPKGS_LIB/lib/default.nix" ]; then lib_dir="$NIXPKGS_LIB/lib"
  elif [ -f "$NIXPKGS_LIB/default.nix" ] && [ -f "$NIXPKGS_LIB/modules.nix" ]; then lib_dir="$NIXPKGS_LIB"
  else echo "# NIXPKGS_LIB=$NIXPKGS_LIB holds neither lib/default.nix nor a lib folder"
  fi
fi
need_lib() {
  if [ "$have_nix" != 1 ]; then skip "$1: nix is not installed (apt-get install nix-bin, or NIX_TEST_INSTALL=1)"; return 1; fi
  if [ -z "$lib_dir" ]; then skip "$1: set NIXPKGS_LIB to a nixpkgs lib checkout (e.g. nix-community/nixpkgs.lib)"; return 1; fi
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

# ---- module -------------------------------------------------------------------
if want module && need_lib module; then
  if nix-instantiate --eval --strict --json "$HERE/module-eval.nix" --argstr nixpkgsLib "$lib_dir" \
    >"$TMP/module.json" 2>"$TMP/module.err"; then
    while IFS=$'\t' read -r ok name detail; do
      if [ "$ok" = true ]; then pass "module: $name"; else fail "module: $name: $detail"; fi
    done < <(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    print("true" if c["ok"] else "false", c["name"], c["detail"].replace("\t", " ").replace("\n", " "), sep="\t")
' "$TMP/module.json")
  else
    fail "module: evaluation failed: $(tail -20 "$TMP/module.err")"
  fi
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

# ---- flake --------------------------------------------------------------------
if want flake && need_lib flake; then
  copy="$TMP/flake-src"
  stub="$TMP/stub-nixpkgs"
  mkdir -p "$copy" "$stub"
  repo_files | (cd "$ROOT" && xargs -0 cp --parents -t "$copy" 2>/dev/null)
  cp "$HERE/stub-nixpkgs/flake.nix" "$HERE/stub-pkgs.nix" "$HERE/stub-options.nix" "$stub/"
  cp -r "$lib_dir" "$stub/lib"
  flake=(--override-input nixpkgs "path:$stub" --no-write-lock-file)
  nixf() { nix "${NIX_FLAGS[@]}" "$@" 2>"$TMP/flake.err"; }

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

# ---- real ---------------------------------------------------------------------
if want real && need_lib real; then
  DIST="${ANKI_SYNC_DIST:-$ROOT/dist/cli/main.js}"
  PY="$ROOT/.venv/bin/python"
  if [ ! -f "$DIST" ]; then
    skip "real: dist/cli/main.js is missing (npm run build)"
  elif ! node "$DIST" serve --help 2>/dev/null | grep -q -- "--user-file"; then
    skip "real: this build's serve has no --user-file yet"
  elif ! "$PY" -c "import anki" 2>/dev/null; then
    skip "real: no Anki client in .venv (bash scripts/setup-venv.sh)"
  else
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    config="{\"port\": $port, \"users\": {\"alice\": {\"passwordFile\": \"/run/agenix/alice\"}, \"bob\": {\"passwordFile\": \"/run/agenix/bob\"}}, \"backup\": {\"enable\": true, \"target\": \"/mnt/hdd/anki\"}}"
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
        skip "real: this build has no backup command yet"
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
        skip "real: this build has no healthcheck command yet"
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

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
