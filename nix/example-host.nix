# The host behind `nixosConfigurations.example`: what an operator of the seed
# configuration writes, minus hardware. For evaluation checks, not to deploy.
# With agenix the password line reads
#   passwordFile = config.age.secrets.anki-sync-password.path;
{ ... }:
{
  system.stateVersion = "25.05";
  boot.loader.grub.device = "nodev";
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/mnt/hdd" = {
    device = "/dev/disk/by-label/hdd";
    fsType = "ext4";
  };

  services.tailscale.enable = true;

  homeserver.ankiSync = {
    enable = true;
    users.alice.passwordFile = "/run/agenix/anki-sync-password";
    openFirewall = true;
    backup = {
      enable = true;
      target = "/mnt/hdd/backups/anki";
    };
  };
}
