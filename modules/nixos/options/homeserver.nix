# Options of `homeserver.ankiSync`: declarations only. The service lives in
# ../programs/anki-sync-server/default.nix, the nightly backup in
# ../programs/anki-sync-server/backup.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkEnableOption mkOption types literalExpression;
  constants = import ../../../nix/constants.nix;

  userModule = {
    options.passwordFile = mkOption {
      type = types.str;
      example = "/run/agenix/anki-sync-password";
      description = "Absolute path, outside the Nix store, of a file holding this user's password in plain text or as a PHC hash (argon2id or pbkdf2-sha256); passed to the service with LoadCredential.";
    };
  };
in
{
  options.homeserver.ankiSync = {
    enable = mkEnableOption "the Anki sync server (anki-sync-server-ts, compatible with Anki's own clients)";

    package = mkOption {
      type = types.package;
      default =
        let
          package = pkgs.${constants.packageAttr} or (pkgs.callPackage ../../../nix/package.nix { });
        in
        if config.homeserver.ankiSync.npmRegistry == null then
          package
        else
          package.override { inherit (config.homeserver.ankiSync) npmRegistry; };
      defaultText = lib.literalMD "`pkgs.${constants.packageAttr}` when this flake's overlay is applied, else this repository built with `pkgs.callPackage ./nix/package.nix { }`";
      description = "The anki-sync-server-ts package whose `anki-sync-server` command is run.";
    };

    npmRegistry = mkOption {
      type = types.nullOr (types.strMatching "https?://[^[:space:]]+");
      default = null;
      example = "https://npm.example.internal/";
      description = "Base URL of an npm registry mirror that the default package downloads its npm dependencies from; null uses npm's own default registry. Every tarball is still checked against package-lock.json's integrity hash, so the result is the same.";
    };

    address = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "100.101.102.103";
      description = "IP address to listen on; null means the machine's Tailscale IPv4 address, read when the service starts (requires tailscale.waitForAddress).";
    };

    port = mkOption {
      type = types.port;
      default = constants.defaultPort;
      description = "TCP port to listen on.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to open the port in the firewall, on the Tailscale interface (tailscale.interface) only.";
    };

    dataDir = mkOption {
      type = types.str;
      default = constants.defaultDataDir;
      example = "/var/lib/anki-sync";
      description = "Data folder (server database and one folder per user); a directory directly under /var/lib, managed by systemd as the unit's StateDirectory.";
    };

    users = mkOption {
      type = types.attrsOf (types.submodule userModule);
      default = { };
      example = literalExpression ''
        {
          alice.passwordFile = config.age.secrets.anki-sync-password.path;
        }
      '';
      description = "Sync accounts, by user name, each with a password file delivered outside the Nix store (for example by agenix).";
    };

    settings = mkOption {
      type = types.attrsOf (
        types.oneOf [
          types.str
          types.int
          types.bool
        ]
      );
      default = { };
      example = {
        MAX_SYNC_PAYLOAD_MEGS = 200;
      };
      description = "Extra environment variables for the server (booleans become 1 or 0); never put secrets here, they would land in the Nix store.";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "--max-payload-megs"
        "200"
      ];
      description = "Extra command-line arguments appended to `anki-sync-server serve`.";
    };

    adminPasswordFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/agenix/anki-sync-admin";
      description = "Absolute path, outside the Nix store, of a file holding the status page's password (plain or an argon2id hash); set, it turns on /admin (user `admin`). Passed with LoadCredential.";
    };

    auth.cognito = {
      enable = mkEnableOption "logins through an AWS Cognito user pool (off: only the users declared here and in the data folder can log in)";

      userPoolId = mkOption {
        type = types.str;
        default = "";
        example = "eu-west-1_AbCdEfGhI";
        description = "Id of the Cognito user pool.";
      };

      clientId = mkOption {
        type = types.str;
        default = "";
        example = "1example23456789";
        description = "Id of the Cognito app client the server logs in with.";
      };

      clientSecretFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/agenix/anki-sync-cognito-secret";
        description = "Absolute path, outside the Nix store, of a file holding the app client's secret (null when the app client has none); passed with LoadCredential.";
      };

      region = mkOption {
        type = types.str;
        default = "";
        example = "eu-west-1";
        description = "AWS region of the user pool.";
      };

      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://127.0.0.1:5000";
        description = "Cognito endpoint URL to use instead of AWS's (for an emulator or a VPC endpoint).";
      };

      userFolder = mkOption {
        type = types.enum [
          "username"
          "sub"
        ];
        default = "username";
        description = "Which Cognito identity names a user's data folder: the user name or the immutable `sub`.";
      };
    };

    tailscale = {
      waitForAddress = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the service waits, before starting, until Tailscale has an IPv4 address (and binds to it when address is null).";
      };

      timeout = mkOption {
        type = types.ints.positive;
        default = constants.tailscaleTimeoutSeconds;
        description = "Seconds to wait for the Tailscale address before the start fails (systemd then retries).";
      };

      package = mkOption {
        type = types.package;
        default = config.services.tailscale.package or pkgs.tailscale;
        defaultText = literalExpression "config.services.tailscale.package";
        description = "The package whose `tailscale` command is asked for the address.";
      };

      interface = mkOption {
        type = types.str;
        default = config.services.tailscale.interfaceName or constants.tailscaleInterface;
        defaultText = lib.literalMD "`config.services.tailscale.interfaceName` (`\"${constants.tailscaleInterface}\"`)";
        description = "Network interface of Tailscale, the only one openFirewall opens the port on. With `\"userspace-networking\"` Tailscale has no interface: its address is on none, so `address` must be set (tailscaled hands tailnet connections to 127.0.0.1) and the wait only waits for Tailscale to be up.";
      };
    };

    backup = {
      enable = mkEnableOption "a nightly snapshot of the data folder to backup.target (anki-sync-backup.service and .timer)";

      target = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/mnt/hdd/backups/anki";
        description = "Absolute path of the folder (typically on another disk) that receives one dated snapshot per run.";
      };

      onCalendar = mkOption {
        type = types.str;
        default = constants.backupOnCalendar;
        example = "daily";
        description = "When the backup runs, in systemd.time(7) calendar syntax; a run missed while the machine was off happens at the next boot.";
      };

      keepDaily = mkOption {
        type = types.ints.unsigned;
        default = constants.backupKeepDaily;
        description = "How many most recent daily snapshots to keep.";
      };

      mountPoint = mkOption {
        type = types.nullOr types.str;
        default =
          let
            mountPoints = lib.mapAttrsToList (name: fs: fs.mountPoint or name) (config.fileSystems or { });
            holding = lib.filter (
              m: m != "/" && (config.homeserver.ankiSync.backup.target or null) != null
                && lib.hasPrefix "${lib.removeSuffix "/" m}/" "${config.homeserver.ankiSync.backup.target}/"
            ) mountPoints;
          in
          if holding == [ ] then null else lib.last (lib.sort (a: b: lib.stringLength a < lib.stringLength b) holding);
        defaultText = lib.literalMD "the longest mount point in `fileSystems` (other than `/`) that holds `backup.target`, else null";
        example = "/mnt/hdd";
        description = "Mount point of the backup disk. The backup unit refuses to run (AssertPathIsMountPoint=) while nothing is mounted there, so snapshots never fill the disk underneath.";
      };

      requireMount = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the backup needs backup.mountPoint to be mounted; false allows a target on the system disk (no mount point).";
      };

      keepWeekly = mkOption {
        type = types.ints.unsigned;
        default = constants.backupKeepWeekly;
        description = "How many most recent weekly snapshots to keep, beyond the daily ones.";
      };
    };
  };
}
