# The anki-sync-server-ts package: `pkgs.callPackage ./nix/package.nix { }`.
#
# Builds with stock nixpkgs and nothing else to configure. Dependencies come
# from package-lock.json through ./npm-deps.nix: one fixed-output download per
# tarball, checked against the lock's integrity hash, from npm's own default
# registry (or `npmRegistry`), and only the tarballs this platform installs.
# No npmDepsHash to keep in step. The native addons are compiled from source
# inside the sandbox, against this nodejs:
#   better-sqlite3 and zstd-napi (prebuild-install is told not to download),
#   argon2 (node-gyp-build rebuilds instead of using its bundled prebuilds),
# and `npm run build` compiles our unicase SQLite extension (build/unicase.so).
# The install check loads all four on the build machine.
# test/nix/offline-build.sh replays these steps without network.
{
  lib,
  callPackage,
  buildNpmPackage,
  importNpmLock,
  nodejs,
  python3,
  # Base URL of an npm registry mirror to download the dependencies from, e.g.
  # "https://npm.example.internal/"; null (the default) uses npm's own default
  # registry. The result is the same either way (same hashes, same store
  # paths). Set it with `.override { npmRegistry = "…"; }` (see docs/nixos.md).
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

  npmDeps = callPackage ./npm-deps.nix { inherit nodejs; } {
    package = packageJson;
    packageLock = lib.importJSON ../package-lock.json;
    registry = npmRegistry;
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

  inherit npmDeps;
  # It installs from npmDeps' package.json and lock (tarballs in the store), offline.
  npmConfigHook = importNpmLock.npmConfigHook;
  # Strings, not lists: the hooks expand `$npmRebuildFlags` unquoted, which with
  # __structuredAttrs would give only a list's first element (a bash array).
  npmRebuildFlags = lib.concatStringsSep " " nativeAddons;
  # `npm pack --dry-run` (which lists the files to install) would run `prepare`, i.e. the whole build again.
  npmPackFlags = "--ignore-scripts";

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

  passthru = {
    inherit npmDeps nativeAddons;
  };

  meta = {
    description = packageJson.description;
    license = lib.licenses.agpl3Plus;
    mainProgram = constants.mainProgram;
    platforms = lib.platforms.linux;
  };
}
