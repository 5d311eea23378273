# Stands in for agenix's NixOS module (its `age.secrets` option, typed like
# the real one), for module-eval.nix and for the README quick start, whose host
# flake imports `agenix.nixosModules.default` (run.sh serves this file as that
# flake's module). Nothing is decrypted.
{ lib, ... }:
let
  inherit (lib) mkOption types;

  ageSecret =
    { name, ... }:
    {
      options = {
        file = mkOption { type = types.path; };
        path = mkOption {
          type = types.str;
          default = "/run/agenix/${name}";
        };
        mode = mkOption {
          type = types.str;
          default = "0400";
        };
        owner = mkOption {
          type = types.str;
          default = "0";
        };
        group = mkOption {
          type = types.str;
          default = "0";
        };
      };
    };

in
{
  options.age.secrets = mkOption {
    type = types.attrsOf (types.submodule ageSecret);
    default = { };
  };
}
