# Stand-ins for the nixpkgs packages and builders our Nix code uses, for
# checks that run without nixpkgs (only nixpkgs' lib). Each package is a real
# but trivial derivation (builder /bin/sh), so store paths, string contexts,
# drvPath and `nix flake check --no-build` behave as with real packages.
# The builders check the arguments they are given the way the real ones would
# need them, which is what these checks can verify offline:
#   buildNpmPackage: npmDeps from importNpmLock, its config hook, a source
#     tree holding package.json, package-lock.json and the native code and no
#     node_modules or dist;
#   importNpmLock: every package in package-lock.json is a fixed-output fetch
#     (https URL + integrity), i.e. nothing is downloaded during the build;
#   testers.runNixOSTest: the nodes evaluate (with ./stub-options.nix) with no
#     failed assertion, and the test script mentions what the issue asks for.
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

  importNpmLock = {
    __functor =
      _:
      {
        npmRoot,
        # defaults as in nixpkgs' importNpmLock
        package ? lib.importJSON (npmRoot + "/package.json"),
        packageLock ? lib.importJSON (npmRoot + "/package-lock.json"),
        ...
      }:
      let
        lock = packageLock;
        pkgJson = package;
        deps = lib.filterAttrs (path: _: path != "") lock.packages;
        notFixed = lib.filterAttrs (
          _: m:
          !(m.link or false)
          && !(lib.hasPrefix "https://" (m.resolved or "") && lib.hasPrefix "sha512-" (m.integrity or ""))
        ) deps;
      in
      if (lock.lockfileVersion or 0) < 2 then
        fail "package-lock.json must be lockfileVersion 2 or 3 for importNpmLock"
      else if notFixed != { } then
        fail "importNpmLock: ${toString (lib.length (lib.attrNames notFixed))} package-lock.json entries lack an https URL and sha512 integrity (they would need the network), e.g. ${toString (lib.take 3 (lib.attrNames notFixed))}"
      else
        fake "${pkgJson.name}-${pkgJson.version}-sources" {
          packageCount = lib.length (lib.attrNames deps);
          urls = lib.mapAttrs (_: m: m.resolved or null) deps;
        };
    npmConfigHook = fake "npm-config-hook" { };
  };

  buildNpmPackage =
    args:
    let
      src = "${args.src}";
      has = p: builtins.pathExists "${src}/${p}";
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
    if !(args ? npmDeps) || !(args.npmDeps ? packageCount) then
      fail "buildNpmPackage: npmDeps must come from importNpmLock"
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
        passthru = args.passthru or { };
        stubArgs = args;
      };

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
    stdenv.hostPlatform = {
      inherit system;
      isLinux = true;
      isDarwin = false;
    };

    bash = fake "bash" { };
    coreutils = fake "coreutils" { };
    iproute2 = fake "iproute2" { };
    gawk = fake "gawk" { };
    sqlite = fake "sqlite" { };
    age = fake "age" { };
    tailscale = fake "tailscale" { meta.mainProgram = "tailscale"; };
    python3 = fake "python3" { sitePackages = "lib/python3.12/site-packages"; };
    nodejs = fake "nodejs" {
      meta.mainProgram = "node";
      python = self.python3;
    };
    anki = fake "anki" { lib = fake "anki-lib" { }; };
    anki-sync-server-ts = fake "anki-sync-server-ts-0.1.0" { meta.mainProgram = "anki-sync-server"; };

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
    # what a host sets in nixpkgs.config for our package (see nix/package.nix);
    # a reserved name: nothing is fetched here.
    config.ankiSyncNpmRegistry = "https://registry.invalid/";
    inherit importNpmLock buildNpmPackage;
    testers = { inherit runNixOSTest; };
  };
in
self
