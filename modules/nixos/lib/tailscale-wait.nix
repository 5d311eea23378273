# Builds the command line of the "wait for Tailscale" step (see tailscale-wait.sh
# beside this file for what it does). Used by the anki-sync-server unit as a
# `+`-prefixed ExecStartPre, i.e. run as root outside the service's sandbox.
#
#   waitCommand = import ./tailscale-wait.nix { inherit lib pkgs; } {
#     tailscale = pkgs.tailscale;       # package providing bin/tailscale
#     timeout = 120;                    # seconds, then the unit fails (and Restart= retries)
#     envFile = "/run/x/address.env";   # or null: only wait, write nothing
#     variable = "SYNC_HOST";
#   };
#
# Returns a string "<store path of wrapper> --timeout N [...]" without the `+`.
{ lib, pkgs }:
{
  tailscale,
  timeout,
  envFile ? null,
  variable ? "SYNC_HOST",
  requireLocal ? true,
}:
let
  wrapper = pkgs.writeShellScript "anki-sync-tailscale-wait" ''
    export PATH=${
      lib.makeBinPath [
        tailscale
        pkgs.coreutils
        pkgs.iproute2
      ]
    }
    exec ${pkgs.bash}/bin/bash ${./tailscale-wait.sh} "$@"
  '';
in
lib.concatStringsSep " " (
  [
    "${wrapper}"
    "--timeout"
    (toString timeout)
  ]
  ++ lib.optionals (envFile != null) [
    "--env-file"
    envFile
    "--variable"
    variable
  ]
  ++ lib.optional requireLocal "--require-local"
)
