"""A real Anki client (the `anki` package from PyPI) against a server, for
test/nix/systemd-box.sh.

  python sync-client.py ENDPOINT USER PASSWORD WORKDIR upload
      device A: a wrong password is refused; log in; a note with an image; the
      first sync asks for a full upload; upload; change the note; normal sync;
      media sync. Writes the host key the server gave to WORKDIR/hkey (so the
      caller can check it never reaches a log).
  python sync-client.py ENDPOINT USER PASSWORD WORKDIR download
      a new device: log in; full download; the note and the image are there.

Prints one line per step with its duration; exits non-zero on any mismatch.
"""

import base64
import os
import sys
import time

from anki.collection import Collection
from anki.sync import SyncOutput

endpoint, user, password, workdir, mode = sys.argv[1:6]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
FRONT = f"changed by a normal sync ({user})"


def step(name, started):
    print(f"{user}: {name} ({time.monotonic() - started:.2f}s)", flush=True)


def open_col(name):
    folder = os.path.join(workdir, name)
    os.makedirs(folder, exist_ok=True)
    return Collection(os.path.join(folder, "collection.anki2"))


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
        time.sleep(0.1)


def upload():
    col = open_col("a")
    t = time.monotonic()
    try:
        login(col, password + "-wrong")
    except Exception:
        pass
    else:
        sys.exit("a wrong password was accepted")
    step("wrong password refused", t)

    t = time.monotonic()
    auth = login(col, password)
    with open(os.path.join(workdir, "hkey"), "w") as f:
        f.write(auth.hkey)
    step("logged in", t)

    image = col.media.write_data("box.png", PNG)
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = "uploaded"
    note["Back"] = f'<img src="{image}">'
    col.add_note(note, col.decks.id("Default"))
    t = time.monotonic()
    out = col.sync_collection(auth, False)
    assert out.required == SyncOutput.FULL_UPLOAD, out.required
    full_sync(col, auth, upload=True)
    step("full sync (upload)", t)

    note = col.get_note(note.id)
    note["Front"] = FRONT
    col.update_note(note)
    t = time.monotonic()
    out = col.sync_collection(auth, False)
    assert out.required in (SyncOutput.NO_CHANGES, SyncOutput.NORMAL_SYNC), out.required
    assert col.sync_collection(auth, False).required == SyncOutput.NO_CHANGES
    step("normal sync", t)

    t = time.monotonic()
    sync_media(col, auth)
    step("media sync (upload)", t)
    col.close()


def download():
    col = open_col(f"device-{time.time_ns()}")
    t = time.monotonic()
    auth = login(col, password)
    out = col.sync_collection(auth, False)
    assert out.required == SyncOutput.FULL_DOWNLOAD, out.required
    full_sync(col, auth, upload=False)
    fronts = sorted(col.get_note(nid)["Front"] for nid in col.find_notes(""))
    assert fronts == [FRONT], fronts
    step("full sync (download): the note is there", t)
    t = time.monotonic()
    sync_media(col, auth)
    names = os.listdir(col.media.dir())
    assert len(names) == 1, names
    with open(os.path.join(col.media.dir(), names[0]), "rb") as f:
        assert f.read() == PNG, "media file differs"
    step("media sync (download): the image is there", t)
    col.close()


{"upload": upload, "download": download}[mode]()
