#!/usr/bin/env bash
# Waits until Tailscale has an IPv4 address, then optionally writes it as
# `VARIABLE=ADDRESS` into an environment file.
#
# The anki-sync-server unit runs this as its `+`-prefixed ExecStartPre (as
# root: the service's DynamicUser cannot reach tailscaled's socket). ExecStart
# reads the file through EnvironmentFile= and binds to `${SYNC_HOST}`.
#
# Usage: tailscale-wait.sh [--timeout SECONDS] [--interval SECONDS]
#                          [--env-file FILE] [--variable NAME] [--require-local]
#   --timeout        give up after this many seconds (default 120): exit 1
#   --interval       seconds between two `tailscale ip -4` calls (default 1)
#   --env-file       write NAME=ADDRESS here (atomically) once found
#   --variable       NAME for --env-file (default SYNC_HOST)
#   --require-local  also wait until the address is assigned to a local
#                    interface (`ip -4 -o addr show to ADDRESS`), so that
#                    binding to it cannot fail with EADDRNOTAVAIL
#
# Needs `tailscale` (and with --require-local `ip`) on PATH. Logs to stderr:
# one line when it starts waiting, one when it succeeds or gives up.
set -euo pipefail

timeout=120
interval=1
env_file=""
variable="SYNC_HOST"
require_local=0

die() {
  echo "tailscale-wait: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout="${2-}"; shift 2 || die "--timeout needs a value" ;;
    --interval) interval="${2-}"; shift 2 || die "--interval needs a value" ;;
    --env-file) env_file="${2-}"; shift 2 || die "--env-file needs a value" ;;
    --variable) variable="${2-}"; shift 2 || die "--variable needs a value" ;;
    --require-local) require_local=1; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done

case "$timeout" in '' | *[!0-9]*) die "--timeout must be a whole number of seconds, got '$timeout'" ;; esac
case "$interval" in '' | *[!0-9.]*) die "--interval must be a number of seconds, got '$interval'" ;; esac
case "$variable" in '' | [0-9]* | *[!A-Za-z0-9_]*) die "--variable must be an environment variable name, got '$variable'" ;; esac
command -v tailscale >/dev/null || die "no 'tailscale' command on PATH"

# The first IPv4 address `tailscale ip -4` prints, or nothing.
tailscale_ipv4() {
  local out line
  out="$(tailscale ip -4 2>/dev/null)" || return 0
  while IFS= read -r line; do
    case "$line" in
      *.*.*.*) printf '%s\n' "$line"; return 0 ;;
    esac
  done <<<"$out"
}

is_local() {
  [ "$require_local" = 1 ] || return 0
  [ -n "$(ip -4 -o addr show to "$1" 2>/dev/null)" ]
}

echo "tailscale-wait: waiting up to ${timeout}s for a Tailscale IPv4 address" >&2
start=$SECONDS
address=""
last_seen=""
while :; do
  candidate="$(tailscale_ipv4)"
  if [ -n "$candidate" ]; then
    if is_local "$candidate"; then
      address="$candidate"
      break
    fi
    last_seen="$candidate"
  fi
  if [ $((SECONDS - start)) -ge "$timeout" ]; then
    if [ -n "$last_seen" ]; then
      echo "tailscale-wait: giving up after ${timeout}s: Tailscale reports ${last_seen} but no local interface has it yet" >&2
    else
      echo "tailscale-wait: giving up after ${timeout}s: Tailscale has no IPv4 address (is tailscaled running and logged in? try 'tailscale status')" >&2
    fi
    exit 1
  fi
  sleep "$interval"
done

if [ -n "$env_file" ]; then
  mkdir -p "$(dirname "$env_file")"
  tmp="${env_file}.tmp.$$"
  printf '%s=%s\n' "$variable" "$address" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$env_file"
fi
echo "tailscale-wait: Tailscale IPv4 address is ${address} (after $((SECONDS - start))s)" >&2
