# anki-sync-backup.service + .timer: a nightly snapshot of the data folder (on
# the fast disk) into backup.target (on the big one), with retention.
#
# Why root and not the server's DynamicUser: the snapshots must outlive the
# dynamic UID (which systemd may hand to another unit later), and the backup
# reads the live SQLite databases in WAL mode, which needs write access to
# their -wal/-shm files (SQLite, running as root, gives new ones the database
# owner). The unit is sandboxed instead: read-only system, no network, only
# the data folder and the target writable, and the capabilities for that.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.homeserver.ankiSync;
  b = cfg.backup;
  constants = import ../../../../nix/constants.nix;
  checks = import ./checks.nix { inherit lib; };
  exec = import ../../lib/exec-args.nix { inherit lib; };
  sandbox = import ../../lib/sandbox.nix;

  stateDirectory = lib.removePrefix "/var/lib/" cfg.dataDir;
  # With DynamicUser= the data lives in /var/lib/private/<dir>; /var/lib/<dir> is a symlink to it.
  privateStateDir = "/var/lib/private/${stateDirectory}";

  backupArgs = [
    (lib.getExe' cfg.package constants.mainProgram)
    "backup"
    "--base"
    cfg.dataDir
    "--to"
    b.target
    "--keep-daily"
    b.keepDaily
    "--keep-weekly"
    b.keepWeekly
  ];
in
{
  config = lib.mkIf (cfg.enable && b.enable) {
    assertions = checks.backup cfg;

    systemd.services.${constants.backupUnit} = {
      description = "Snapshot of the Anki sync server's data folder";
      documentation = [ "man:systemd.timer(5)" ];
      # A run caught up at boot (Persistent=) starts after the server.
      after = [ "${constants.serviceUnit}.service" ];
      unitConfig = {
        RequiresMountsFor = [ b.target ];
      }
      # Without the disk the run fails (before ExecStartPre creates anything).
      // lib.optionalAttrs (b.requireMount && b.mountPoint != null) {
        AssertPathIsMountPoint = b.mountPoint;
      };

      # the shared sandbox (../../lib/sandbox.nix) plus what this unit needs
      serviceConfig = sandbox // {
        Type = "oneshot";
        # `+`: as root without the unit's restrictions, so that the target exists
        # before ExecStart's namespace binds it writable (ReadWritePaths= below).
        ExecStartPre = "+${pkgs.coreutils}/bin/install -d -m 0700 ${exec.escape b.target}";
        ExecStart = exec.commandLine backupArgs;
        SyslogIdentifier = constants.backupUnit;
        Nice = 19;
        IOSchedulingClass = "idle";

        # ---- hardening (beyond the shared sandbox) ----------------------
        User = "root";
        # "-": systemd sets up the namespace for ExecStartPre too (seen with systemd
        # 252), when the target may not exist yet.
        ReadWritePaths = [
          "-${privateStateDir}"
          "-${b.target}"
        ];
        ProtectHome = "read-only";
        PrivateNetwork = true;
        CapabilityBoundingSet = [
          "CAP_CHOWN"
          "CAP_DAC_OVERRIDE"
          "CAP_DAC_READ_SEARCH"
          "CAP_FOWNER"
        ];
        RestrictAddressFamilies = [ "AF_UNIX" ];
        # @system-service minus the privileged groups, but keeping @chown:
        # SQLite chowns -wal/-shm files it creates to the database's owner.
        SystemCallFilter = [
          "@system-service"
          "~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap"
        ];
        # V8's JIT needs memory that is writable and executable.
        MemoryDenyWriteExecute = false;
      };
    };

    systemd.timers.${constants.backupUnit} = {
      description = "Nightly snapshot of the Anki sync server's data folder";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = b.onCalendar;
        Persistent = true;
      };
    };
  };
}
