# Values shared by the package, the NixOS module, the VM test and the docs.
# Plain data: importable without nixpkgs (`import ./nix/constants.nix`).
{
  # Same default as the official server (and our `serve --port`).
  defaultPort = 27701;

  # Attribute name in the overlay. `anki-sync-server` in nixpkgs is the
  # official Rust server, which we must not shadow.
  packageAttr = "anki-sync-server-ts";

  # The command installed in $out/bin.
  mainProgram = "anki-sync-server";

  # systemd unit names (`<name>.service`, `<backupUnit>.timer`).
  serviceUnit = "anki-sync-server";
  backupUnit = "anki-sync-backup";

  # Default data folder: the service's StateDirectory on the fast disk.
  defaultDataDir = "/var/lib/anki-sync-server";

  # Where the Tailscale wait (ExecStartPre, root) leaves the address for ExecStart.
  # Lives in the service's RuntimeDirectory, so it disappears when the service stops.
  runtimeDir = "anki-sync-server";
  addressEnvFile = "/run/anki-sync-server/address.env";
  addressVariable = "SYNC_HOST";

  # Tailscale defaults.
  tailscaleInterface = "tailscale0";
  tailscaleTimeoutSeconds = 120;

  # Backup defaults: nightly, keep a week of dailies and a month of weeklies.
  backupOnCalendar = "*-*-* 03:30:00";
  backupKeepDaily = 7;
  backupKeepWeekly = 4;
}
