# The command lines the module generates for one configuration, for tests that
# run them for real outside systemd (run.sh). The configuration comes as JSON:
#   nix-instantiate --eval --strict --json test/nix/units.nix \
#     --argstr nixpkgsLib /path/to/nixpkgs.lib --argstr configJSON '{"port": 28001}'
# Store paths of stub packages are returned with `bin` telling which prefix
# stands for the anki-sync-server command.
{ nixpkgsLib, configJSON }:
let
  libPath = if builtins.pathExists (/. + nixpkgsLib + "/lib/default.nix") then /. + nixpkgsLib + "/lib" else /. + nixpkgsLib;
  lib = import libPath;
  pkgs = import ./stub-pkgs.nix { inherit lib; };
  config =
    (lib.evalModules {
      modules = [
        ./stub-options.nix
        ./stub-agenix.nix
        ../../modules/nixos
        { _module.args.pkgs = pkgs; }
        { homeserver.ankiSync = builtins.fromJSON configJSON // { enable = true; }; }
      ];
    }).config;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  server = config.systemd.services.anki-sync-server.serviceConfig;
  backup = config.systemd.services.anki-sync-backup.serviceConfig or { };
  str = s: builtins.unsafeDiscardStringContext (toString s);
in
if failed != [ ] then
  throw "failed assertions: ${lib.concatStringsSep "; " failed}"
else
  {
    bin = str "${config.homeserver.ankiSync.package}/bin/anki-sync-server";
    execStart = str server.ExecStart;
    execStartPre = str (server.ExecStartPre or "");
    environmentFile = str (server.EnvironmentFile or "");
    loadCredential = map str server.LoadCredential;
    backupExecStart = str (backup.ExecStart or "");
  }
