# The NixOS module of this repository: `homeserver.ankiSync`.
#   imports = [ ./modules/nixos ];   (or the flake's nixosModules.default)
{
  imports = [
    ./options/homeserver.nix
    ./programs/anki-sync-server
    ./programs/anki-sync-server/backup.nix
    ./programs/anki-sync-server/metrics.nix
  ];
}
