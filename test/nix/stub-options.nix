# Option declarations standing in for the parts of NixOS that our
# module writes to or reads, typed like the real ones so that a wrongly typed
# value fails here as it would on NixOS. Not freeform: a typo in an option
# name is an error. Used by module-eval.nix and by the stub nixpkgs flake.
# agenix's `age.secrets` is in ./stub-agenix.nix.
{ lib, ... }:
let
  inherit (lib) mkOption types;

  # nixpkgs: nixos/lib/systemd-types.nix (unitOption): atoms or lists of atoms.
  atom = types.oneOf [
    types.bool
    types.int
    types.str
    types.path
  ];
  unitOption = types.either atom (types.listOf atom);
  unitNames = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  unitSection = mkOption {
    type = types.attrsOf unitOption;
    default = { };
  };

  service = {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      wantedBy = unitNames;
      requiredBy = unitNames;
      wants = unitNames;
      requires = unitNames;
      after = unitNames;
      before = unitNames;
      environment = mkOption {
        type = types.attrsOf (
          types.nullOr (
            types.oneOf [
              types.str
              types.path
              types.package
            ]
          )
        );
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = [ ];
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
      unitConfig = unitSection;
      serviceConfig = unitSection;
    };
  };

  timer = {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      wantedBy = unitNames;
      unitConfig = unitSection;
      timerConfig = unitSection;
    };
  };

  firewallRules = {
    options = {
      allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      allowedUDPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
    };
  };

  anything = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    systemd.services = mkOption {
      type = types.attrsOf (types.submodule service);
      default = { };
    };
    systemd.timers = mkOption {
      type = types.attrsOf (types.submodule timer);
      default = { };
    };
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    users.users = anything;
    users.groups = anything;

    networking.firewall = firewallRules.options // {
      interfaces = mkOption {
        type = types.attrsOf (types.submodule firewallRules);
        default = { };
      };
    };

    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };

    services.tailscale = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      package = mkOption { type = types.package; };
      interfaceName = mkOption {
        type = types.str;
        default = "tailscale0";
      };
    };

    # The two parts of services.prometheus that metrics.nix reads and writes.
    services.prometheus = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      scrapeConfigs = mkOption {
        type = types.listOf (types.attrsOf types.anything);
        default = [ ];
      };
    };

    # Only for hosts and test nodes that set them (example host, VM test).
    virtualisation.memorySize = mkOption {
      type = types.int;
      default = 1024;
    };
    virtualisation.emptyDiskImages = mkOption {
      type = types.listOf types.int;
      default = [ ];
    };
    virtualisation.fileSystems = anything;
    boot = anything;
    fileSystems = anything;
    system.stateVersion = mkOption {
      type = types.str;
      default = "25.05";
    };
  };
}
