# Stand-ins for the nixpkgs packages and builders our Nix code uses, for
# checks that run without nixpkgs (only nixpkgs' lib). Each package is a real
# but trivial derivation (builder /bin/sh), so store paths, string contexts,
# drvPath and `nix flake check --no-build` behave as with real packages.
# The builders check the arguments they are given the way the real ones would
# need them, which is what these checks can verify offline:
#   buildNpmPackage: npmDeps from nix/npm-deps.nix, importNpmLock's config
#     hook, a source tree holding package.json, package-lock.json and the
#     native code and no node_modules or dist;
#   testers.runNixOSTest: the nodes evaluate (with ./stub-options.nix) with no
#     failed assertion, and the test script mentions what the issue asks for.
# Not stubbed: nixpkgs' lib (the real one, from NIXPKGS_LIB) and our own
# nix/npm-deps.nix, whose fetch derivations `stdenvNoCC.mkDerivation` and
# `runCommand` here make buildable with the host's node and npm (test only).
# Nothing here presets our package or a registry: the default path is evaluated.
{
  lib,
  system ? "x86_64-linux",
}:
let
  # A trivial derivation; `env` goes into the derivation (and so into its drvPath).
  fakeWith =
    name: env: extra:
    derivation (
      {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-c"
          "echo stub > $out"
        ];
      }
      // env
    )
    // {
      meta = { };
    }
    // extra;
  fake = name: extra: fakeWith name { } extra;

  fail = msg: throw "stub-pkgs: ${msg}";

  # What the package uses of importNpmLock: its config hook, which installs from
  # npmDeps/package.json and npmDeps/package-lock.json.
  importNpmLock = {
    npmConfigHook = fake "npm-config-hook" { };
  };

  # Derivations that really build (with `nix-build --option sandbox false`):
  # `buildCommand` runs under the host's bash with nativeBuildInputs' bin/ on PATH.
  mkDerivation =
    args:
    let
      drvArgs = removeAttrs args [
        "nativeBuildInputs"
        "buildCommand"
        "passthru"
        "meta"
      ];
    in
    derivation (
      drvArgs
      // {
        inherit system;
        builder = "/bin/bash";
        args = [
          "-euc"
          ''
            export PATH=${lib.makeBinPath ((args.nativeBuildInputs or [ ]) ++ [ hostTools ])}
            export TMPDIR="$NIX_BUILD_TOP"
            cd "$NIX_BUILD_TOP"
            eval "$buildCommand"
          ''
        ];
        buildCommand = args.buildCommand;
      }
    )
    // (args.passthru or { })
    // {
      meta = args.meta or { };
    };

  # The host's coreutils, bash and node/npm, for the derivations above (test only).
  hostBin =
    name: tools:
    derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [
        "-c"
        "/bin/mkdir -p $out/bin && for t in ${toString tools}; do /bin/ln -s \"$(PATH=/usr/local/bin:/usr/bin:/bin command -v $t)\" $out/bin/$t; done"
      ];
    };
  hostTools = hostBin "host-tools" [
    "bash"
    "mktemp"
    "ls"
    "cp"
    "mkdir"
    "cat"
    "ln"
    "chmod"
    "dirname"
    "basename"
  ];

  buildNpmPackage =
    args:
    let
      # What the source filter lets through (read from the original tree, so
      # that plain --eval, which copies nothing to the store, can check it).
      origin = toString (args.src.origSrc or args.src);
      keeps = args.src.filter or (_: _: true);
      has =
        p:
        let
          path = "${origin}/${p}";
        in
        builtins.pathExists path && keeps path (builtins.readFileType or (_: "regular") path);
      required = [
        "package.json"
        "package-lock.json"
        "tsconfig.json"
        "src/cli/main.ts"
        "native/unicase.c"
        "scripts/build-native.mjs"
      ];
      forbidden = [
        "node_modules"
        "dist"
        "build"
        "flake.nix"
        "test"
      ];
    in
    if !(args ? npmDeps) || !(args.npmDeps ? tarballs) then
      fail "buildNpmPackage: npmDeps must come from nix/npm-deps.nix"
    else if (args.npmConfigHook or null) != importNpmLock.npmConfigHook then
      fail "buildNpmPackage: npmConfigHook must be importNpmLock.npmConfigHook"
    else if lib.any (p: !has p) required then
      fail "buildNpmPackage: source lacks ${toString (lib.filter (p: !has p) required)}"
    else if lib.any has forbidden then
      fail "buildNpmPackage: source must not contain ${toString (lib.filter has forbidden)}"
    else
      fake "${args.pname}-${args.version}" {
        inherit (args) pname version;
        meta = args.meta or { };
        stubArgs = args;
      }
      // (args.passthru or { });

  runNixOSTest =
    test:
    let
      nodes = lib.mapAttrs (
        _: node:
        (lib.evalModules {
          modules = [
            ./stub-options.nix
            { _module.args.pkgs = self; }
            node
          ];
        }).config
      ) test.nodes;
      failed = lib.concatMap (
        config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions)
      ) (lib.attrValues nodes);
      script = test.testScript;
      mentions = [
        "anki-sync-backup.service"
        "healthcheck"
        "tailscale"
      ];
      units = lib.mapAttrs (_: c: lib.mapAttrs (_: s: s.serviceConfig) c.systemd.services) nodes;
    in
    if failed != [ ] then
      fail "runNixOSTest ${test.name}: failed assertions: ${lib.concatStringsSep "; " failed}"
    else if lib.any (m: !lib.hasInfix m script) mentions then
      fail "runNixOSTest ${test.name}: the test script does not mention ${toString mentions}"
    else
      # The units go into the derivation, so instantiating it evaluates them.
      fakeWith "vm-test-${test.name}" { units = builtins.toJSON units; } { inherit nodes; };

  self = {
    inherit lib system;
    stdenv = {
      hostPlatform = lib.systems.elaborate system;
      inherit mkDerivation;
    };
    stdenvNoCC = self.stdenv;
    runCommand =
      name: env: buildCommand:
      mkDerivation (env // { inherit name buildCommand; });

    # this machine's CA bundle, where nixpkgs' cacert has it
    cacert = derivation {
      name = "cacert";
      inherit system;
      builder = "/bin/sh";
      args = [
        "-c"
        "/bin/mkdir -p $out/etc/ssl/certs && /bin/ln -s /etc/ssl/certs/ca-certificates.crt $out/etc/ssl/certs/ca-bundle.crt"
      ];
    };
    bash = fake "bash" { };
    coreutils = fake "coreutils" { };
    iproute2 = fake "iproute2" { };
    gawk = fake "gawk" { };
    sqlite = fake "sqlite" { };
    age = fake "age" { };
    tailscale = fake "tailscale" { meta.mainProgram = "tailscale"; };
    python3 = fake "python3" { sitePackages = "lib/python3.12/site-packages"; };
    # the host's node and npm (the fetch derivations of nix/npm-deps.nix really run)
    nodejs = hostBin "nodejs" [
      "node"
      "npm"
    ] // {
      meta.mainProgram = "node";
      python = self.python3;
    };
    anki = fake "anki" { lib = fake "anki-lib" { }; };

    writeShellScript = name: text: fake name { inherit text; };
    writeShellScriptBin =
      name: text:
      fake name {
        inherit text;
        meta.mainProgram = name;
      };
    writeScript = name: text: fake name { inherit text; };
    writeText = name: text: fake name { inherit text; };
    mkShell = args: fake (args.name or "nix-shell") { stubArgs = args; };

    callPackage = lib.callPackageWith self;
    config = { };
    inherit importNpmLock buildNpmPackage;
    # The image is evaluated, not built: its config (entrypoint, user, volume,
    # healthcheck) lands in the stand-in's attributes, so a bad store path fails here.
    dockerTools = {
      buildLayeredImage = args: fake "docker-image-${args.name}" { imageConfig = builtins.toJSON args.config; };
      fakeNss = fake "fake-nss" { };
    };
    testers = { inherit runNixOSTest; };
  };
in
self
