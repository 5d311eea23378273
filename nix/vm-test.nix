# NixOS VM test (flake output checks.<system>.vm-test):
#   nix build .#checks.x86_64-linux.vm-test -L
#
# One machine with the module. agenix is stood in for by a unit that decrypts
# secrets/test/anki-sync-password.age with its throwaway key; Tailscale by a
# fake `tailscale` command that reports eth1's address once the test "brings
# it up". A real Anki client (the Python `anki` package) logs in, uploads,
# syncs normally and syncs media, and a second device downloads it all; then
# the backup unit runs and its snapshot is checked.
{
  pkgs,
  module,
  package,
}:
let
  constants = import ./constants.nix;
  port = toString constants.defaultPort;
  password = "vm-test-password-not-secret"; # what secrets/test/anki-sync-password.age holds
  backupTarget = "/mnt/hdd/anki-backups";

  fakeTailscale = pkgs.writeShellScriptBin "tailscale" ''
    # `tailscale ip -4` prints eth1's IPv4 address once /run/fake-tailscale-up exists.
    if [ "''${1-}" = ip ] && [ "''${2-}" = -4 ]; then
      if [ -e /run/fake-tailscale-up ]; then
        ${pkgs.iproute2}/bin/ip -4 -o addr show dev eth1 | ${pkgs.gawk}/bin/awk '{ split($4, a, "/"); print a[1]; exit }'
        exit 0
      fi
      echo "Tailscale is stopped." >&2
      exit 1
    fi
    echo "fake tailscale: unsupported: $*" >&2
    exit 2
  '';

  # anki in nixpkgs is an application; reach its Python modules the way
  # nixpkgs' own anki-sync-server test does (newer: anki.lib, older: the wrapper).
  ankiImport =
    if pkgs.anki ? lib then
      ''sys.path.append("${pkgs.anki.lib}/${pkgs.python3.sitePackages}")''
    else
      ''
        from runpy import run_path
        run_path("${pkgs.anki}/bin/.anki-wrapped")
      '';

  client = pkgs.writeScript "anki-vm-client.py" ''
    #!${pkgs.python3}/bin/python3
    import base64
    import os
    import sys
    import time

    ${ankiImport}
    from anki.collection import Collection
    from anki.sync import SyncOutput

    endpoint, user, password, workdir = sys.argv[1:5]
    PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


    def open_col(name):
        os.makedirs(os.path.join(workdir, name), exist_ok=True)
        return Collection(os.path.join(workdir, name, "collection.anki2"))


    def login(col, secret):
        auth = col.sync_login(user, secret, endpoint)
        auth.endpoint = endpoint  # sync_login does not keep it
        return auth


    def full_sync(col, auth, upload):
        col.close_for_full_sync()
        try:
            col.full_upload_or_download(auth=auth, server_usn=None, upload=upload)
        finally:
            col.reopen(after_full_sync=True)


    def sync_media(col, auth):
        col.sync_media(auth)
        deadline = time.monotonic() + 120
        while col.media_sync_status().active:  # raises if the media sync failed
            if time.monotonic() > deadline:
                sys.exit("media sync did not finish in 120 s")
            time.sleep(0.2)


    # device A: wrong password refused, right one accepted
    a = open_col("a")
    try:
        login(a, password + "-wrong")
    except Exception:
        pass
    else:
        sys.exit("a wrong password was accepted")
    auth_a = login(a, password)

    # one note with an image, then the first sync: the server is empty, so a full upload
    image = a.media.write_data("nixos.png", PNG)
    note = a.new_note(a.models.by_name("Basic"))
    note["Front"] = "uploaded"
    note["Back"] = f'<img src="{image}">'
    a.add_note(note, a.decks.id("Default"))
    out = a.sync_collection(auth_a, False)
    assert out.required == SyncOutput.FULL_UPLOAD, out.required
    full_sync(a, auth_a, upload=True)

    # a change, then a normal sync
    note = a.get_note(note.id)
    note["Front"] = "changed by a normal sync"
    a.update_note(note)
    out = a.sync_collection(auth_a, False)
    assert out.required in (SyncOutput.NO_CHANGES, SyncOutput.NORMAL_SYNC), out.required
    assert a.sync_collection(auth_a, False).required == SyncOutput.NO_CHANGES
    sync_media(a, auth_a)

    # device B: empty, so a full download; then its media sync fetches the image
    b = open_col("b")
    auth_b = login(b, password)
    out = b.sync_collection(auth_b, False)
    assert out.required == SyncOutput.FULL_DOWNLOAD, out.required
    full_sync(b, auth_b, upload=False)
    fronts = sorted(b.get_note(nid)["Front"] for nid in b.find_notes(""))
    assert fronts == ["changed by a normal sync"], fronts
    sync_media(b, auth_b)
    with open(os.path.join(b.media.dir(), image), "rb") as f:
        assert f.read() == PNG, "media file differs"

    a.close()
    b.close()
    print("anki client: login, upload, normal sync, media sync, download: ok")
  '';
in
pkgs.testers.runNixOSTest {
  name = "anki-sync-server-ts";

  nodes.server =
    { config, ... }:
    {
      imports = [ module ];
      virtualisation.memorySize = 2048;
      # a second disk for the snapshots, as on a host with an SSD and an HDD
      virtualisation.emptyDiskImages = [ 256 ];
      virtualisation.fileSystems."/mnt/hdd" = {
        device = "/dev/vdb";
        fsType = "ext4";
        autoFormat = true;
      };
      environment.systemPackages = [
        fakeTailscale
        pkgs.sqlite
      ];

      # Stands in for agenix: decrypt the test secret to /run/agenix at boot.
      systemd.services.agenix-test-secret = {
        wantedBy = [ "multi-user.target" ];
        before = [ "anki-sync-server.service" ];
        requiredBy = [ "anki-sync-server.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          umask 077
          mkdir -p /run/agenix
          ${pkgs.age}/bin/age --decrypt --identity ${../secrets/test/vm-test-key.txt} \
            --output /run/agenix/anki-sync-password ${../secrets/test/anki-sync-password.age}
        '';
      };

      homeserver.ankiSync = {
        enable = true;
        inherit package;
        users.alice.passwordFile = "/run/agenix/anki-sync-password";
        openFirewall = true;
        tailscale.package = fakeTailscale;
        tailscale.timeout = 300;
        backup = {
          enable = true;
          # A folder on the second disk: RequiresMountsFor= waits for its mount,
          # AssertPathIsMountPoint= fails the run while it is not mounted.
          target = backupTarget;
          mountPoint = "/mnt/hdd";
        };
      };
    };

  testScript = ''
    start_all()

    with subtest("the server waits for Tailscale before it listens"):
        server.wait_for_unit("agenix-test-secret.service")
        server.wait_until_succeeds(
            "journalctl -u anki-sync-server.service | grep -q 'waiting up to 300s for a Tailscale IPv4 address'"
        )
        server.fail("ss -Htln 'sport = :${port}' | grep -q .")
        server.succeed("touch /run/fake-tailscale-up")
        server.wait_for_unit("anki-sync-server.service")
        ip = server.succeed("tailscale ip -4").strip()
        server.wait_for_open_port(${port}, ip)
        server.succeed(f"ss -Htln 'sport = :${port}' | grep -qF '{ip}:${port}'")
        server.fail("ss -Htln 'sport = :${port}' | grep -qF '127.0.0.1:${port}'")
        server.succeed("anki-sync-server healthcheck --host " + ip + " --port ${port}")

    with subtest("the service runs hardened, with its password as a credential"):
        server.succeed("systemctl show -p DynamicUser --value anki-sync-server.service | grep -qx yes")
        pid = server.succeed("systemctl show -p MainPID --value anki-sync-server.service").strip()
        uid = server.succeed(f"stat -c %u /proc/{pid}").strip()
        assert uid != "0", "the server runs as root"
        server.succeed("systemctl cat anki-sync-server.service | grep -q 'LoadCredential=user-alice:/run/agenix/anki-sync-password'")
        server.fail("systemctl cat anki-sync-server.service | grep -qF '${password}'")

    with subtest("a real Anki client logs in, uploads, syncs and syncs media"):
        server.succeed(f"${client} http://{ip}:${port}/ alice '${password}' /tmp/anki-client")

    with subtest("the nightly backup runs and its snapshot holds the synced collection"):
        server.succeed("systemctl list-timers | grep -q anki-sync-backup")
        server.succeed("systemctl start anki-sync-backup.service")
        snapshots = server.succeed("find ${backupTarget} -mindepth 1 -maxdepth 1 -type d ! -name '.*'").split()
        assert len(snapshots) == 1, snapshots
        collections = server.succeed(f"find {snapshots[0]} -name collection.anki2").split()
        assert len(collections) == 1, collections
        server.succeed(f"sqlite3 {collections[0]} 'pragma integrity_check' | grep -qx ok")
        server.succeed(
            f"sqlite3 {collections[0]} \"select count() from notes where flds like 'changed by a normal sync%'\" | grep -qx 1"
        )
        server.succeed(f"find {snapshots[0]} -type f -name nixos.png | grep -q .")
        # the server still serves after the snapshot
        server.succeed("anki-sync-server healthcheck --host " + ip + " --port ${port}")
  '';
}
