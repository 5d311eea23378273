# A container image for hosts without NixOS, built with nixpkgs' dockerTools:
#   pkgs.callPackage ./nix/docker-image.nix { anki-sync-server-ts = <the package>; }
# (the flake's packages.<system>.docker-image; docs/container.md). Runs as an unprivileged user (65534), keeps everything in
# the /data volume, listens on 27701 and checks itself with our own
# `anki-sync-server healthcheck`. Users come from SYNC_USER1.. or password
# files mounted into the container (SYNC_USER_FILES), as documented.
{
  lib,
  dockerTools,
  anki-sync-server-ts,
  tag ? anki-sync-server-ts.version or "latest",
}:
let
  constants = import ./constants.nix;
  bin = lib.getExe' anki-sync-server-ts constants.mainProgram;
  port = toString constants.defaultPort;
  seconds = s: s * 1000000000; # the image config counts nanoseconds
  uid = "65534"; # "nobody" in fakeNss's /etc/passwd
in
dockerTools.buildLayeredImage {
  name = constants.packageAttr;
  inherit tag;
  contents = [
    anki-sync-server-ts
    dockerTools.fakeNss # /etc/passwd and /etc/group with nobody, for tools that look the user up
  ];
  # The volume's mount point, owned by the user the server runs as, so a fresh
  # named volume is writable; a bind mount must be owned by 65534 (or use --user).
  fakeRootCommands = ''
    mkdir -p ./data ./tmp
    chown ${uid}:${uid} ./data
    chmod 0700 ./data
    chmod 1777 ./tmp
  '';
  enableFakechroot = false;
  config = {
    User = "${uid}:${uid}";
    Entrypoint = [ bin ];
    Cmd = [ "serve" ];
    Env = [
      "SYNC_BASE=/data"
      "SYNC_HOST=0.0.0.0"
      "SYNC_PORT=${port}"
      "NODE_ENV=production"
    ];
    ExposedPorts."${port}/tcp" = { };
    Volumes."/data" = { };
    WorkingDir = "/data";
    # `healthcheck` reads SYNC_HOST (0.0.0.0 means this machine) and SYNC_PORT from the environment above.
    Healthcheck = {
      Test = [
        "CMD"
        bin
        "healthcheck"
      ];
      Interval = seconds 30;
      Timeout = seconds 10;
      StartPeriod = seconds 20;
      Retries = 3;
    };
    Labels = {
      "org.opencontainers.image.title" = constants.packageAttr;
      "org.opencontainers.image.description" = "Self-hosted Anki sync server, protocol-compatible with the official one";
      "org.opencontainers.image.licenses" = "AGPL-3.0-or-later";
    };
  };
}
