# A test double of the nixpkgs flake, for evaluating our flake offline:
#   nix flake show path:<copy of this repo> --override-input nixpkgs path:<this folder>
# test/nix/run.sh assembles this folder: this file, ../stub-pkgs.nix,
# ../stub-options.nix, and lib/ copied from a nixpkgs lib checkout (NIXPKGS_LIB).
# The lib is nixpkgs' real one; packages and builders are stand-ins (see
# stub-pkgs.nix) and nixosSystem evaluates the modules against stub-options.nix.
{
  description = "stub nixpkgs: real lib, stand-in packages";

  outputs =
    { self }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      lib = (import ./lib).extend (
        final: _prev: {
          nixosSystem =
            {
              system,
              modules,
              ...
            }:
            let
              config =
                (final.evalModules {
                  modules = [
                    ./stub-options.nix
                    { _module.args.pkgs = self.legacyPackages.${system}; }
                  ]
                  ++ modules;
                }).config;
              failed = map (a: a.message) (final.filter (a: !a.assertion) config.assertions);
              toplevel = derivation {
                name = "nixos-system-stub";
                inherit system;
                builder = "/bin/sh";
                args = [
                  "-c"
                  "echo stub > $out"
                ];
                # Evaluating the drvPath evaluates every generated unit.
                services = builtins.toJSON (final.mapAttrs (_: s: s.serviceConfig) config.systemd.services);
                timers = builtins.toJSON (final.mapAttrs (_: t: t.timerConfig) config.systemd.timers);
              };
            in
            {
              config = config // {
                system = config.system // {
                  build.toplevel =
                    if failed != [ ] then throw "failed assertions: ${final.concatStringsSep "; " failed}" else toplevel;
                };
              };
            };
        }
      );
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems (system: import ./stub-pkgs.nix { inherit lib system; });
    };
}
