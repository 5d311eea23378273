# homeserver.ankiSync.metrics: who may read /metrics, per-user sizes, and a
# Prometheus scrape job when services.prometheus is on on the same host.
# Imported next to ./backup.nix by ../../default.nix.
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.homeserver.ankiSync;
  m = cfg.metrics;
  prometheusOn = config.services.prometheus.enable or false;
  # The address Prometheus on this host reaches the server at: the configured
  # one, or loopback when the server listens on every address.
  localTarget =
    if cfg.address == null || cfg.address == "0.0.0.0" || cfg.address == "::" then
      "127.0.0.1"
    else if lib.hasInfix ":" cfg.address then
      "[${cfg.address}]"
    else
      cfg.address;
in
{
  options.homeserver.ankiSync.metrics = {
    allowFrom = mkOption {
      type = types.nullOr (types.nonEmptyListOf types.str);
      default = [
        "127.0.0.0/8"
        "::1"
      ]
      ++ lib.optional (cfg.address != null) cfg.address;
      defaultText = lib.literalMD "loopback, plus `address` when set (a scrape of the server's own address comes from that address)";
      example = [
        "127.0.0.1"
        "100.64.0.0/10"
      ];
      description = "Addresses or CIDR ranges that may read /metrics (`--metrics-allow`); others get 403. null: anyone who reaches the port.";
    };

    userSizes = mkOption {
      type = types.bool;
      default = false;
      description = "Export per-user collection and media sizes on /metrics (`--metrics-user-sizes`); their labels carry user names.";
    };

    prometheus = {
      scrape = mkOption {
        type = types.bool;
        default = prometheusOn;
        defaultText = lib.literalExpression "config.services.prometheus.enable";
        description = "Add a scrape job for the server to services.prometheus.scrapeConfigs.";
      };
      target = mkOption {
        type = types.str;
        default = "${localTarget}:${toString cfg.port}";
        defaultText = lib.literalMD "`address:port`, or `127.0.0.1:port` when `address` is null or a wildcard; with `address = null` (the Tailscale address, known only at start) set this to that address or its MagicDNS name";
        description = "host:port Prometheus scrapes.";
      };
      jobName = mkOption {
        type = types.str;
        default = "anki-sync-server";
        description = "The scrape job's name.";
      };
      scrapeInterval = mkOption {
        type = types.str;
        default = "30s";
        description = "How often Prometheus scrapes the server.";
      };
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        homeserver.ankiSync.extraArgs =
          lib.concatMap (entry: [
            "--metrics-allow"
            entry
          ]) (if m.allowFrom == null then [ ] else m.allowFrom)
          ++ lib.optional m.userSizes "--metrics-user-sizes";
      }
      (lib.mkIf m.prometheus.scrape {
        services.prometheus.scrapeConfigs = [
          {
            job_name = m.prometheus.jobName;
            scrape_interval = m.prometheus.scrapeInterval;
            metrics_path = "/metrics";
            static_configs = [ { targets = [ m.prometheus.target ]; } ];
          }
        ];
      })
    ]
  );
}
