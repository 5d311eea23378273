"""The real Anki client (rslib from the `anki` package) doing what the desktop does."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from anki.collection import Collection
from anki.sync import SyncAuth, SyncOutput

IO_TIMEOUT_SECS = 300
MEDIA_SYNC_TIMEOUT = 1800.0
NO_CHANGES = SyncOutput.NO_CHANGES
FULL_KINDS = (SyncOutput.FULL_SYNC, SyncOutput.FULL_DOWNLOAD, SyncOutput.FULL_UPLOAD)


def required_name(value: int) -> str:
    return SyncOutput.ChangesRequired.Name(value)


class Device:
    """A collection file in its own folder (with collection.media/ beside it) plus a login."""

    def __init__(self, folder: Path, source: Path | None = None, media_from: Path | None = None) -> None:
        self.folder = Path(folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.path = self.folder / "collection.anki2"
        if source is not None:
            shutil.copyfile(source, self.path)
        if media_from is not None:
            # copy2 keeps mtimes, like files that have been sitting in the folder
            shutil.copytree(media_from, self.folder / "collection.media", copy_function=shutil.copy2)
        self.col = Collection(str(self.path))
        self.auth: SyncAuth | None = None

    def login(self, endpoint: str, user: str, password: str) -> None:
        auth = self.col.sync_login(user, password, endpoint)
        auth.io_timeout_secs = IO_TIMEOUT_SECS
        self.auth = auth

    # each of these is what gets timed

    def full_upload(self) -> float:
        return self._full(upload=True)

    def full_download(self) -> float:
        return self._full(upload=False)

    def _full(self, upload: bool) -> float:
        self.col.close_for_full_sync()
        try:
            t0 = time.perf_counter()
            self.col.full_upload_or_download(auth=self.auth, server_usn=None, upload=upload)
            return time.perf_counter() - t0
        finally:
            self.col.reopen(after_full_sync=True)

    def normal_sync(self) -> tuple[float, int]:
        t0 = time.perf_counter()
        out = self.col.sync_collection(self.auth, False)
        return time.perf_counter() - t0, out.required

    def media_sync(self) -> float:
        t0 = time.perf_counter()
        self.col.sync_media(self.auth)
        deadline = t0 + MEDIA_SYNC_TIMEOUT
        while True:
            status = self.col.media_sync_status()  # raises if the sync failed
            if not status.active:
                return time.perf_counter() - t0
            if time.perf_counter() > deadline:
                self.col.abort_media_sync()
                raise TimeoutError(f"media sync still running after {MEDIA_SYNC_TIMEOUT}s")
            time.sleep(0.005)

    # checks (untimed)

    def status_required(self) -> int:
        return self.col.sync_status(self.auth).required

    def media_files(self) -> int:
        return sum(1 for p in (self.folder / "collection.media").iterdir() if p.is_file())

    def close(self) -> None:
        if self.col is not None and self.col.db is not None:
            self.col.close()
        self.col = None
