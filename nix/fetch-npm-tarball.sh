# Builder of one tarball of npm-deps.nix (a fixed-output derivation, so it has
# the network): downloads NAME@VERSION's tarball from npm's registry to OUT.
# Usage: bash fetch-npm-tarball.sh NAME VERSION OUT
# The registry is npm's own setting (`npm config get registry`: its built-in
# default, or $npmRegistry when the package's npmRegistry option is set); the
# tarball is at <registry><name>/-/<name without scope>-<version>.tgz on every
# npm registry. Nix then checks the file against the lock's integrity hash.
set -euo pipefail
name="$1"
version="$2"
out="$3"

work="$(mktemp -d)"
export HOME="$work/home"
export npm_config_cache="$work/cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
if [ -n "${npmRegistry:-}" ]; then
  export npm_config_registry="$npmRegistry"
fi

registry="$(npm config get registry)"
url="${registry%/}/${name}/-/${name##*/}-${version}.tgz"
mkdir -p "$work/pack"
npm pack --ignore-scripts --loglevel=warn --pack-destination "$work/pack" "$url" >/dev/null
files=("$work/pack"/*.tgz)
if [ "${#files[@]}" != 1 ] || [ ! -f "${files[0]}" ]; then
  echo "fetch-npm-tarball: npm pack left no single tarball for $name@$version" >&2
  exit 1
fi
cp "${files[0]}" "$out"
