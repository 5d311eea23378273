# npm's platform check (npm-install-checks' checkPlatform), for deciding at
# evaluation time which optional packages of package-lock.json a platform
# installs. A lock entry may list `os`, `cpu` and (Linux) `libc`, each a list of
# accepted values or of "!value" exclusions.
{ lib }:
let
  # One field: "any", a whitelist, or only exclusions (then anything else passes).
  accepts =
    value: field:
    let
      list = if builtins.isList field then field else [ field ];
      exclusions = lib.filter (lib.hasPrefix "!") list;
    in
    list == [ "any" ]
    || (!(builtins.elem "!${value}" list) && (builtins.elem value list || lib.length exclusions == lib.length list));
in
{
  inherit accepts;

  # npm's names for a Nix platform (lib.systems.elaborate's `node` attributes).
  ofNixPlatform = platform: {
    os = platform.node.platform or platform.parsed.kernel.name;
    cpu = platform.node.arch;
    libc =
      if !(platform.isLinux or false) then
        null
      else if platform.isMusl or false then
        "musl"
      else
        "glibc";
  };

  # Whether npm installs this lock entry on the platform `target` (from ofNixPlatform).
  installs =
    target: entry:
    (!(entry ? os) || accepts target.os entry.os)
    && (!(entry ? cpu) || accepts target.cpu entry.cpu)
    && (target.libc == null || target.os != "linux" || !(entry ? libc) || accepts target.libc entry.libc);
}
