# The module's units rendered as unit files, for the check under a real systemd
# (test/nix/systemd-box.sh). The result is a derivation holding the unit files
# and the `.wants` links NixOS would make; building it (nix-build, no sandbox)
# builds every store path the units name: the Tailscale wait wrapper, a fake
# `tailscale`, and a package whose `anki-sync-server` runs our local build.
#
#   nix-build test/nix/box-units.nix --option sandbox false \
#     --argstr nixpkgsLib LIB --argstr configJSON '{...}' --argstr node /usr/local/bin/node \
#     --argstr app /opt/anki-sync-server
#
# Packages are the stubs of ./stub-pkgs.nix, made buildable here: bash, coreutils
# and iproute2 link to the container's own /usr/bin tools, writeShellScript writes
# its script. Rendering follows nixos/lib/systemd-lib.nix: one `Key=value` line per
# list element, booleans as true/false, [Unit] dependencies space-separated,
# environment as Environment="K=V".
{
  nixpkgsLib,
  configJSON,
  # where the container finds node and this repository's build (dist/, node_modules/, build/)
  node,
  app,
}:
let
  libPath = if builtins.pathExists (/. + nixpkgsLib + "/lib/default.nix") then /. + nixpkgsLib + "/lib" else /. + nixpkgsLib;
  lib = import libPath;
  stub = import ./stub-pkgs.nix { inherit lib; };

  # A derivation whose bin/ links to the tools of the system it runs on (the container).
  systemTools =
    name: tools:
    stub.stdenvNoCC.mkDerivation {
      inherit name;
      buildCommand = ''
        mkdir -p $out/bin
        for t in ${toString tools}; do ln -s /usr/bin/$t $out/bin/$t; done
      '';
    };
  script =
    name: text:
    stub.stdenvNoCC.mkDerivation {
      inherit name text;
      passAsFile = [ "text" ];
      buildCommand = ''
        { echo "#!/bin/bash"; cat "$textPath"; } > $out
        chmod 0555 $out
      '';
    };
  scriptBin =
    name: text:
    stub.stdenvNoCC.mkDerivation {
      inherit name text;
      passAsFile = [ "text" ];
      buildCommand = ''
        mkdir -p $out/bin
        { echo "#!/bin/bash"; cat "$textPath"; } > $out/bin/${name}
        chmod 0555 $out/bin/${name}
      '';
      meta.mainProgram = name;
    };

  pkgs = stub // {
    bash = systemTools "bash" [ "bash" ];
    coreutils = systemTools "coreutils" [ "install" "mkdir" "dirname" "chmod" "mv" "sleep" "cat" "rm" "ln" "env" ];
    iproute2 = systemTools "iproute2" [ "ip" "ss" ];
    writeShellScript = script;
    writeShellScriptBin = scriptBin;
  };

  # `tailscale ip -4`: "stopped" until /run/fake-tailscale/address exists, then its content.
  fakeTailscale = scriptBin "tailscale" ''
    if [ "$1 $2" = "ip -4" ]; then
      if [ -s /run/fake-tailscale/address ]; then cat /run/fake-tailscale/address; exit 0; fi
      echo "Tailscale is stopped." >&2
      exit 1
    fi
    echo "fake tailscale: unsupported: $*" >&2
    exit 2
  '';

  # The package: its command runs our local build with the container's node.
  package = stub.stdenvNoCC.mkDerivation {
    name = "anki-sync-server-ts-local";
    buildCommand = ''
      mkdir -p $out/bin
      printf '#!/bin/sh\nexec %s %s/dist/cli/main.js "$@"\n' ${lib.escapeShellArg node} ${lib.escapeShellArg app} > $out/bin/anki-sync-server
      chmod 0555 $out/bin/anki-sync-server
    '';
    meta.mainProgram = "anki-sync-server";
  };

  config =
    (lib.evalModules {
      modules = [
        ./stub-options.nix
        ./stub-agenix.nix
        ../../modules/nixos
        { _module.args.pkgs = pkgs; }
        {
          homeserver.ankiSync = lib.recursiveUpdate (builtins.fromJSON configJSON) {
            enable = true;
            inherit package;
            tailscale.package = fakeTailscale;
          };
        }
      ];
    }).config;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  value = v: if builtins.isBool v then (if v then "true" else "false") else toString v;
  lines = attrs: lib.concatStrings (lib.concatLists (lib.mapAttrsToList (k: v: map (x: "${k}=${value x}\n") (lib.toList v)) attrs));
  unitSection =
    u:
    lines (
      lib.filterAttrs (_: v: v != "" && v != [ ]) {
        Description = u.description;
        Documentation = u.documentation;
        After = lib.concatStringsSep " " u.after;
        Before = lib.concatStringsSep " " u.before;
        Wants = lib.concatStringsSep " " u.wants;
        Requires = lib.concatStringsSep " " u.requires;
      }
      // u.unitConfig
    );
  serviceUnit =
    s:
    "[Unit]\n"
    + unitSection s
    + "\n[Service]\n"
    + lib.concatStrings (lib.mapAttrsToList (k: v: "Environment=${builtins.toJSON "${k}=${v}"}\n") s.environment)
    + lines s.serviceConfig;
  timerUnit = t: "[Unit]\n" + unitSection (t // { after = [ ]; before = [ ]; wants = [ ]; requires = [ ]; documentation = [ ]; }) + "\n[Timer]\n" + lines t.timerConfig;

  files =
    lib.mapAttrs' (n: s: lib.nameValuePair "${n}.service" (serviceUnit s)) config.systemd.services
    // lib.mapAttrs' (n: t: lib.nameValuePair "${n}.timer" (timerUnit t)) config.systemd.timers;
  wants =
    lib.mapAttrsToList (n: s: map (target: { inherit target; unit = "${n}.service"; }) s.wantedBy) config.systemd.services
    ++ lib.mapAttrsToList (n: t: map (target: { inherit target; unit = "${n}.timer"; }) t.wantedBy) config.systemd.timers;
in
if failed != [ ] then
  throw "failed assertions: ${lib.concatStringsSep "; " failed}"
else
  stub.stdenvNoCC.mkDerivation {
    name = "anki-sync-units";
    files = builtins.toJSON files;
    links = lib.concatMapStrings (w: "${w.target}.wants/${w.unit}\n") (lib.flatten wants);
    passAsFile = [ "files" "links" ];
    buildCommand = ''
      mkdir -p $out
      node -e '
        const fs = require("fs");
        for (const [name, text] of Object.entries(JSON.parse(fs.readFileSync(process.env.filesPath, "utf8"))))
          fs.writeFileSync(process.env.out + "/" + name, text);
      '
      while IFS= read -r link; do
        [ -n "$link" ] || continue
        mkdir -p "$out/$(dirname "$link")"
        ln -s "../$(basename "$link")" "$out/$link"
      done < "$linksPath"
    '';
    nativeBuildInputs = [ stub.nodejs ];
  }
