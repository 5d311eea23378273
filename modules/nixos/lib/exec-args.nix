# Turns a list of arguments into one systemd Exec*= command line.
#
# Plain words (the usual case: store paths, flags, numbers, NAME=PATH pairs)
# are written as they are, so `systemctl cat` stays readable; only `%` is
# doubled (systemd specifiers). Anything else is quoted the way nixpkgs'
# utils.escapeSystemdExecArg does: JSON string syntax, `%` -> `%%`, `$` -> `$$`.
# Wrap an argument in `raw` to pass it unescaped, e.g. raw "\${SYNC_HOST}" for
# systemd's own environment substitution.
{ lib }:
let
  escape =
    arg:
    if builtins.isAttrs arg && arg ? __raw then
      arg.__raw
    else
      let
        s = toString arg;
      in
      if builtins.match "[A-Za-z0-9_@%+=:,./-]+" s != null then
        lib.replaceStrings [ "%" ] [ "%%" ] s
      else
        lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
in
{
  raw = s: { __raw = s; };
  inherit escape;
  commandLine = args: lib.concatMapStringsSep " " escape args;
}
