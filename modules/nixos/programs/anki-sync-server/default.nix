# anki-sync-server.service: the sync server, hardened, waiting for Tailscale.
# Options: ../../options/homeserver.nix. Nightly backup: ./backup.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.homeserver.ankiSync;
  constants = import ../../../../nix/constants.nix;
  checks = import ./checks.nix { inherit lib; };
  exec = import ../../lib/exec-args.nix { inherit lib; };
  sandbox = import ../../lib/sandbox.nix;
  tailscaleWait = import ../../lib/tailscale-wait.nix { inherit lib pkgs; };

  stateDirectory = lib.removePrefix "/var/lib/" cfg.dataDir;
  userNames = lib.attrNames cfg.users;

  # Credential ids under $CREDENTIALS_DIRECTORY; the server resolves the
  # relative path of `--user-file NAME=PATH` against that directory.
  userCredential = name: "user-${name}";
  cognitoSecretCredential = "cognito-client-secret";
  adminCredential = "admin-password";

  cognito = cfg.auth.cognito;
  # Environment of the Cognito backend (`--auth cognito`, issue 7). The names
  # are this module's proposal; keep them in step with src/ when it lands.
  cognitoEnvironment = lib.optionalAttrs cognito.enable (
    {
      COGNITO_USER_POOL_ID = cognito.userPoolId;
      COGNITO_CLIENT_ID = cognito.clientId;
      COGNITO_REGION = cognito.region;
      COGNITO_USER_FOLDER = cognito.userFolder;
    }
    // lib.optionalAttrs (cognito.clientSecretFile != null) {
      COGNITO_CLIENT_SECRET_FILE = cognitoSecretCredential;
    }
    // lib.optionalAttrs (cognito.endpoint != null) {
      COGNITO_ENDPOINT = cognito.endpoint;
    }
  );

  settingValue =
    v:
    if builtins.isBool v then
      (if v then "1" else "0")
    else
      toString v;

  # With address = null the server binds to what the Tailscale wait wrote
  # into constants.addressEnvFile (read by systemd through EnvironmentFile=).
  hostArgs =
    if cfg.address == null then
      [
        "--host"
        (exec.raw "\${${constants.addressVariable}}")
      ]
    else
      [
        "--host"
        cfg.address
      ];

  serveArgs = [
    (lib.getExe' cfg.package constants.mainProgram)
    "serve"
  ]
  ++ hostArgs
  ++ [
    "--port"
    cfg.port
    "--base"
    cfg.dataDir
  ]
  ++ lib.concatMap (name: [
    "--user-file"
    "${name}=${userCredential name}"
  ]) userNames
  ++ lib.optionals cognito.enable [
    "--auth"
    "cognito"
  ]
  ++ lib.optionals (cfg.adminPasswordFile != null) [
    "--admin-password-file"
    adminCredential
  ]
  ++ cfg.extraArgs;

  # In userspace-networking mode the Tailscale address is on no interface:
  # wait until Tailscale is up, not until the address is local.
  userspace = cfg.tailscale.interface == "userspace-networking";

  waitCommand = tailscaleWait {
    tailscale = cfg.tailscale.package;
    inherit (cfg.tailscale) timeout;
    envFile = if cfg.address == null then constants.addressEnvFile else null;
    variable = constants.addressVariable;
    requireLocal = !userspace;
  };
in
{
  config = lib.mkIf cfg.enable {
    assertions = checks.service cfg;

    warnings =
      lib.optional (userNames == [ ] && !cognito.enable)
        "homeserver.ankiSync: no users are declared and auth.cognito is off; only users added to the data folder with `anki-sync-server user add` can log in."
      ++
        lib.optional (cfg.tailscale.waitForAddress && !(config.services.tailscale.enable or false))
          "homeserver.ankiSync.tailscale.waitForAddress is on but services.tailscale.enable is not: the service will wait ${toString cfg.tailscale.timeout}s for an address at every start and fail.";

    environment.systemPackages = [ cfg.package ];

    networking.firewall = lib.mkIf (cfg.openFirewall && !userspace) {
      interfaces.${cfg.tailscale.interface}.allowedTCPPorts = [ cfg.port ];
    };

    systemd.services.${constants.serviceUnit} = {
      description = "Anki sync server";
      documentation = [ "https://docs.ankiweb.net/sync-server.html" ];
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      # tailscaled-autoconnect.service (services.tailscale.authKeyFile) logs the node in;
      # After= on a unit that does not exist is a no-op, so no condition is needed.
      after = [
        "network-online.target"
      ]
      ++ lib.optionals cfg.tailscale.waitForAddress [
        "tailscaled.service"
        "tailscaled-autoconnect.service"
      ];

      environment = {
        NODE_ENV = "production";
      }
      // cognitoEnvironment
      // lib.mapAttrs (_: settingValue) cfg.settings;

      # the shared sandbox (../../lib/sandbox.nix) plus what this unit needs
      serviceConfig = sandbox // {
        Type = "simple";
        # `+`: runs as root outside the sandbox (the DynamicUser cannot reach
        # tailscaled's socket); fails after tailscale.timeout seconds.
        ExecStartPre = lib.mkIf cfg.tailscale.waitForAddress "+${waitCommand}";
        EnvironmentFile = lib.mkIf (cfg.address == null) "-${constants.addressEnvFile}";
        ExecStart = exec.commandLine serveArgs;
        LoadCredential =
          map (name: "${userCredential name}:${cfg.users.${name}.passwordFile}") userNames
          ++ lib.optional (
            cognito.enable && cognito.clientSecretFile != null
          ) "${cognitoSecretCredential}:${cognito.clientSecretFile}"
          ++ lib.optional (cfg.adminPasswordFile != null) "${adminCredential}:${cfg.adminPasswordFile}";
        Restart = "on-failure";
        RestartSec = "5s";
        TimeoutStartSec =
          if cfg.tailscale.waitForAddress then toString (cfg.tailscale.timeout + 30) else "90";
        TimeoutStopSec = "30";
        SyslogIdentifier = constants.serviceUnit;

        # ---- hardening (beyond the shared sandbox) ----------------------
        DynamicUser = true;
        StateDirectory = stateDirectory;
        StateDirectoryMode = "0700";
        RuntimeDirectory = constants.runtimeDir;
        RuntimeDirectoryMode = "0700";
        ProtectHome = true;
        PrivateUsers = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RemoveIPC = true;
        SystemCallFilter = [
          "@system-service"
          "~@privileged @resources"
        ];
        # Node raises its soft open-files limit itself, which ~@resources now
        # refuses; give it the room here (sockets, databases, media files).
        LimitNOFILE = 16384;
        # Only the process's own /proc entries (Node reads nothing else there).
        ProcSubset = "pid";
        # V8's JIT needs memory that is writable and executable.
        MemoryDenyWriteExecute = false;
      };
    };
  };
}
