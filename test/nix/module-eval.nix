# Evaluates the homeserver.ankiSync module with nixpkgs' real lib.evalModules,
# against ./stub-options.nix (systemd, networking, users, age, ...) and
# ./stub-pkgs.nix, and checks the generated units for several configurations.
#
#   nix-instantiate --eval --strict --json test/nix/module-eval.nix --argstr nixpkgsLib /path/to/nixpkgs.lib
#
# `nixpkgsLib` is a checkout of nixpkgs' lib: either a nixpkgs (or
# nix-community/nixpkgs.lib) tree containing lib/, or the lib/ folder itself.
# The result is a list of { name; ok; detail; } (run.sh prints and counts them).
{ nixpkgsLib }:
let
  libPath = if builtins.pathExists (/. + nixpkgsLib + "/lib/default.nix") then /. + nixpkgsLib + "/lib" else /. + nixpkgsLib;
  lib = import libPath;
  pkgs = import ./stub-pkgs.nix { inherit lib; };
  constants = import ../../nix/constants.nix;
  checks = import ../../modules/nixos/programs/anki-sync-server/checks.nix { inherit lib; };
  tailscaleWait = import ../../modules/nixos/lib/tailscale-wait.nix { inherit lib pkgs; };

  eval =
    settings:
    (lib.evalModules {
      modules = [
        ./stub-options.nix
        ./stub-agenix.nix
        ../../modules/nixos
        { _module.args.pkgs = pkgs; }
        settings
      ];
    }).config;

  # lib.hasInfix, for strings that may carry store path context (Nix 2.8 refuses those in regexes)
  has = needle: hay: lib.hasInfix (builtins.unsafeDiscardStringContext needle) (builtins.unsafeDiscardStringContext hay);

  failedAssertions = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  # Whether evaluating `value` deeply throws (option type errors are throws).
  throws = value: !(builtins.tryEval (builtins.deepSeq value true)).success;

  # The default package: this repository built by nix/package.nix (nothing preset by the stubs).
  defaultPackage = defaults.homeserver.ankiSync.package;
  bin = "${defaultPackage}/bin/anki-sync-server";
  secret = "/run/agenix/anki-sync-password";

  base = {
    homeserver.ankiSync = {
      enable = true;
      users.alice.passwordFile = secret;
    };
  };
  with' = extra: lib.recursiveUpdate base { homeserver.ankiSync = extra; };

  # ---- the configurations -------------------------------------------------
  defaults = eval base;
  unit = defaults.systemd.services.anki-sync-server;
  sc = unit.serviceConfig;

  explicit = eval (with' {
    address = "100.64.0.7";
    port = 28000;
    tailscale.waitForAddress = false;
    users.bob.passwordFile = "/run/agenix/bob";
    settings = {
      MAX_SYNC_PAYLOAD_MEGS = 200;
      SOME_FLAG = true;
    };
    extraArgs = [
      "--max-payload-megs"
      "200"
    ];
  });
  explicitSc = explicit.systemd.services.anki-sync-server.serviceConfig;

  explicitWithWait = eval (with' { address = "100.64.0.7"; });

  firewall = eval (with' { openFirewall = true; });

  hdd = {
    fileSystems."/mnt/hdd" = {
      device = "/dev/disk/by-label/hdd";
      fsType = "ext4";
    };
  };
  withBackup = eval (lib.recursiveUpdate (with' {
    backup = {
      enable = true;
      target = "/mnt/hdd/backups/anki";
    };
  }) hdd);
  backupUnit = withBackup.systemd.services.anki-sync-backup;
  backupTimer = withBackup.systemd.timers.anki-sync-backup;

  withCognito = eval {
    homeserver.ankiSync = {
      enable = true;
      auth.cognito = {
        enable = true;
        userPoolId = "eu-west-1_Example";
        clientId = "client123";
        region = "eu-west-1";
        clientSecretFile = "/run/agenix/cognito";
      };
    };
  };
  cognitoUnit = withCognito.systemd.services.anki-sync-server;

  withAgenix = eval (
    { config, ... }:
    {
      age.secrets.anki-sync-password.file = ./stub-options.nix; # any path: never read here
      homeserver.ankiSync = {
        enable = true;
        users.alice.passwordFile = config.age.secrets.anki-sync-password.path;
      };
    }
  );

  disabled = eval { homeserver.ankiSync.users.alice.passwordFile = secret; };

  tailscaleUp = eval {
    homeserver.ankiSync.enable = true;
    services.tailscale.enable = true;
  };

  # Assertion `needle` fires for configuration `extra` (merged over base).
  fires =
    name: extra: needle:
    let
      msgs = failedAssertions (eval (with' extra));
    in
    {
      name = "assertion: ${name}";
      ok = lib.any (m: has needle m) msgs;
      detail = "expected a failed assertion containing \"${needle}\", got ${builtins.toJSON msgs}";
    };

  check = name: ok: detail: { inherit name ok detail; };
  eq =
    name: actual: expected:
    check name (actual == expected) "expected ${builtins.toJSON expected}, got ${builtins.toJSON actual}";

  hardening = {
    DynamicUser = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RemoveIPC = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged @resources"
    ];
    LimitNOFILE = 16384;
    ProcSubset = "pid";
    MemoryDenyWriteExecute = false;
    UMask = "0077";
  };
  expectedWait = tailscaleWait {
    tailscale = pkgs.tailscale;
    timeout = 120;
    envFile = "/run/anki-sync-server/address.env";
  };
in
[
  # ---- defaults -------------------------------------------------------------
  (eq "defaults: no failed assertion" (failedAssertions defaults) [ ])
  (eq "defaults: ExecStart binds the Tailscale address from the environment file" sc.ExecStart
    "${bin} serve --host \${SYNC_HOST} --port 27701 --base /var/lib/anki-sync-server --user-file alice=user-alice --metrics-allow 127.0.0.0/8 --metrics-allow ::1"
  )
  (eq "defaults: EnvironmentFile is the address file (optional)" sc.EnvironmentFile
    "-/run/anki-sync-server/address.env"
  )
  (eq "defaults: ExecStartPre is the +prefixed Tailscale wait" sc.ExecStartPre "+${expectedWait}")
  (check "defaults: the wait has a timeout, writes SYNC_HOST and checks the address is local" (
    has "--timeout 120 --env-file /run/anki-sync-server/address.env --variable SYNC_HOST --require-local" sc.ExecStartPre
  ) sc.ExecStartPre)
  (
    let
      # the wrapper's text instead of its store path
      cmd = import ../../modules/nixos/lib/tailscale-wait.nix {
        inherit lib;
        pkgs = pkgs // { writeShellScript = _: text: text; };
      } { tailscale = pkgs.tailscale; timeout = 1; };
    in
    check "defaults: the wait script runs tailscale-wait.sh with tailscale, coreutils and iproute2 on PATH" (
      has "/bin/bash /nix/store/" cmd
      && has "-tailscale-wait.sh \"$@\"" cmd
      && has "${pkgs.tailscale}/bin" cmd
      && has "${pkgs.iproute2}/bin" cmd
      && has "${pkgs.coreutils}/bin" cmd
    ) cmd
  )
  (eq "defaults: TimeoutStartSec leaves room for the wait" sc.TimeoutStartSec "150")
  (eq "defaults: one LoadCredential per password file" sc.LoadCredential [ "user-alice:${secret}" ])
  (eq "defaults: StateDirectory" sc.StateDirectory "anki-sync-server")
  (eq "defaults: RuntimeDirectory holds the address file" sc.RuntimeDirectory "anki-sync-server")
  (check "defaults: hardening block" (lib.all (k: (sc.${k} or null) == hardening.${k}) (lib.attrNames hardening)) (
    builtins.toJSON (lib.filterAttrs (k: v: (sc.${k} or null) != v) hardening)
  ))
  (eq "defaults: restarts on failure" [ sc.Restart sc.RestartSec ] [ "on-failure" "5s" ])
  (eq "defaults: ordered after the network, tailscaled and its autoconnect unit" unit.after [ "network-online.target" "tailscaled.service" "tailscaled-autoconnect.service" ])
  (eq "defaults: wants network-online" unit.wants [ "network-online.target" ])
  (eq "defaults: started at boot" unit.wantedBy [ "multi-user.target" ])
  (eq "defaults: environment" unit.environment { NODE_ENV = "production"; })
  (check "defaults: no secret in the environment or the command line" (
    !(has "password" (builtins.toJSON unit.environment)) && !(has secret sc.ExecStart)
  ) "")
  (eq "defaults: firewall closed" [ defaults.networking.firewall.allowedTCPPorts defaults.networking.firewall.interfaces ] [ [ ] { } ])
  (eq "defaults: no backup unit or timer" [
    (defaults.systemd.services ? anki-sync-backup)
    (defaults.systemd.timers ? anki-sync-backup)
  ] [ false false ])
  (eq "defaults: no static user (DynamicUser)" [ defaults.users.users defaults.users.groups ] [ { } { } ])
  (eq "defaults: the CLI is installed for operators" defaults.environment.systemPackages [ defaultPackage ])
  (check "defaults: the package is this repository built by nix/package.nix with importNpmLock's hook" (
    defaultPackage.name == "anki-sync-server-ts-0.1.0"
    && defaultPackage.stubArgs.npmConfigHook == pkgs.importNpmLock.npmConfigHook
    && defaultPackage ? npmDeps
  ) defaultPackage.name)
  (check "defaults: warns that services.tailscale is off" (lib.any (w: has "services.tailscale.enable" w) defaults.warnings) (builtins.toJSON defaults.warnings))
  (eq "services.tailscale on: no warning" tailscaleUp.warnings [ "homeserver.ankiSync: no users are declared and auth.cognito is off; only users added to the data folder with `anki-sync-server user add` can log in." ])

  # ---- explicit address, no wait -------------------------------------------
  (eq "explicit: no failed assertion" (failedAssertions explicit) [ ])
  (eq "explicit: ExecStart" explicitSc.ExecStart
    "${bin} serve --host 100.64.0.7 --port 28000 --base /var/lib/anki-sync-server --user-file alice=user-alice --user-file bob=user-bob --metrics-allow 127.0.0.0/8 --metrics-allow ::1 --metrics-allow 100.64.0.7 --max-payload-megs 200"
  )
  (eq "explicit: no ExecStartPre, no EnvironmentFile without the wait" [ (explicitSc ? ExecStartPre) (explicitSc ? EnvironmentFile) ] [ false false ])
  (eq "explicit: TimeoutStartSec back to normal" explicitSc.TimeoutStartSec "90")
  (eq "explicit: LoadCredential for both users" explicitSc.LoadCredential [ "user-alice:${secret}" "user-bob:/run/agenix/bob" ])
  (eq "explicit: settings become environment (bool -> 1)" explicit.systemd.services.anki-sync-server.environment {
    NODE_ENV = "production";
    MAX_SYNC_PAYLOAD_MEGS = "200";
    SOME_FLAG = "1";
  })
  (eq "explicit: not ordered after tailscaled" explicit.systemd.services.anki-sync-server.after [ "network-online.target" ])
  (check "explicit address + wait: waits but writes no address file" (
    let
      s = explicitWithWait.systemd.services.anki-sync-server.serviceConfig;
    in
    lib.hasPrefix "+" s.ExecStartPre && !(has "--env-file" s.ExecStartPre) && !(s ? EnvironmentFile) && has "--host 100.64.0.7 " s.ExecStart
  ) "")

  # ---- firewall --------------------------------------------------------------
  (eq "openFirewall: only on tailscale0" [
    firewall.networking.firewall.interfaces
    firewall.networking.firewall.allowedTCPPorts
  ] [ { tailscale0 = { allowedTCPPorts = [ 27701 ]; allowedUDPPorts = [ ]; }; } [ ] ])

  # ---- backup ----------------------------------------------------------------
  (eq "backup: no failed assertion" (failedAssertions withBackup) [ ])
  (eq "backup: ExecStart" backupUnit.serviceConfig.ExecStart
    "${bin} backup --base /var/lib/anki-sync-server --to /mnt/hdd/backups/anki --keep-daily 7 --keep-weekly 4"
  )
  (eq "backup: creates the target first, as root (+)" backupUnit.serviceConfig.ExecStartPre "+${pkgs.coreutils}/bin/install -d -m 0700 /mnt/hdd/backups/anki")
  (eq "backup: oneshot" backupUnit.serviceConfig.Type "oneshot")
  (eq "backup: writes only the data folder and the target" backupUnit.serviceConfig.ReadWritePaths [ "-/var/lib/private/anki-sync-server" "-/mnt/hdd/backups/anki" ])
  (eq "backup: sandbox" [
    backupUnit.serviceConfig.ProtectSystem
    backupUnit.serviceConfig.PrivateNetwork
    backupUnit.serviceConfig.NoNewPrivileges
    backupUnit.serviceConfig.RestrictAddressFamilies
  ] [ "strict" true true [ "AF_UNIX" ] ])
  (eq "backup: waits for the target's mount and fails without it" backupUnit.unitConfig {
    RequiresMountsFor = [ "/mnt/hdd/backups/anki" ];
    AssertPathIsMountPoint = "/mnt/hdd";
  })
  (eq "backup: the mount point is the longest fileSystems entry holding the target" (
    (eval (lib.recursiveUpdate (with' { backup = { enable = true; target = "/mnt/hdd/b"; }; }) (lib.recursiveUpdate hdd {
      fileSystems."/mnt" = { device = "x"; fsType = "ext4"; };
      fileSystems."/mnt/hd" = { device = "y"; fsType = "ext4"; };
    }))).homeserver.ankiSync.backup.mountPoint
  ) "/mnt/hdd")
  (check "backup: requireMount = false relaxes it (no assertion, no AssertPathIsMountPoint)" (
    let
      c = eval (with' { backup = { enable = true; target = "/srv/b"; requireMount = false; }; });
    in
    failedAssertions c == [ ] && !(c.systemd.services.anki-sync-backup.unitConfig ? AssertPathIsMountPoint)
  ) "")
  (eq "backup: timer nightly and persistent" backupTimer.timerConfig {
    OnCalendar = "*-*-* 03:30:00";
    Persistent = true;
  })
  (eq "backup: timer enabled" backupTimer.wantedBy [ "timers.target" ])
  (eq "backup: retention options reach the command" (
    (eval (with' {
      backup = {
        enable = true;
        target = "/srv/b";
        keepDaily = 3;
        keepWeekly = 0;
        onCalendar = "daily";
      };
    })).systemd.services.anki-sync-backup.serviceConfig.ExecStart
  ) "${bin} backup --base /var/lib/anki-sync-server --to /srv/b --keep-daily 3 --keep-weekly 0")

  # ---- cognito ---------------------------------------------------------------
  (eq "cognito: no failed assertion without users" (failedAssertions withCognito) [ ])
  (eq "cognito: ExecStart" cognitoUnit.serviceConfig.ExecStart
    "${bin} serve --host \${SYNC_HOST} --port 27701 --base /var/lib/anki-sync-server --auth cognito --metrics-allow 127.0.0.0/8 --metrics-allow ::1"
  )
  (eq "cognito: the client secret is a credential" cognitoUnit.serviceConfig.LoadCredential [ "cognito-client-secret:/run/agenix/cognito" ])
  (eq "cognito: environment" cognitoUnit.environment {
    NODE_ENV = "production";
    COGNITO_USER_POOL_ID = "eu-west-1_Example";
    COGNITO_CLIENT_ID = "client123";
    COGNITO_REGION = "eu-west-1";
    COGNITO_USER_FOLDER = "username";
    COGNITO_CLIENT_SECRET_FILE = "cognito-client-secret";
  })

  # ---- agenix ----------------------------------------------------------------
  (eq "agenix: the secret's path becomes the credential" withAgenix.systemd.services.anki-sync-server.serviceConfig.LoadCredential [ "user-alice:/run/agenix/anki-sync-password" ])

  # ---- disabled ----------------------------------------------------------------
  (eq "disabled: nothing generated" [
    disabled.systemd.services
    disabled.systemd.timers
    disabled.assertions
    disabled.networking.firewall.interfaces
    disabled.environment.systemPackages
  ] [ { } { } [ ] { } [ ] ])

  # ---- impossible combinations -------------------------------------------------
  (fires "no address and no Tailscale wait" { tailscale.waitForAddress = false; } "turn the wait on")
  (fires "address is a host name" { address = "sync.example.org"; } "must be an IP address")
  (fires "address octet above 255" { address = "100.64.0.256"; } "must be an IP address")
  (fires "privileged port" { port = 443; } "1024 or above")
  (fires "dataDir outside /var/lib" { dataDir = "/srv/anki"; } "directly under /var/lib")
  (fires "dataDir nested" { dataDir = "/var/lib/a/b"; } "directly under /var/lib")
  (fires "user name with a slash" { users."../evil".passwordFile = secret; } "invalid user name")
  (fires "user name with a space" { users."a b".passwordFile = secret; } "invalid user name")
  (fires "password file in the Nix store" { users.alice.passwordFile = "${builtins.storeDir}/abc-password"; } "outside the Nix store")
  (fires "relative password file" { users.alice.passwordFile = "secrets/pw"; } "absolute path")
  (fires "password in settings" { settings.SYNC_USER1 = "alice:hunter2"; } "must not set SYNC_USER1")
  (fires "SYNC_PORT in settings" { settings.SYNC_PORT = 1; } "must not set SYNC_PORT")
  (fires "cognito without pool" { auth.cognito.enable = true; } "needs userPoolId, clientId and region")
  (fires "cognito secret in the store" {
    auth.cognito = {
      enable = true;
      userPoolId = "p";
      clientId = "c";
      region = "r";
      clientSecretFile = "${builtins.storeDir}/x-secret";
    };
  } "clientSecretFile must be an absolute path outside the Nix store")
  (fires "backup without target" { backup.enable = true; } "needs homeserver.ankiSync.backup.target")
  (fires "backup target relative" {
    backup = {
      enable = true;
      target = "backups";
    };
  } "must be an absolute path")
  (fires "backup target inside the data folder" {
    backup = {
      enable = true;
      target = "/var/lib/anki-sync-server/snapshots";
    };
  } "must not contain one another")
  (fires "backup target contains the data folder" {
    backup = {
      enable = true;
      target = "/var/lib";
    };
  } "must not contain one another")
  (fires "backup target on no known mount" {
    backup = {
      enable = true;
      target = "/srv/backups";
    };
  } "backup.mountPoint is unknown")
  (fires "backup mountPoint not holding the target" {
    backup = {
      enable = true;
      target = "/srv/backups";
      mountPoint = "/mnt/hdd";
    };
  } "must hold backup.target")
  (fires "userspace-networking without an address" { tailscale.interface = "userspace-networking"; } "userspace-networking")
  (check "userspace-networking with address 127.0.0.1: waits for Tailscale without --require-local, no firewall rule" (
    let
      c = eval (with' {
        address = "127.0.0.1";
        openFirewall = true;
        tailscale.interface = "userspace-networking";
      });
      s = c.systemd.services.anki-sync-server.serviceConfig;
    in
    failedAssertions c == [ ] && lib.hasPrefix "+" s.ExecStartPre && !(has "--require-local" s.ExecStartPre)
    && c.networking.firewall.interfaces == { }
  ) "")
  (fires "backup keeps nothing" {
    backup = {
      enable = true;
      target = "/mnt/hdd/b";
      keepDaily = 0;
      keepWeekly = 0;
    };
  } "both 0")

  # ---- type errors (as on NixOS) ---------------------------------------------
  (check "type: port out of range is refused" (throws (eval (with' { port = 70000; })).homeserver.ankiSync.port) "")
  (check "type: a Nix path as password file is refused (it would be copied to the store)" (
    throws (eval (with' { users.alice.passwordFile = ./stub-options.nix; })).homeserver.ankiSync.users
  ) "")
  (check "type: negative retention is refused" (throws (eval (with' { backup.keepDaily = -1; })).homeserver.ankiSync.backup.keepDaily) "")
  (check "type: unknown option is refused" (throws (eval (with' { adress = "1.2.3.4"; })).homeserver.ankiSync) "")
  (check "type: cognito userFolder is an enum" (throws (eval (with' { auth.cognito.userFolder = "email"; })).homeserver.ankiSync.auth.cognito.userFolder) "")

  # ---- the package (nix/package.nix, nix/npm-deps.nix) -------------------------
  (
    let
      lock = lib.importJSON ../../package-lock.json;
      deps = lib.filterAttrs (path: _: path != "") lock.packages;
    in
    check "package: package-lock.json records no download URL (no registry host)" (
      lib.all (e: !(e ? resolved)) (lib.attrValues deps)
    ) (toString (lib.attrNames (lib.filterAttrs (_: e: e ? resolved) deps)))
  )
  (
    let
      npmDeps = defaultPackage.npmDeps;
      lock = lib.importJSON ../../package-lock.json;
      all = lib.attrNames (lib.filterAttrs (path: _: path != "") lock.packages);
      fetched = lib.attrNames npmDeps.tarballs;
    in
    check "package: every lock entry is either fetched by its integrity or skipped for this platform" (
      lib.sort lib.lessThan (fetched ++ npmDeps.skipped) == lib.sort lib.lessThan all
      && lib.all (p: npmDeps.tarballs.${p}.outputHash == lock.packages.${p}.integrity) fetched
      && lib.all (p: npmDeps.tarballs.${p}.outputHashMode == "flat") fetched
    ) "${toString (lib.length fetched)} fetched, ${toString (lib.length npmDeps.skipped)} skipped of ${toString (lib.length all)}"
  )
  (
    let
      onX86 = lib.attrNames defaultPackage.npmDeps.tarballs;
      arm = (import ./stub-pkgs.nix { inherit lib; system = "aarch64-linux"; }).callPackage ../../nix/package.nix { };
      onArm = lib.attrNames arm.npmDeps.tarballs;
      hasAll = list: names: lib.all (n: builtins.elem "node_modules/${n}" list) names;
      hasNone = list: names: !(lib.any (n: builtins.elem "node_modules/${n}" list) names);
    in
    check "package: only the target platform's binaries are fetched (x86_64-linux: ${toString (lib.length onX86)} tarballs, aarch64-linux: ${toString (lib.length onArm)})" (
      hasAll onX86 [ "@esbuild/linux-x64" "@bufbuild/buf-linux-x64" "@napi-rs/lzma-linux-x64-gnu" ]
      && hasNone onX86 [ "@esbuild/darwin-arm64" "@esbuild/linux-arm64" "@bufbuild/buf-darwin-arm64" "@rollup/rollup-win32-x64-msvc" "@rollup/rollup-linux-x64-musl" ]
      && hasAll onArm [ "@esbuild/linux-arm64" "@bufbuild/buf-linux-aarch64" ]
      && hasNone onArm [ "@esbuild/linux-x64" "@bufbuild/buf-linux-x64" "@napi-rs/lzma-linux-x64-gnu" ]
      && hasAll onX86 [ "better-sqlite3" "argon2" "zstd-napi" "typescript" ]
    ) (builtins.toJSON (lib.filter (n: lib.hasInfix "esbuild/" n || lib.hasInfix "buf-" n) onX86))
  )
  (
    let
      mirrored = pkgs.callPackage ../../nix/package.nix { npmRegistry = "https://npm.mirror.invalid/"; };
      t = defaultPackage.npmDeps.tarballs."node_modules/better-sqlite3";
      m = mirrored.npmDeps.tarballs."node_modules/better-sqlite3";
      viaOption = (eval (with' { npmRegistry = "https://npm.mirror.invalid/"; })).homeserver.ankiSync.package;
    in
    check "package: npmRegistry (and the module's npmRegistry option) switch the download to a mirror, same store paths" (
      t.npmRegistry == "" && m.npmRegistry == "https://npm.mirror.invalid/"
      && t.drvPath != m.drvPath && t.outPath == m.outPath
      && viaOption.npmDeps.tarballs."node_modules/better-sqlite3".npmRegistry == "https://npm.mirror.invalid/"
    ) "${t.npmRegistry} / ${m.npmRegistry}"
  )
  (check "type: npmRegistry must be an http(s) URL" (throws (eval (with' { npmRegistry = "npm.example"; })).homeserver.ankiSync.npmRegistry) "")
  (eq "package: npmRebuildFlags and npmPackFlags are strings (they survive __structuredAttrs)" [
    defaultPackage.stubArgs.npmRebuildFlags
    defaultPackage.stubArgs.npmPackFlags
  ] [ "better-sqlite3 zstd-napi argon2" "--ignore-scripts" ])

  # ---- helpers ------------------------------------------------------------------
  (eq "checks.isIP" (map checks.isIP [ "100.64.0.1" "0.0.0.0" "::" "fd7a:115c:a1e0::1" "1.2.3" "256.1.1.1" "example.org" ]) [ true true true true false false false ])
  (eq "constants: default port" constants.defaultPort 27701)
]
