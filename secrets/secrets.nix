# agenix rules: which public keys can decrypt which secret.
#
# This file holds PUBLIC keys only; replace the two example keys below with
# yours before creating a secret:
#   admin:  your own age key        (`age-keygen -y ~/.config/age/key.txt`), so you can edit
#   server: the host's SSH host key (`ssh-keyscan -t ed25519 homeserver` or
#           `cat /etc/ssh/ssh_host_ed25519_key.pub` on it), so agenix can decrypt at boot
#
# Create or edit the password (opens $EDITOR; write the password only, no newline needed):
#   cd secrets && nix run github:ryantm/agenix -- -e anki-sync-password.age
# The file may hold a PHC hash (argon2id or pbkdf2-sha256) instead of the password.
#
# Then in the host configuration (with agenix's NixOS module imported):
#   age.secrets.anki-sync-password.file = ./secrets/anki-sync-password.age;
#   homeserver.ankiSync.users.alice.passwordFile = config.age.secrets.anki-sync-password.path;
#
# test/ holds a throwaway key and a secret encrypted to it, for the VM test only.
let
  # Placeholders: agenix refuses to encrypt until they are replaced by real public keys.
  admin = "age1-REPLACE-WITH-YOUR-AGE-PUBLIC-KEY";
  server = "ssh-ed25519 REPLACE-WITH-THE-SERVER-SSH-HOST-PUBLIC-KEY";
in
{
  "anki-sync-password.age".publicKeys = [
    admin
    server
  ];
  # One file per further user, e.g.:
  # "anki-sync-password-bob.age".publicKeys = [ admin server ];

  # Only with homeserver.ankiSync.auth.cognito.enable and an app client secret:
  # "anki-sync-cognito-secret.age".publicKeys = [ admin server ];
}
