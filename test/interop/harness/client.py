"""The real Anki sync client (rslib, via the `anki` PyPI package) driven from Python."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from anki.collection import Collection
from anki.sync import SyncAuth, SyncOutput, SyncStatus

from . import raw

# SyncOutput.required / SyncStatus.required values, re-exported with readable names.
NO_CHANGES = SyncOutput.NO_CHANGES
NORMAL_SYNC = SyncOutput.NORMAL_SYNC
FULL_SYNC = SyncOutput.FULL_SYNC
FULL_DOWNLOAD = SyncOutput.FULL_DOWNLOAD
FULL_UPLOAD = SyncOutput.FULL_UPLOAD
FULL_KINDS = (FULL_SYNC, FULL_DOWNLOAD, FULL_UPLOAD)

IO_TIMEOUT_SECS = 60


def required_name(value: int) -> str:
    return SyncOutput.ChangesRequired.Name(value)


def status_name(value: int) -> str:
    return SyncStatus.Required.Name(value)


class Client:
    """One device: a collection file in its own folder plus its login."""

    def __init__(self, folder: Path, name: str = "client") -> None:
        self.name = name
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "collection.anki2"
        self.col: Collection | None = Collection(str(self.path))
        self.auth: SyncAuth | None = None

    @classmethod
    def from_file(cls, folder: Path, source: Path, name: str = "client") -> "Client":
        """A device whose collection starts as a copy of a closed collection file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "collection.anki2")
        return cls(folder, name)

    # -- auth -----------------------------------------------------------

    def login(self, endpoint: str, user: str, password: str) -> SyncAuth:
        auth = self.col.sync_login(user, password, endpoint)
        auth.io_timeout_secs = IO_TIMEOUT_SECS
        self.auth = auth
        return auth

    def use_auth(self, hkey: str, endpoint: str) -> SyncAuth:
        """Use a stored host key without logging in again (like a device that logged in earlier)."""
        self.auth = SyncAuth(hkey=hkey, endpoint=endpoint, io_timeout_secs=IO_TIMEOUT_SECS)
        return self.auth

    # -- sync -----------------------------------------------------------

    def status(self) -> int:
        """SyncStatus.required as the desktop's background check computes it (calls meta)."""
        return self.col.sync_status(self._auth()).required

    def sync(self) -> SyncOutput:
        """A normal sync (media off). Returns the output; .required says what happened or is needed."""
        return self.col.sync_collection(self._auth(), False)

    def full_upload(self) -> None:
        self._full(upload=True)

    def full_download(self) -> None:
        self._full(upload=False)

    def sync_resolving_full(self, prefer: str = "upload") -> tuple[int, str | None]:
        """Sync; when a full sync is required, do it the way the GUI would.

        Returns (required, action) where action is "upload", "download" or None.
        """
        out = self.sync()
        req = out.required
        if req == FULL_UPLOAD or (req == FULL_SYNC and prefer == "upload"):
            self.full_upload()
            return req, "upload"
        if req == FULL_DOWNLOAD or (req == FULL_SYNC and prefer == "download"):
            self.full_download()
            return req, "download"
        return req, None

    def _full(self, upload: bool) -> None:
        col = self.col
        col.close_for_full_sync()
        try:
            col.full_upload_or_download(auth=self._auth(), server_usn=None, upload=upload)
        finally:
            # like aqt: the backend reopens the collection itself after a full sync
            col.reopen(after_full_sync=True)

    def _auth(self) -> SyncAuth:
        assert self.auth is not None, f"{self.name}: not logged in"
        return self.auth

    # -- collection header ----------------------------------------------

    def header(self) -> dict[str, Any]:
        mod, scm, usn, ls, crt = self.col.db.first("select mod, scm, usn, ls, crt from col")
        return {"mod": mod, "scm": scm, "usn": usn, "ls": ls, "crt": crt}

    def server_meta(self) -> dict[str, Any]:
        """The server's raw `meta` answer for this device's host key (does not touch the collection)."""
        r = raw.meta(self._auth().endpoint, self._auth().hkey)
        assert r.status == 200, r.describe()
        return r.json()

    def pending(self) -> str:
        """What the client's own decision rule (mod/scm comparison) says the next sync is:
        "no_changes", "normal" or "full"."""
        local = self.header()
        remote = self.server_meta()
        if remote["mod"] == local["mod"]:
            return "no_changes"
        if remote["scm"] != local["scm"]:
            return "full"
        return "normal"

    def close(self) -> None:
        if self.col is not None and self.col.db is not None:
            self.col.close()
        self.col = None

    def __repr__(self) -> str:
        return f"<Client {self.name} {self.path}>"


def open_collection_bytes(data: bytes, folder: Path) -> Collection:
    """Write raw collection bytes (e.g. a raw `download`) to a file and open it with anki."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "collection.anki2"
    path.write_bytes(data)
    return Collection(str(path))
