# Evaluates the operator-side Nix parts of issue 19 with nixpkgs' real lib:
# the homeserver.ankiSync.metrics options (../../modules/nixos/programs/anki-sync-server/metrics.nix)
# and the container image (../../nix/docker-image.nix, against a dockerTools
# stand-in that returns its arguments, so the image's config can be checked
# without building it).
#
#   nix-instantiate --eval --strict --json test/nix/ops-eval.nix --argstr nixpkgsLib /path/to/nixpkgs.lib
#
# The result is a list of { name; ok; detail; } like module-eval.nix.
{ nixpkgsLib }:
let
  libPath = if builtins.pathExists (/. + nixpkgsLib + "/lib/default.nix") then /. + nixpkgsLib + "/lib" else /. + nixpkgsLib;
  lib = import libPath;
  pkgs = import ./stub-pkgs.nix { inherit lib; };

  eval =
    settings:
    (lib.evalModules {
      modules = [
        ./stub-options.nix
        ../../modules/nixos
        { _module.args.pkgs = pkgs; }
        settings
      ];
    }).config;

  base = {
    homeserver.ankiSync = {
      enable = true;
      users.alice.passwordFile = "/run/agenix/anki";
    };
  };
  with' = extra: lib.recursiveUpdate base extra;
  execStart = config: toString config.systemd.services.anki-sync-server.serviceConfig.ExecStart;
  has = needle: hay: lib.hasInfix needle (builtins.unsafeDiscardStringContext hay);
  throws = value: !(builtins.tryEval (builtins.deepSeq value true)).success;

  defaults = eval base;
  withPrometheus = eval (with' {
    services.prometheus.enable = true;
    homeserver.ankiSync.address = "100.64.0.7";
    homeserver.ankiSync.tailscale.waitForAddress = false;
    homeserver.ankiSync.metrics.userSizes = true;
  });
  open = eval (with' { homeserver.ankiSync.metrics.allowFrom = null; });
  listed = eval (with' { homeserver.ankiSync.metrics.allowFrom = [ "10.0.0.0/8" ]; });
  admin = eval (with' { homeserver.ankiSync.adminPasswordFile = "/run/agenix/anki-admin"; });
  adminUnit = admin.systemd.services.anki-sync-server;
  failedAssertions = c: map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);

  image = import ../../nix/docker-image.nix {
    inherit lib;
    # the package the module builds (callPackage ./nix/package.nix against the stub pkgs)
    anki-sync-server-ts = defaults.homeserver.ankiSync.package;
    dockerTools = {
      buildLayeredImage = args: args;
      fakeNss = "fakeNss";
    };
  };

  check = name: ok: detail: { inherit name ok detail; };
in
[
  (check "metrics: /metrics is loopback-only by default" (
    has "--metrics-allow 127.0.0.0/8" (execStart defaults) && has "--metrics-allow ::1" (execStart defaults)
  ) (execStart defaults))
  (check "metrics: no per-user sizes and no scrape job by default" (
    !(has "--metrics-user-sizes" (execStart defaults)) && defaults.services.prometheus.scrapeConfigs == [ ]
  ) (execStart defaults))
  (check "metrics: the server's own address may scrape it, per-user sizes on request" (
    has "--metrics-allow 100.64.0.7" (execStart withPrometheus) && has "--metrics-user-sizes" (execStart withPrometheus)
  ) (execStart withPrometheus))
  (check "metrics: with services.prometheus on, a scrape job for address:port" (
    withPrometheus.services.prometheus.scrapeConfigs == [
      {
        job_name = "anki-sync-server";
        scrape_interval = "30s";
        metrics_path = "/metrics";
        static_configs = [ { targets = [ "100.64.0.7:27701" ]; } ];
      }
    ]
  ) (builtins.toJSON withPrometheus.services.prometheus.scrapeConfigs))
  (check "metrics: allowFrom = null opens /metrics, a list replaces the default" (
    !(has "--metrics-allow" (execStart open)) && has "--metrics-allow 10.0.0.0/8" (execStart listed) && !(has "127.0.0.0/8" (execStart listed))
  ) "${execStart open} | ${execStart listed}")
  (check "metrics: an empty allowFrom list is refused (it would open /metrics to everyone)" (
    throws (execStart (eval (with' { homeserver.ankiSync.metrics.allowFrom = [ ]; })))
  ) "")
  (check "admin: no status page unless adminPasswordFile is set" (
    !(has "--admin-password-file" (execStart defaults))
  ) (execStart defaults))
  (check "admin: the password file reaches the server only through LoadCredential" (
    has "--admin-password-file admin-password" (execStart admin)
    && builtins.elem "admin-password:/run/agenix/anki-admin" adminUnit.serviceConfig.LoadCredential
    && !(has "/run/agenix/anki-admin" (execStart admin))
    && !(adminUnit.environment ? SYNC_ADMIN_PASSWORD_FILE)
  ) "${execStart admin} | ${builtins.toJSON adminUnit.serviceConfig.LoadCredential}")
  (check "admin: a password file in the Nix store is refused at evaluation" (
    failedAssertions (eval (with' { homeserver.ankiSync.adminPasswordFile = "/nix/store/abc-admin"; })) != [ ]
  ) "")
  (check "image: non-root user, /data volume, port, environment" (
    image.config.User == "65534:65534"
    && image.config.Volumes ? "/data"
    && image.config.ExposedPorts ? "27701/tcp"
    && builtins.elem "SYNC_BASE=/data" image.config.Env
    && builtins.elem "SYNC_HOST=0.0.0.0" image.config.Env
    && has "chown 65534:65534 ./data" image.fakeRootCommands
  ) (builtins.toJSON image.config))
  (check "image: runs `serve` and checks itself with our healthcheck command" (
    image.config.Cmd == [ "serve" ]
    && has "/bin/anki-sync-server" (toString image.config.Entrypoint)
    && lib.drop 2 image.config.Healthcheck.Test == [ "healthcheck" ]
    && lib.head image.config.Healthcheck.Test == "CMD"
    && image.config.Healthcheck.Interval == 30000000000
  ) (builtins.toJSON image.config.Healthcheck))
]
