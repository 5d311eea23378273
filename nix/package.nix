# The anki-sync-server-ts package: `pkgs.callPackage ./nix/package.nix { }`.
#
# Dependencies come from package-lock.json through importNpmLock (each tarball
# fetched by its integrity hash; no npmDepsHash to keep in step). The native
# addons are compiled from source inside the sandbox, against this nodejs:
#   better-sqlite3 and zstd-napi (prebuild-install is told not to download),
#   argon2 (node-gyp-build rebuilds instead of using its bundled prebuilds),
# and `npm run build` compiles our unicase SQLite extension (build/unicase.so).
# The install check loads all four on the build machine.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs,
  python3,
  # Base URL of the npm registry the lock's packages come from (the public
  # registry's address, or a mirror), ending in "/". Our lock file records no
  # download URLs (npm's omit-lockfile-registry-resolved), so the tarball URL
  # of each package is built from this. Set it with
  # `packages.default.override { npmRegistry = "https://…/"; }` or the
  # overlay; see docs/nixos.md.
  npmRegistry ? null,
}:
let
  constants = import ./constants.nix;
  packageJson = lib.importJSON ../package.json;

  # Only what the build reads: editing docs, Nix files or tests does not rebuild.
  # A new top-level file or folder that the build needs must be added here.
  # (cleanSourceWith rather than lib.fileset: the latter needs Nix >= 2.14 in recent lib.)
  sourceFiles = [
    "package.json"
    "package-lock.json"
    "tsconfig.json"
  ];
  sourceDirs = [
    "src"
    "native"
    "scripts"
  ];
  root = toString ../.;
  src = lib.cleanSourceWith {
    name = "${packageJson.name}-source";
    src = ../.;
    filter =
      path: _type:
      let
        rel = lib.removePrefix "${root}/" (toString path);
      in
      builtins.elem rel sourceFiles || builtins.elem (builtins.head (lib.splitString "/" rel)) sourceDirs;
  };

  # importNpmLock fetches each package from its lock entry's `resolved` URL,
  # checked against its `integrity`. npm leaves `resolved` out for registry
  # packages when `omit-lockfile-registry-resolved` is set (as on our dev
  # machines); put back the registry's tarball URL, which is what npm uses then.
  registry =
    if npmRegistry == null then
      throw "anki-sync-server-ts: set npmRegistry to your npm registry's base URL (see docs/nixos.md, 'Building the package')"
    else
      lib.removeSuffix "/" npmRegistry;
  lock = lib.importJSON ../package-lock.json;
  tarballUrl =
    path: entry:
    let
      name = entry.name or (lib.last (lib.splitString "node_modules/" path));
      base = lib.last (lib.splitString "/" name);
    in
    "${registry}/${name}/-/${base}-${entry.version}.tgz";
  packageLock = lock // {
    packages = lib.mapAttrs (
      path: entry:
      if path == "" || entry ? resolved || (entry.link or false) || !(entry ? integrity) then
        entry
      else
        entry // { resolved = tarballUrl path entry; }
    ) lock.packages;
  };

  # Native addons: rebuilt by `npm rebuild` (dev tools with install scripts,
  # such as esbuild and buf, are left alone: the build does not need them).
  nativeAddons = [
    "better-sqlite3"
    "zstd-napi"
    "argon2"
  ];
in
buildNpmPackage {
  pname = packageJson.name;
  inherit (packageJson) version;
  inherit src nodejs;

  npmDeps = importNpmLock {
    npmRoot = src;
    inherit packageLock;
  };
  npmConfigHook = importNpmLock.npmConfigHook;
  npmRebuildFlags = nativeAddons;
  # `npm pack --dry-run` (which lists the files to install) would run `prepare`, i.e. the whole build again.
  npmPackFlags = [ "--ignore-scripts" ];

  nativeBuildInputs = [ python3 ];

  # prebuild-install and node-gyp-build: compile, never download or reuse a prebuilt binary.
  env.npm_config_build_from_source = "true";

  postInstall = ''
    pkgOut="$out/lib/node_modules/${packageJson.name}"

    # package.json `files` does not list build/; the program loads build/unicase.so
    # relative to the package root.
    install -Dm755 build/unicase.so "$pkgOut/build/unicase.so"

    # Keep only the compiled addons: object files, Makefiles and config.gypi
    # would pull the compiler and Node's source into the runtime closure.
    for addon in ${lib.escapeShellArgs nativeAddons}; do
      dir="$pkgOut/node_modules/$addon/build"
      if [ -d "$dir/Release" ]; then
        find "$dir" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
        find "$dir/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
      fi
    done
    rm -rf \
      "$pkgOut/node_modules/argon2/prebuilds" \
      "$pkgOut/node_modules/better-sqlite3/deps" \
      "$pkgOut/node_modules/better-sqlite3/src" \
      "$pkgOut/node_modules/zstd-napi/deps"
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    "$out/bin/${constants.mainProgram}" --help > /dev/null
    pkgOut="$out/lib/node_modules/${packageJson.name}"
    NODE_PATH="$pkgOut/node_modules" ${lib.getExe nodejs} ${./native-check.cjs} "$pkgOut/build/unicase.so"
    runHook postInstallCheck
  '';

  meta = {
    description = packageJson.description;
    license = lib.licenses.agpl3Plus;
    mainProgram = constants.mainProgram;
    platforms = lib.platforms.linux;
  };
}
