"""A thin adapter over the `anki` package's sync client, for every release the
compatibility matrix covers (2.1.58 and later).

This file runs inside each release's own venv (old anki, its own protobuf), so it
imports nothing from the repository and only stdlib + `anki`. It hides the API
differences between releases, detected by feature (never by version number):

* 2.1.5x-2.1.66 ("legacy"): the Python side keeps a DB transaction open
  (`col.db.begin()`); the desktop commits it with `col.save(trx=False)` before a
  sync and begins a new one afterwards. `sync_collection(auth)` has no media flag,
  full syncs are `full_upload(auth)` / `full_download(auth)`, and `sync_media(auth)`
  blocks until the media sync ends. `sync_login` returns an auth without the
  endpoint (the desktop adds the endpoint it keeps in the profile).
* 23.10 and later: saving is automatic, `sync_collection(auth, sync_media)`,
  `full_upload_or_download(auth=, server_usn=, upload=)`, and `sync_media(auth)`
  starts a background media sync polled with `media_sync_status()`.

Each call follows what that release's desktop (aqt) does around it.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import time
from pathlib import Path
from typing import Any

from anki.collection import Collection

try:  # SyncError/SyncErrorKind exist in every covered release; be lenient anyway
    from anki.errors import SyncError, SyncErrorKind
except ImportError:  # pragma: no cover
    SyncError = None  # type: ignore
    SyncErrorKind = None  # type: ignore

IO_TIMEOUT_SECS = 60
MEDIA_SYNC_TIMEOUT = 180.0


def anki_version() -> str:
    try:
        from anki.buildinfo import version

        return str(version)
    except Exception:  # pragma: no cover
        return "?"


def is_auth_error(err: BaseException) -> bool:
    """True when `err` is the client's "authentication failed" sync error."""
    if SyncError is not None and isinstance(err, SyncError):
        return getattr(err, "kind", None) == SyncErrorKind.AUTH
    return False


class Device:
    """One device: a collection file in its own folder (media folder beside it)."""

    def __init__(self, folder: Path | str, name: str = "device") -> None:
        self.name = name
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "collection.anki2"
        self.col: Collection = Collection(str(self.path))
        self.auth: Any = None
        # legacy releases hold a Python-side transaction open (DBProxy.begin)
        self.legacy_trx = hasattr(self.col.db, "begin")
        self._sync_takes_media = "sync_media" in inspect.signature(self.col.sync_collection).parameters
        self._has_full_upload_or_download = hasattr(self.col, "full_upload_or_download")
        self._background_media = hasattr(self.col, "media_sync_status")
        self.last_output: Any = None

    # -- collection -------------------------------------------------------

    @property
    def media_dir(self) -> Path:
        return Path(self.col.media.dir())

    def commit(self) -> None:
        """Make local changes durable (a no-op where saving is automatic).

        Not `col.save()`: it commits only when the collection's mod (milliseconds)
        moved since the transaction began, so an operation in the same millisecond
        as the previous commit would stay uncommitted and the rollback in
        `save(trx=False)` before the next sync would silently drop it."""
        if self.legacy_trx:
            self.col.db.commit()
            self.col.db.begin()

    def close(self) -> None:
        if self.col is not None and self.col.db is not None:
            self.col.close()
        self.col = None  # type: ignore

    def enable_v3_scheduler(self) -> None:
        """The v3 scheduler is the only one from 23.10 on; older releases default to
        v2 for new collections. Use v3 everywhere so collections move between
        releases without a scheduler upgrade (which would be a schema change)."""
        col = self.col
        if hasattr(col, "sched_ver") and col.sched_ver() == 1 and hasattr(col, "upgrade_to_v2_scheduler"):
            col.upgrade_to_v2_scheduler()
        if hasattr(col, "set_v3_scheduler") and not col.v3_scheduler():
            col.set_v3_scheduler(True)
        self.commit()

    # -- auth ---------------------------------------------------------------

    def login(self, endpoint: str, user: str, password: str) -> Any:
        auth = self.col.sync_login(user, password, endpoint)
        self.auth = self._complete_auth(auth, endpoint)
        return self.auth

    def use_hkey(self, hkey: str, endpoint: str) -> Any:
        """Reuse a host key from an earlier login (a device that logged in before)."""
        from anki.sync import SyncAuth

        self.auth = self._complete_auth(SyncAuth(hkey=hkey), endpoint)
        return self.auth

    @staticmethod
    def _complete_auth(auth: Any, endpoint: str) -> Any:
        # the desktop builds SyncAuth(hkey, endpoint from the profile, io timeout)
        if not auth.endpoint:
            auth.endpoint = endpoint
        try:
            auth.io_timeout_secs = IO_TIMEOUT_SECS
        except (AttributeError, ValueError):  # pragma: no cover
            pass
        return auth

    # -- collection sync ---------------------------------------------------

    def status(self) -> str:
        """The background check (`sync_status`, which calls meta): NO_CHANGES/NORMAL_SYNC/FULL_SYNC."""
        out = self.col.sync_status(self._auth())
        if getattr(out, "new_endpoint", ""):
            self.auth.endpoint = out.new_endpoint
        return type(out).Required.Name(out.required)

    def sync(self, media: bool = False) -> str:
        """A normal sync as the desktop's sync button starts it. Returns NO_CHANGES
        (nothing to do), NORMAL_SYNC (a normal sync ran) or, when a full sync is
        needed, the SyncOutput.required name FULL_SYNC / FULL_DOWNLOAD / FULL_UPLOAD.
        With media=True the media sync that the desktop runs afterwards is done too
        (and waited for) when no full sync is needed."""
        col = self.col
        last_sync_before = self._last_sync_time()
        if self.legacy_trx:
            col.save(trx=False)
        try:
            if self._sync_takes_media:
                out = col.sync_collection(self._auth(), media)
            else:
                out = col.sync_collection(self._auth())
        finally:
            if self.legacy_trx:
                col.db.begin()
            # like aqt: the scheduler version may have changed
            if hasattr(col, "_load_scheduler"):
                col._load_scheduler()
        self.last_output = out
        if getattr(out, "new_endpoint", ""):
            self.auth.endpoint = out.new_endpoint
        required = type(out).ChangesRequired.Name(out.required)
        if required == "NO_CHANGES" and self._last_sync_time() != last_sync_before:
            # the backend answers NO_CHANGES after a completed normal sync too; a normal
            # sync always moves the collection's last-sync time (to the server's new mod)
            required = "NORMAL_SYNC"
        if media and required in ("NO_CHANGES", "NORMAL_SYNC"):
            if self._sync_takes_media:
                self._wait_media()  # started by the backend after the collection sync
            else:
                self.media_sync()
        return required

    def _last_sync_time(self) -> int:
        return self.col.db.scalar("select ls from col")

    def full(self, upload: bool) -> None:
        """A full upload or download, with the collection closed around it as aqt does."""
        col = self.col
        col.close_for_full_sync()
        try:
            if self._has_full_upload_or_download:
                col.full_upload_or_download(auth=self._auth(), server_usn=None, upload=upload)
            elif upload:
                col.full_upload(self._auth())
            else:
                col.full_download(self._auth())
        finally:
            col.reopen(after_full_sync=True)

    def sync_resolving(self, prefer: str = "upload") -> tuple[str, str | None]:
        """Sync; when a full sync is required do it as the user would (FULL_SYNC:
        `prefer`). Returns (required, action) with action "upload"/"download"/None."""
        req = self.sync()
        if req == "FULL_UPLOAD" or (req == "FULL_SYNC" and prefer == "upload"):
            self.full(upload=True)
            return req, "upload"
        if req == "FULL_DOWNLOAD" or (req == "FULL_SYNC" and prefer == "download"):
            self.full(upload=False)
            return req, "download"
        return req, None

    # -- media sync --------------------------------------------------------

    def media_sync(self) -> None:
        """A standalone media sync (the desktop's media syncer after a sync)."""
        col = self.col
        if self._background_media:
            col.sync_media(self._auth())
            self._wait_media()
        else:
            col.sync_media(self._auth())  # blocks until done, raises on failure

    def _wait_media(self) -> None:
        deadline = time.monotonic() + MEDIA_SYNC_TIMEOUT
        while True:
            status = self.col.media_sync_status()  # raises if the sync failed
            if not status.active:
                return
            if time.monotonic() > deadline:
                self.col.abort_media_sync()
                raise AssertionError(f"{self.name}: media sync still running after {MEDIA_SYNC_TIMEOUT}s")
            time.sleep(0.05)

    def media_hashes(self) -> dict[str, str]:
        out = {}
        for entry in os.scandir(self.media_dir):
            if entry.is_file():
                with open(entry.path, "rb") as f:
                    out[entry.name] = hashlib.sha1(f.read()).hexdigest()
        return out

    def _auth(self) -> Any:
        if self.auth is None:
            raise AssertionError(f"{self.name}: not logged in")
        return self.auth

    # -- editing -------------------------------------------------------------

    def add_notes(
        self, texts: list[str], deck: str = "Default", tags: tuple[str, ...] = (), notetype: str = "Basic"
    ) -> list[int]:
        col = self.col
        did = col.decks.id(deck)
        model = col.models.by_name(notetype)
        assert model is not None, notetype
        ids = []
        for text in texts:
            note = col.new_note(model)
            note.fields[0] = text
            if len(note.fields) > 1:
                note.fields[1] = f"back of {text}"
            note.tags = list(tags)
            col.add_note(note, did)
            ids.append(int(note.id))
        self.commit()
        return ids

    def edit_note(self, nid: int, field: int, text: str) -> None:
        note = self.col.get_note(nid)
        note.fields[field] = text
        self.col.update_note(note)
        self.commit()

    def add_tag(self, nid: int, tag: str) -> None:
        note = self.col.get_note(nid)
        note.tags = list(note.tags) + [tag]
        self.col.update_note(note)
        self.commit()

    def remove_notes(self, nids: list[int]) -> None:
        self.col.remove_notes(nids)
        self.commit()

    def note_field(self, nid: int, field: int = 0) -> str:
        return self.col.get_note(nid).fields[field]

    def has_note(self, nid: int) -> bool:
        return bool(self.col.db.scalar("select count() from notes where id = ?", nid))

    def answer_cards(self, deck: str, count: int, eases: tuple[int, ...] = (3, 1, 4, 2)) -> list[int]:
        """Study up to `count` cards of `deck` with the scheduler's card-at-a-time API."""
        col = self.col
        col.decks.select(col.decks.id(deck))
        if hasattr(col.sched, "reset"):
            col.sched.reset()
        answered = []
        for i in range(count):
            card = col.sched.getCard()
            if card is None:
                break
            col.sched.answerCard(card, eases[i % len(eases)])
            answered.append(int(card.id))
        col.decks.select(1)
        self.commit()
        return answered

    def rename_deck(self, old: str, new: str) -> None:
        did = self.col.decks.id_for_name(old)
        assert did, old
        self.col.decks.rename(did, new)
        self.commit()

    def mark_schema_modified(self) -> None:
        """A change that needs a full sync (as after editing a notetype's fields)."""
        self.col.mod_schema(check=False)
        self.commit()

    def wait_past_ids(self) -> None:
        """New ids are max(now in ms, highest id + 1): a batch of additions runs ahead
        of the clock. Another device adding objects now would pick the same ids (as
        no real device would), so wait until the clock is past them."""
        top = max(
            self.col.db.scalar(f"select coalesce(max(id), 0) from {table}") for table in ("notes", "cards", "revlog")
        )
        delay = top / 1000 - time.time() + 0.02
        if delay > 0:
            time.sleep(delay)

    # -- comparing -------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The synced content as plain data (usn and per-device sync state left out)."""
        db = self.col.db

        def rows(sql: str) -> list[list[Any]]:
            return [list(r) for r in db.all(sql)]

        crt, scm = db.first("select crt, scm from col")
        return {
            "crt": crt,
            "scm": scm,
            "notes": rows("select id, guid, mid, mod, tags, flds from notes order by id"),
            "cards": rows(
                "select id, nid, did, ord, mod, type, queue, due, ivl, factor, reps, lapses, left,"
                " odue, odid, flags from cards order by id"
            ),
            "revlog": rows("select id, cid, ease, ivl, lastIvl, factor, time, type from revlog order by id"),
            "decks": rows("select id, name, mtime_secs from decks order by id"),
            "notetypes": rows("select id, name, mtime_secs from notetypes order by id"),
            "fields": rows("select ntid, ord, name from fields order by ntid, ord"),
            "deck_config": rows("select id, name, mtime_secs from deck_config order by id"),
            "tags": sorted(r[0] for r in db.all("select tag from tags")),
            "config": {k: v if isinstance(v, str) else bytes(v).hex() for k, v in db.all("select key, val from config")},
        }


def diff_snapshots(a: dict[str, Any], b: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable differences between two snapshots (empty when equal)."""
    out = []
    for key in sorted(set(a) | set(b)):
        if key in ignore:
            continue
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if isinstance(va, list) and isinstance(vb, list):
            sa = {repr(x) for x in va}
            sb = {repr(x) for x in vb}
            only_a = sorted(sa - sb)[:3]
            only_b = sorted(sb - sa)[:3]
            out.append(f"{key}: {len(va)} vs {len(vb)} rows; only first {only_a}; only second {only_b}")
        elif isinstance(va, dict) and isinstance(vb, dict):
            keys = sorted(k for k in set(va) | set(vb) if va.get(k) != vb.get(k))
            out.append(f"{key}: differ at {keys[:8]}")
        else:
            out.append(f"{key}: {va!r} vs {vb!r}")
    return out
