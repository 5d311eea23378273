#!/usr/bin/env bash
# The module's units under a real systemd: Debian's systemd booted as PID 1 in a
# systemd-nspawn container, with our real server and the real Anki client.
#
#   1. The server, backup and timer units are rendered from the module with nixpkgs'
#      real lib and our stubs (test/nix/box-units.nix); every store path they name is
#      built with Nix on this machine: the module's Tailscale wait wrapper, a fake
#      `tailscale`, and a package whose command runs this work tree's build
#      (dist/, node_modules/, build/, staged as hard links in a world-readable folder
#      so that the dynamic user can read them), bind-mounted read-only at /opt/anki-sync-server
#      with this machine's node at /usr/local/bin/node. /nix/store is bind-mounted
#      read-only, the units are the container's /usr/local/lib/systemd/system.
#   2. A Debian bookworm rootfs (debootstrap, minbase + systemd, python3, iproute2),
#      cached at $SYSTEMD_BOX_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/
#      systemd-box; about 90 s to make, reused afterwards), booted with --volatile=overlay
#      (the rootfs stays as it was) and --private-network, in a private mount namespace
#      with its own /run: systemd never touches this machine's /, /tmp or /run.
#   3. The checks, each printed with its figure: see the `check` lines below.
#
# Needs root, Nix and nixpkgs' lib (as test/nix/run.sh), a built work tree (npm run
# build), .venv with the anki package (scripts/setup-venv.sh); installs debootstrap and
# systemd-container with apt-get when missing. MIRROR: the Debian mirror for debootstrap
# (default: the first one this machine's apt uses). SYSTEMD_BOX_FRESH=1 remakes the rootfs.
# Last line: "N passed, N failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/test/nix"
NIX_FLAGS=(--option substituters "" --option sandbox false)
getent group nixbld >/dev/null 2>&1 || NIX_FLAGS+=(--option build-users-group "")

CACHE="${SYSTEMD_BOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/systemd-box}"
RFS="$CACHE/rootfs"
PORT=27701
TS_ADDR=100.64.0.7
MACHINE=anki-sync-box
TARGET=/mnt/hdd/backups/anki
STATE=/var/lib/private/anki-sync-server

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND...
  local d="$1"
  shift
  if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi
}
T0=$(date +%s.%N)
now() { date +%s.%N; }
secs() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }

WORK="$(mktemp -d)"
NSPAWN_PID=""
LEADER=""
CGDIRS=()
finish() {
  if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
    nsenter -t "$LEADER" -m -p -r -w -- systemctl poweroff >/dev/null 2>&1
    for _ in $(seq 1 80); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$LEADER" 2>/dev/null && kill -9 "$LEADER"
  fi
  [ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
  for d in "${CGDIRS[@]}"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  rm -rf "$WORK"
}
trap finish EXIT
give_up() {
  fail "$*"
  echo "$passed passed, $failed failed"
  exit 1
}

# ---- prerequisites ------------------------------------------------------------------
[ "$(id -u)" = 0 ] || give_up "NOT RUN: needs root (systemd-nspawn)"
LIB_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/anki-sync-server/nixpkgs-lib"
lib_source="${NIXPKGS_LIB:-$LIB_CACHE}"
[ -f "$lib_source/lib/default.nix" ] || [ -f "$lib_source/default.nix" ] ||
  give_up "NOT RUN: no nixpkgs lib (set NIXPKGS_LIB, or fill $LIB_CACHE as docs/nixos.md says)"
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v nix-build >/dev/null || missing+=(nix-bin)
command -v bc >/dev/null || missing+=(bc)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "# installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >"$WORK/apt.log" 2>&1 || give_up "NOT RUN: apt-get install ${missing[*]}: $(tail -3 "$WORK/apt.log")"
fi
[ -f "$ROOT/dist/cli/main.js" ] || give_up "NOT RUN: dist/cli/main.js is missing (npm run build)"
PY="$ROOT/.venv/bin/python"
"$PY" -c "import anki" 2>/dev/null || give_up "NOT RUN: no Anki client in .venv (bash scripts/setup-venv.sh)"
NODE="$(readlink -f "$(command -v node)")"

# The server runs as a dynamic user, which must be able to read the build. A checkout
# in a 0700 folder (mktemp -d, a home directory) would hide it, so the container gets
# a world-readable copy made of hard links (a plain copy across file systems).
APP="$WORK/app"
mkdir -p "$APP"
chmod 0755 "$APP"
for part in package.json dist build node_modules; do
  [ -e "$ROOT/$part" ] || continue
  cp -al "$ROOT/$part" "$APP/" 2>/dev/null || cp -a "$ROOT/$part" "$APP/" ||
    give_up "NOT RUN: cannot stage $part for the container under $APP"
done

# ---- 1. units -------------------------------------------------------------------------
t=$(now)
config=$(
  cat <<EOF
{
  "users": {
    "alice": { "passwordFile": "/etc/anki-sync-secrets/alice" },
    "bob": { "passwordFile": "/etc/anki-sync-secrets/bob" }
  },
  "tailscale": { "timeout": 60 },
  "backup": { "enable": true, "target": "$TARGET", "mountPoint": "/mnt/hdd" }
}
EOF
)
units=$(nix-build "${NIX_FLAGS[@]}" --no-out-link "$HERE/box-units.nix" --argstr nixpkgsLib "$lib_source" \
  --argstr configJSON "$config" --argstr node /usr/local/bin/node --argstr app /opt/anki-sync-server \
  2>"$WORK/units.log" | tail -1)
[ -f "$units/anki-sync-server.service" ] || give_up "units: $(grep -v nixbld "$WORK/units.log" | tail -10)"
units_secs=$(secs "$t")
pass "units rendered from the module and their store paths built (${units_secs}s): $(cd "$units" && find . -type f -o -type l | sed 's#^\./##' | sort | tr '\n' ' ')"

# ---- 2. rootfs and boot --------------------------------------------------------------
[ "${SYSTEMD_BOX_FRESH:-}" = 1 ] && rm -rf "$RFS"
if [ ! -x "$RFS/lib/systemd/systemd" ]; then
  MIRROR="${MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)}"
  [ -n "$MIRROR" ] || MIRROR="$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
  [ -n "$MIRROR" ] || give_up "NOT RUN: set MIRROR to a Debian mirror for debootstrap"
  t=$(now)
  mkdir -p "$CACHE"
  rm -rf "$RFS.new"
  # private mount namespace and /run: debootstrap's mounts stay off this machine
  unshare --mount --propagation private bash -c 'mount -t tmpfs tmpfs /run && exec "$@"' _ \
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libnss-systemd,python3,procps,iproute2 \
    bookworm "$RFS.new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || give_up "debootstrap: $(tail -5 "$CACHE/debootstrap.log")"
  rm -rf "$RFS.new"/var/cache/apt/archives/*.deb "$RFS.new"/var/lib/apt/lists/*
  mv "$RFS.new" "$RFS"
  echo "# rootfs made in $(secs "$t")s: $(du -sh "$RFS" | cut -f1)"
else
  echo "# reusing rootfs $RFS ($(du -sh "$RFS" | cut -f1))"
fi
echo "$MACHINE" >"$RFS/etc/hostname"
: >"$RFS/etc/machine-id"
mkdir -p "$RFS/opt/anki-sync-server" "$RFS/nix/store" "$RFS/etc/anki-sync-secrets" "$RFS/mnt/hdd" \
  "$RFS/usr/local/lib/systemd/system"
touch "$RFS/usr/local/bin/node"

# the secrets agenix would decrypt: root-only files outside the store
secrets="$WORK/secrets"
mkdir -p "$secrets"
ALICE_PW="alice-box-password-$RANDOM$RANDOM"
BOB_PW="bob-box-password-$RANDOM$RANDOM"
printf '%s' "$ALICE_PW" >"$secrets/alice"
(cd "$ROOT" && node -e 'require("argon2").hash(process.argv[1], { type: 2 }).then((h) => process.stdout.write(h))' "$BOB_PW") >"$secrets/bob"
chmod 0700 "$secrets"
chmod 0400 "$secrets"/*

if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then CGDIRS=("/sys/fs/cgroup/$MACHINE-$$")
else for h in unified systemd; do [ -d "/sys/fs/cgroup/$h" ] && CGDIRS+=("/sys/fs/cgroup/$h/$MACHINE-$$"); done; fi
for d in "${CGDIRS[@]}"; do mkdir -p "$d"; done
export LIBMOUNT_UTAB="$WORK/utab"
t_boot=$(now)
# --system-call-filter=bpf: else systemd silently drops IPAddressDeny=/DevicePolicy=.
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid unshare --mount --propagation private bash -c '
  for d in "${@:2}"; do echo $$ > "$d/cgroup.procs"; done
  mount -t tmpfs -o mode=0755 tmpfs /run
  exec systemd-nspawn -D "$1" --machine='"$MACHINE"' --boot --register=no --keep-unit \
    --volatile=overlay --private-network --console=read-only --link-journal=no \
    --resolv-conf=off --timezone=off --system-call-filter=bpf \
    --bind-ro=/nix/store --bind-ro='"$APP"':/opt/anki-sync-server --bind-ro='"$NODE"':/usr/local/bin/node \
    --bind-ro='"$units"':/usr/local/lib/systemd/system --bind-ro='"$secrets"':/etc/anki-sync-secrets' \
  _ "$RFS" "${CGDIRS[@]}" > >(cat >"$WORK/nspawn.log") 2>&1 </dev/null &
NSPAWN_PID=$!
for _ in $(seq 1 200); do
  LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd | head -1)
  [ -n "$LEADER" ] && break
  sleep 0.1
done
[ -n "$LEADER" ] || give_up "the container did not start: $(tail -20 "$WORK/nspawn.log")"
IN() { nsenter -t "$LEADER" -m -u -i -n -p -C -r -w -- "$@"; }
NET() { nsenter -t "$LEADER" -n -- "$@"; } # the container's network only (host files, e.g. .venv)
for _ in $(seq 1 300); do IN test -S /run/systemd/private && break; sleep 0.1; done
prop() { IN systemctl show -p "$2" --value "$1"; }
journal() { IN journalctl --no-pager -o cat "$@"; }

# ---- 3. checks --------------------------------------------------------------------------
echo "# container PID 1 = host PID $LEADER, systemd $(IN systemctl --version | head -1 | cut -d' ' -f2)"

# -- the + ExecStartPre waits for Tailscale: no address yet, so the boot waits with it
for _ in $(seq 1 200); do journal -u anki-sync-server.service | grep -q "waiting up to 60s" && break; sleep 0.1; done
if journal -u anki-sync-server.service | grep -q "waiting up to 60s for a Tailscale IPv4 address" &&
  [ "$(prop anki-sync-server.service ActiveState)" = activating ]; then
  pass "tailscale wait: at boot the service is activating, its ExecStartPre waits (fake tailscale is stopped)"
else
  fail "tailscale wait: $(prop anki-sync-server.service ActiveState) $(journal -u anki-sync-server.service | tail -3)"
fi
check "tailscale wait: nothing listens on :$PORT while it waits" bash -c "! nsenter -t $LEADER -n -- ss -Htln 'sport = :$PORT' | grep -q ."
pre_uid=$(IN ps -o uid= -C tailscale-wait.sh 2>/dev/null | head -1 | tr -d ' ')
[ -z "$pre_uid" ] && pre_uid=$(IN bash -c 'for p in $(pgrep -f anki-sync-tailscale-wait); do stat -c %u /proc/$p; done' | head -1)
check "tailscale wait: the + ExecStartPre runs as root (uid ${pre_uid:-?})" test "${pre_uid:-x}" = 0

# tailscale reports an address that no interface has yet: still waiting (--require-local)
IN mkdir -p /run/fake-tailscale
echo "$TS_ADDR" | IN tee /run/fake-tailscale/address >/dev/null
sleep 2.5
check "tailscale wait: tailscale reports $TS_ADDR but no interface has it: still waiting" \
  test "$(prop anki-sync-server.service ActiveState)" = activating
# then the address appears on tailscale0 (a TUN device, like tailscaled's)
t_up=$(now)
NET ip tuntap add dev tailscale0 mode tun
NET ip addr add "$TS_ADDR/32" dev tailscale0
NET ip link set tailscale0 up
NET ip link set lo up
for _ in $(seq 1 300); do NET ss -Htln "sport = :$PORT" | grep -q . && break; sleep 0.1; done
listen_secs=$(secs "$t_up")
listening=$(NET ss -Htln "sport = :$PORT" | awk '{print $4}' | tr '\n' ' ')
if [ "$listening" = "$TS_ADDR:$PORT " ]; then
  pass "tailscale wait: listening ${listen_secs}s after the address appeared, on $TS_ADDR:$PORT only (not 0.0.0.0)"
else
  fail "tailscale wait: listening on '$listening' ($(journal -u anki-sync-server.service | tail -5))"
fi
state=$(IN timeout 60 systemctl is-system-running --wait 2>&1)
boot_secs=$(secs "$t_boot")
check "boot: system $state, no failed unit (${boot_secs}s including the wait)" test "$state" = running
[ "$state" = running ] || IN systemctl --failed --no-pager

check "ordering: systemd orders the server after tailscaled.service and tailscaled-autoconnect.service" \
  bash -c "nsenter -t $LEADER -m -u -i -n -p -C -r -w -- systemctl show -p After --value anki-sync-server.service | tr ' ' '\n' | grep -qx tailscaled-autoconnect.service"

# -- dynamic user, state directory, modes
pid=$(prop anki-sync-server.service MainPID)
uid=$(IN stat -c %u "/proc/$pid")
check "dynamic user: the server runs as uid $uid (systemd's dynamic range), DynamicUser=yes" \
  bash -c "[ $uid -ge 61184 ] && [ $uid -le 65519 ] && [ '$(prop anki-sync-server.service DynamicUser)' = yes ]"
check "state: /var/lib/anki-sync-server -> private/anki-sync-server, owned by uid $uid, mode 0700" \
  bash -c "[ '$(IN readlink /var/lib/anki-sync-server)' = private/anki-sync-server ] && [ '$(IN stat -c '%u %a' $STATE)' = '$uid 700' ]"

# -- the real client through it
ENDPOINT="http://$TS_ADDR:$PORT/"
t=$(now)
if NET "$PY" "$HERE/sync-client.py" "$ENDPOINT" alice "$ALICE_PW" "$WORK/alice" upload >"$WORK/alice.log" 2>&1 &&
  NET "$PY" "$HERE/sync-client.py" "$ENDPOINT" bob "$BOB_PW" "$WORK/bob" upload >"$WORK/bob.log" 2>&1 &&
  NET "$PY" "$HERE/sync-client.py" "$ENDPOINT" alice "$ALICE_PW" "$WORK/alice" download >>"$WORK/alice.log" 2>&1; then
  pass "client: alice (plain password file) and bob (argon2 hash) log in, full-sync, normal-sync, media-sync; a second device downloads it all ($(secs "$t")s)"
  sed 's/^/#   /' "$WORK/alice.log" "$WORK/bob.log"
else
  fail "client: $(tail -5 "$WORK/alice.log" "$WORK/bob.log") / $(journal -u anki-sync-server.service | tail -5)"
fi
bad_modes=$(IN find "$STATE" \( -type f ! -perm 0600 \) -o \( -type d ! -perm 0700 \) | head -5)
nfiles=$(IN find "$STATE" -type f | wc -l)
check "state: all $nfiles files are 0600 and all folders 0700${bad_modes:+ (not: $bad_modes)}" test -z "$bad_modes"
check "state: the users' folders are under /var/lib/private/anki-sync-server" \
  IN test -f "$STATE/alice/collection.anki2" -a -f "$STATE/bob/collection.anki2"

# -- the password only through LoadCredential
unit_text=$(IN systemctl cat anki-sync-server.service)
environ=$(IN cat "/proc/$pid/environ" | tr '\0' '\n')
cmdline=$(IN cat "/proc/$pid/cmdline" | tr '\0' ' ')
creds=$(grep '^LoadCredential=' <<<"$unit_text" | tr '\n' ' ')
if ! grep -qF -e "$ALICE_PW" -e "$BOB_PW" <<<"$unit_text$environ$cmdline$(prop anki-sync-server.service Environment)" &&
  grep -q "CREDENTIALS_DIRECTORY=" <<<"$environ" && grep -q "user-alice" <<<"$creds"; then
  pass "credentials: the passwords are in no unit, environment or command line; the server reads \$CREDENTIALS_DIRECTORY ($creds)"
else
  fail "credentials: a password leaked, or no credentials directory ($creds)"
fi
check "credentials: root can read the secret file, the dynamic user cannot" \
  bash -c "[ \"\$(nsenter -t $LEADER -m -p -r -w -- setpriv --reuid=0 --regid=0 --clear-groups cat /etc/anki-sync-secrets/alice)\" = '$ALICE_PW' ] &&
    ! nsenter -t $LEADER -m -p -r -w -- setpriv --reuid=$uid --regid=$uid --clear-groups cat /etc/anki-sync-secrets/alice"

# -- journal: failed logins are warnings, no password or host key in any log line
warnings=$(journal -u anki-sync-server.service -p warning)
hkeys=$(cat "$WORK/alice/hkey" "$WORK/bob/hkey" 2>/dev/null)
if grep -qi "login" <<<"$warnings" && grep -q "alice" <<<"$warnings"; then
  pass "journal: journalctl -p warning shows the failed login: $(grep -i login <<<"$warnings" | grep alice | head -1)"
else
  fail "journal: no failed login at priority warning: $(tail -3 <<<"$warnings")"
fi
all_logs=$(IN journalctl --no-pager -o cat)
leak=""
for secret in "$ALICE_PW" "$BOB_PW" $hkeys; do grep -qF -- "$secret" <<<"$all_logs" && leak="yes"; done
check "journal: no password and no host key in the whole journal ($(wc -l <<<"$all_logs") lines)" test -z "$leak"

# -- systemd-analyze security
security=$(IN systemd-analyze security --no-pager anki-sync-server.service 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
exposure=$(tail -1 <<<"$security" | grep -oE '[0-9]+\.[0-9]+' | head -1)
if [ -n "$exposure" ] && [ "$(echo "$exposure <= 1.5" | bc)" = 1 ]; then
  pass "security: systemd-analyze security anki-sync-server.service: exposure $exposure ($(tail -1 <<<"$security" | grep -oE '[A-Z]+ *[^ ]*$'))"
else
  fail "security: exposure ${exposure:-?} (want 1.5 or lower)"
fi
echo "# what still counts (systemd-analyze security, ✗ lines):"
grep '✗' <<<"$security" | sed 's/  */ /g; s/^/#   /'

# -- backup: timer, snapshot on a separate mount
IN mount -t tmpfs -o size=256m,mode=0755 hdd /mnt/hdd
check "backup: systemctl list-timers lists anki-sync-backup.timer" bash -c "nsenter -t $LEADER -m -u -i -n -p -C -r -w -- systemctl list-timers --all --no-pager | grep anki-sync-backup.timer"
t=$(now)
if IN systemctl start anki-sync-backup.service; then
  backup_secs=$(secs "$t")
  snaps=$(IN find "$TARGET" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n')
  snap="$TARGET/$(head -1 <<<"$snaps")"
  if [ "$(wc -l <<<"$snaps")" = 1 ] &&
    IN python3 -c '
import glob, sqlite3, sys
for user in ("alice", "bob"):
    found = glob.glob(f"{sys.argv[1]}/**/{user}/collection.anki2", recursive=True)
    assert len(found) == 1, (user, found)
    db = sqlite3.connect(f"file:{found[0]}?mode=ro&immutable=1", uri=True)
    # Anki indexes some columns with its case-folding collation (ours is build/unicase.so)
    db.create_collation("unicase", lambda a, b: (a.casefold() > b.casefold()) - (a.casefold() < b.casefold()))
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    n = db.execute("select count() from notes where flds like ?", (f"changed by a normal sync ({user})%",)).fetchone()[0]
    assert n == 1, (user, n)
' "$snap" 2>"$WORK/snapshot.err" && IN find "$snap" -name '*.png' | grep -q . && IN findmnt -n -T "$snap" -o SOURCE | grep -qx hdd; then
    pass "backup: systemctl start anki-sync-backup.service made $(basename "$snap") on the separate mount /mnt/hdd in ${backup_secs}s: both collections pass integrity_check and hold the synced note, media copied"
  else
    fail "backup: snapshot check: $snaps $(tail -3 "$WORK/snapshot.err" | tr "\n" " ") $(IN find "$snap" | head -20 | tr '\n' ' ') $(IN findmnt -n -T "$snap")"
  fi
else
  fail "backup: the unit failed: $(journal -u anki-sync-backup.service | tail -5)"
fi

# -- stop and restart
t=$(now)
IN systemctl stop anki-sync-server.service
stop_secs=$(secs "$t")
result="$(prop anki-sync-server.service Result) $(prop anki-sync-server.service ExecMainCode)/$(prop anki-sync-server.service ExecMainStatus)"
if [ "$(prop anki-sync-server.service Result)" = success ] && [ "$(echo "$stop_secs < 30" | bc)" = 1 ]; then
  pass "stop: systemctl stop ends it cleanly in ${stop_secs}s (TimeoutStopSec=30; Result=success)"
else
  fail "stop: took ${stop_secs}s, $result"
fi
t=$(now)
IN systemctl start anki-sync-server.service
for _ in $(seq 1 300); do NET ss -Htln "sport = :$PORT" | grep -q . && break; sleep 0.1; done
start_secs=$(secs "$t")
IN systemctl restart anki-sync-server.service
for _ in $(seq 1 300); do NET ss -Htln "sport = :$PORT" | grep -q . && break; sleep 0.1; done
if NET "$PY" "$HERE/sync-client.py" "$ENDPOINT" alice "$ALICE_PW" "$WORK/alice" download >"$WORK/after.log" 2>&1 &&
  NET "$PY" "$HERE/sync-client.py" "$ENDPOINT" bob "$BOB_PW" "$WORK/bob" download >>"$WORK/after.log" 2>&1; then
  pass "restart: after stop/start (listening again in ${start_secs}s) and systemctl restart, new devices of alice and bob download all their notes and media"
else
  fail "restart: $(tail -5 "$WORK/after.log")"
fi

# -- backup of an empty data folder: failed, nothing rotated
IN systemctl stop anki-sync-server.service
before=$(IN find "$TARGET" -mindepth 1 -maxdepth 1 | sort)
IN mv "$STATE" "$STATE.saved"
IN mkdir -m 0700 "$STATE"
IN systemctl start anki-sync-backup.service 2>/dev/null
after=$(IN find "$TARGET" -mindepth 1 -maxdepth 1 | sort)
if [ "$(prop anki-sync-backup.service Result)" != success ] && IN systemctl is-failed --quiet anki-sync-backup.service &&
  [ "$before" = "$after" ]; then
  pass "backup: with an empty data folder the unit ends failed ($(prop anki-sync-backup.service Result)), snapshots unchanged ($(wc -l <<<"$after")): $(journal -u anki-sync-backup.service -t anki-sync-backup | tail -1)"
else
  fail "backup of an empty folder: Result=$(prop anki-sync-backup.service Result); before: $before; after: $after"
fi
IN rm -rf "$STATE"
IN mv "$STATE.saved" "$STATE"
IN systemctl reset-failed anki-sync-backup.service

# -- backup without its disk: refused before anything is written
IN umount /mnt/hdd
IN systemctl start anki-sync-backup.service 2>/dev/null
if [ "$(prop anki-sync-backup.service AssertResult)" = no ] && ! IN test -e "$TARGET"; then
  pass "backup: with /mnt/hdd not mounted the run fails on AssertPathIsMountPoint=, nothing written under /mnt/hdd"
else
  fail "backup without its disk: AssertResult=$(prop anki-sync-backup.service AssertResult), target exists: $(IN test -e "$TARGET" && echo yes || echo no)"
fi

echo "# timings: units ${units_secs}s; boot to running ${boot_secs}s (with the Tailscale wait); listening ${listen_secs}s after the address; backup ${backup_secs:-?}s; stop ${stop_secs}s; start ${start_secs}s; total $(secs "$T0")s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
