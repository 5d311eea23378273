# The assertions of homeserver.ankiSync: combinations of options that cannot
# work, reported at evaluation time with a message that says what to change.
# `service cfg` and `backup cfg` each return a list of { assertion; message; }.
{ lib }:
let
  storeDir = builtins.storeDir;
  prefix = "homeserver.ankiSync";

  isIPv4 =
    s:
    let
      m = builtins.match "([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})" s;
    in
    m != null && lib.all (octet: builtins.stringLength octet < 3 || octet <= "255") m;
  isIPv6 = s: builtins.match "[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*" s != null;
  isIP = s: isIPv4 s || isIPv6 s;

  # A path a secret may come from: absolute, no whitespace (LoadCredential and
  # the command line are whitespace separated), and never the world-readable store.
  isSecretPath =
    p:
    lib.hasPrefix "/" p
    && builtins.match ".*[[:space:]].*" p == null
    && !(lib.hasPrefix "${storeDir}/" p);

  isAbsoluteDir = p: builtins.match "/[^[:space:]]*" p != null && !(lib.hasInfix "/../" "${p}/");

  # Names that become folder names, credential ids and `NAME=PATH` arguments.
  isUserName = n: builtins.match "[A-Za-z0-9_][A-Za-z0-9._@+-]*" n != null && builtins.stringLength n <= 64;

  # Environment names the module sets itself or that would leak a password into the store.
  reservedSetting =
    n:
    builtins.match "SYNC_USER[0-9]+" n != null
    || builtins.elem n [
      "SYNC_HOST"
      "SYNC_PORT"
      "SYNC_BASE"
      "SYNC_USER_FILES"
      "CREDENTIALS_DIRECTORY"
    ]
    || lib.hasPrefix "COGNITO_" n;

  under = dir: p: p == dir || lib.hasPrefix "${lib.removeSuffix "/" dir}/" p;
in
{
  inherit isIP isUserName isSecretPath;

  service =
    cfg:
    let
      userNames = lib.attrNames cfg.users;
      badNames = lib.filter (n: !isUserName n) userNames;
      badFiles = lib.filter (n: !isSecretPath cfg.users.${n}.passwordFile) userNames;
      reserved = lib.filter reservedSetting (lib.attrNames cfg.settings);
      cognito = cfg.auth.cognito;
    in
    [
      {
        assertion = cfg.address != null || cfg.tailscale.waitForAddress;
        message = "${prefix}.address is null, which means \"the Tailscale address\", but ${prefix}.tailscale.waitForAddress is false: set an address or turn the wait on.";
      }
      {
        assertion = cfg.address != null || cfg.tailscale.interface != "userspace-networking";
        message = "${prefix}: Tailscale runs with userspace-networking, so its address is on no local interface and the server could never bind to it. Set ${prefix}.address = \"127.0.0.1\" (tailscaled passes tailnet connections to localhost) or another local address.";
      }
      {
        assertion = cfg.address == null || isIP cfg.address;
        message = "${prefix}.address must be an IP address (the server does not resolve host names), got \"${toString cfg.address}\".";
      }
      {
        assertion = cfg.port >= 1024;
        message = "${prefix}.port must be 1024 or above: the hardened service has no capability to bind privileged ports (got ${toString cfg.port}).";
      }
      {
        assertion = builtins.match "/var/lib/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*" cfg.dataDir != null && cfg.dataDir != "/var/lib/private";
        message = "${prefix}.dataDir must be a directory directly under /var/lib (it is the unit's StateDirectory, owned by its DynamicUser), got \"${cfg.dataDir}\".";
      }
      {
        assertion = badNames == [ ];
        message = "${prefix}.users: invalid user name(s) ${lib.concatStringsSep ", " badNames}; use letters, digits and . _ @ + - (not first: . @ + -), at most 64 characters.";
      }
      {
        assertion = badFiles == [ ];
        message = "${prefix}.users.<name>.passwordFile must be an absolute path outside the Nix store without spaces (for example config.age.secrets.<secret>.path); wrong for: ${lib.concatStringsSep ", " badFiles}.";
      }
      {
        assertion = reserved == [ ];
        message = "${prefix}.settings must not set ${lib.concatStringsSep ", " reserved}: passwords go in users.<name>.passwordFile (never in the Nix store), and address, port, dataDir and auth.cognito have their own options.";
      }
      {
        assertion = !cognito.enable || (cognito.userPoolId != "" && cognito.clientId != "" && cognito.region != "");
        message = "${prefix}.auth.cognito.enable needs userPoolId, clientId and region.";
      }
      {
        assertion = cognito.clientSecretFile == null || isSecretPath cognito.clientSecretFile;
        message = "${prefix}.auth.cognito.clientSecretFile must be an absolute path outside the Nix store without spaces, got \"${toString cognito.clientSecretFile}\".";
      }
      {
        assertion = cfg.adminPasswordFile == null || isSecretPath cfg.adminPasswordFile;
        message = "${prefix}.adminPasswordFile must be an absolute path outside the Nix store without spaces, got \"${toString cfg.adminPasswordFile}\".";
      }
    ];

  backup =
    cfg:
    let
      b = cfg.backup;
      target = if b.target == null then "" else b.target;
    in
    [
      {
        assertion = b.target != null;
        message = "${prefix}.backup.enable needs ${prefix}.backup.target (a folder on the backup disk, e.g. \"/mnt/hdd/backups/anki\").";
      }
      {
        assertion = b.target == null || (isAbsoluteDir target && !(lib.hasPrefix "${storeDir}/" target) && target != "/");
        message = "${prefix}.backup.target must be an absolute path without spaces or \"..\", not / and not in the Nix store, got \"${target}\".";
      }
      {
        assertion = b.target == null || !(under cfg.dataDir target || under target cfg.dataDir || under "/var/lib/private" target);
        message = "${prefix}.backup.target (\"${target}\") and ${prefix}.dataDir (\"${cfg.dataDir}\") must not contain one another: snapshots belong on another disk.";
      }
      {
        assertion = !b.requireMount || b.mountPoint != null;
        message = "${prefix}.backup.mountPoint is unknown (no fileSystems entry other than / holds \"${target}\"): set it to the backup disk's mount point, so a run without the disk fails instead of filling the system disk, or set ${prefix}.backup.requireMount = false.";
      }
      {
        assertion = !b.requireMount || b.mountPoint == null || b.target == null || under b.mountPoint target;
        message = "${prefix}.backup.mountPoint (\"${toString b.mountPoint}\") must hold backup.target (\"${target}\").";
      }
      {
        assertion = b.keepDaily + b.keepWeekly >= 1;
        message = "${prefix}.backup.keepDaily and keepWeekly are both 0: every snapshot would be deleted right after it is made.";
      }
      {
        assertion = b.onCalendar != "";
        message = "${prefix}.backup.onCalendar must not be empty (systemd.time(7) syntax, e.g. \"daily\" or \"*-*-* 03:30:00\").";
      }
    ];
}
