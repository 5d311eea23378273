# The npm dependencies of package-lock.json, for one platform, in the layout
# that nixpkgs' importNpmLock.npmConfigHook consumes: a folder holding
# package.json and package-lock.json whose packages point at tarballs in the
# Nix store (`"resolved": "file:/nix/store/…-name-1.2.3.tgz"`).
#
#   npmDeps = callPackage ./npm-deps.nix { } { npmRoot = ./.; };
#   (or `package` and `packageLock` given as parsed JSON instead of npmRoot)
#
# Why not importNpmLock itself: it downloads each package from its lock entry's
# `resolved` URL, and our lock has none (npm's omit-lockfile-registry-resolved;
# no registry host may be written into this repository). Here each tarball is
# its own fixed-output derivation whose builder asks npm where its registry is
# (`npm config get registry`, npm's built-in default unless `registry` is set)
# and downloads `<registry><name>/-/<base>-<version>.tgz` with `npm pack`.
# Its expected hash is the lock's `integrity`, so there is no hash to keep in
# step with the lock, the registry (or mirror) cannot change a byte, and the
# store path is the same whichever registry served it.
#
# Only what the target platform installs is fetched: optional packages whose
# `os`/`cpu`/`libc` exclude it (esbuild's, rollup's and buf's binaries for
# other systems) keep their lock entry but get no tarball; npm skips them on
# the same fields before it would fetch them.
{
  lib,
  stdenv,
  stdenvNoCC,
  nodejs,
  cacert,
  runCommand,
}:
{
  npmRoot ? null,
  package ? lib.importJSON (npmRoot + "/package.json"),
  packageLock ? lib.importJSON (npmRoot + "/package-lock.json"),
  # Base URL of an npm registry mirror, e.g. "https://npm.example.internal/";
  # null: npm's own default registry.
  registry ? null,
  platform ? stdenv.hostPlatform,
}:
let
  npmPlatform = import ./npm-platform.nix { inherit lib; };
  target = npmPlatform.ofNixPlatform platform;

  # "node_modules/a/node_modules/@s/b" -> "@s/b"
  packageName = path: entry: entry.name or (lib.last (lib.splitString "node_modules/" path));

  # A store-path-safe name: "@esbuild/linux-x64" 0.1 -> "esbuild-linux-x64-0.1.tgz"
  storeName =
    name: version:
    "${lib.replaceStrings [ "@" "/" ] [ "" "-" ] name}-${version}.tgz";

  fetchTarball =
    name: entry:
    stdenvNoCC.mkDerivation {
      name = storeName name entry.version;
      nativeBuildInputs = [ nodejs ];
      # The lock's integrity is the output's hash: Nix refuses any other bytes.
      outputHash = entry.integrity;
      outputHashMode = "flat";
      impureEnvVars = lib.fetchers.proxyImpureEnvVars or [ ];
      preferLocalBuild = true;
      packageName = name;
      packageVersion = entry.version;
      npmRegistry = if registry == null then "" else registry;
      # whichever CA store this nodejs was built to use, the usual bundle is there too
      NODE_EXTRA_CA_CERTS = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      buildCommand = ''
        bash ${./fetch-npm-tarball.sh} "$packageName" "$packageVersion" "$out"
      '';
    };

  isRegistryPackage =
    path: entry:
    path != "" && !(entry.link or false) && entry ? version && entry ? integrity && !(entry ? resolved);

  # Bundled packages come inside their parent's tarball.
  unsupported = lib.filterAttrs (
    path: entry:
    path != "" && !(entry.link or false) && !(entry.inBundle or false) && !(isRegistryPackage path entry)
  ) packageLock.packages;

  # Not installed on this platform: npm skips optional packages that fail its platform check.
  skipped =
    path: entry:
    (entry.optional or false || entry.devOptional or false) && !(npmPlatform.installs target entry);

  required = lib.filterAttrs (
    path: entry:
    path != "" && !(entry.optional or false || entry.devOptional or false) && !(npmPlatform.installs target entry)
  ) packageLock.packages;

  tarballs = lib.mapAttrs (path: entry: fetchTarball (packageName path entry) entry) (
    lib.filterAttrs (path: entry: isRegistryPackage path entry && !(skipped path entry)) packageLock.packages
  );

  lock' = packageLock // {
    packages = lib.mapAttrs (
      path: entry:
      if tarballs ? ${path} then
        entry // { resolved = "file:${tarballs.${path}}"; }
      else
        entry
    ) packageLock.packages;
  };

  # The top-level dependencies point at the same tarballs, as importNpmLock does,
  # so that npm sees package.json and the lock agree.
  topLevel = deps: lib.mapAttrs (name: spec: lock'.packages."node_modules/${name}".resolved or spec) deps;
  package' =
    package
    // lib.optionalAttrs (package ? dependencies) { dependencies = topLevel package.dependencies; }
    // lib.optionalAttrs (package ? devDependencies) { devDependencies = topLevel package.devDependencies; };
in
if unsupported != { } then
  throw "npm-deps.nix: only registry packages with an integrity hash are supported; not: ${toString (lib.attrNames unsupported)}"
else if required != { } then
  throw "npm-deps.nix: ${toString (lib.attrNames required)} cannot be installed on ${platform.system} (os/cpu/libc) and are not optional"
else
  runCommand "${package.name or "npm"}-${package.version or "0"}-npm-deps"
    {
      passAsFile = [
        "package"
        "packageLock"
      ];
      package = builtins.toJSON package';
      packageLock = builtins.toJSON lock';
      passthru = {
        inherit tarballs;
        platform = target;
        skipped = lib.attrNames (lib.filterAttrs skipped packageLock.packages);
      };
    }
    ''
      mkdir $out
      cp "$packagePath" $out/package.json
      cp "$packageLockPath" $out/package-lock.json
    ''
