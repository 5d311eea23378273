"""Core interoperability scenarios, each run against the official server and ours.

The client is Anki's own Rust sync client (the `anki` package); raw v11 HTTP
is used only where a real client cannot produce the request (other users'
keys, corrupt or malformed bodies, response-shape checks).
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from anki.errors import BackendError, SyncError, SyncErrorKind

from harness import builders, compare, raw
from harness.client import (
    FULL_DOWNLOAD,
    FULL_SYNC,
    FULL_UPLOAD,
    NO_CHANGES,
    Client,
    open_collection_bytes,
    required_name,
)
from harness.proxy import RewritingProxy
from harness.server import SyncServer

AUTH_FAILED_TEXT = "Email or password was incorrect; please try again."
UPLOAD_CORRUPT_TEXT = "Your upload was corrupt. Please use Check Database, or restore from backup."

META_TYPES = {
    "mod": int,
    "scm": int,
    "usn": int,
    "ts": int,
    "msg": str,
    "cont": bool,
    "hostNum": int,
    "empty": bool,
    "media_usn": int,
}


def uploaded_client(make_client, server: SyncServer, user: str, password: str, fronts: list[str]) -> Client:
    """A device with a few Basic notes that logged in and full-uploaded them."""
    c = make_client(user)
    builders.add_basic_notes(c.col, fronts, tags=[f"owner::{user}"])
    c.login(server.endpoint, user, password)
    required, action = c.sync_resolving_full()
    assert (required, action) == (FULL_UPLOAD, "upload"), required_name(required)
    assert c.pending() == "no_changes"
    return c


def downloaded_fronts(endpoint: str, key: str, folder: Path) -> set[str]:
    r = raw.download(endpoint, key)
    assert r.status == 200, r.describe()
    assert r.payload.startswith(b"SQLite format 3\x00")
    col = open_collection_bytes(r.payload, folder)
    try:
        return builders.fronts(col)
    finally:
        col.close()


def strict_int(v) -> bool:
    return type(v) is int


# ---------------------------------------------------------------------------
# 1. login
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user,password",
    [
        ("alice", "wrongpass"),
        ("alice", ""),
        ("alice", "alicepas"),  # prefix of the real password
        ("Alice", "alicepass"),  # user names are case-sensitive
        ("nobody", "alicepass"),  # unknown user
        ("", ""),
    ],
    ids=["wrong-password", "empty-password", "password-prefix", "user-case", "unknown-user", "empty-both"],
)
def test_login_rejected_with_auth_error(server, make_client, user, password):
    # a fresh server per case: failed logins may be throttled per address
    c = make_client()
    with pytest.raises(SyncError) as excinfo:
        c.col.sync_login(user, password, server.endpoint)
    # what the user sees: the "incorrect password" message, and the client
    # classifies it as an auth failure (it then forgets the stored login)
    assert excinfo.value.kind == SyncErrorKind.AUTH
    assert str(excinfo.value) == AUTH_FAILED_TEXT
    # and on the wire it is a 403
    r = raw.host_key(server.endpoint, user, password)
    assert r.status == 403, r.describe()


def test_login_success_returns_working_host_key(server, make_client):
    c = make_client()
    auth = c.login(server.endpoint, "alice", "alicepass")
    assert auth.hkey
    # the key works: an empty client against an empty server syncs fine
    assert c.sync().required == NO_CHANGES
    # a second device logs in; the first device's key must keep working
    d = make_client("second-device")
    d.login(server.endpoint, "alice", "alicepass")
    assert d.sync().required == NO_CHANGES
    assert c.sync().required == NO_CHANGES
    assert raw.meta(server.endpoint, auth.hkey).status == 200
    bob = make_client("bob").login(server.endpoint, "bob", "bobpass")
    assert bob.hkey not in (auth.hkey, d.auth.hkey)


def test_host_key_form(server):
    """The official server derives one key per user: sha1("user:password").
    Ours issues a random key per login (one per device, revocable, stored
    hashed), as our core issue asks; both are 40 lowercase hex characters, the
    form clients expect. Each of our keys keeps working after later logins."""
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    assert len(key) == 40 and all(c in "0123456789abcdef" for c in key)
    derived = hashlib.sha1(b"alice:alicepass").hexdigest()
    if server.kind == "official":
        assert key == derived
        return
    second = raw.login_key(server.endpoint, "alice", "alicepass")
    assert key != second and derived not in (key, second)
    assert raw.meta(server.endpoint, key).status == 200
    assert raw.meta(server.endpoint, second).status == 200


# ---------------------------------------------------------------------------
# 2. user isolation
# ---------------------------------------------------------------------------


def test_host_key_only_reaches_its_own_collection(server, make_client, tmp_path):
    alice = uploaded_client(make_client, server, "alice", "alicepass", ["alice-1", "alice-2", "alice-3"])
    bob = uploaded_client(make_client, server, "bob", "bobpass", ["bob-1", "bob-2"])
    ka, kb = alice.auth.hkey, bob.auth.hkey
    assert ka != kb

    # reading: each key downloads its own user's collection
    assert downloaded_fronts(server.endpoint, ka, tmp_path / "dl-a") == {"alice-1", "alice-2", "alice-3"}
    assert downloaded_fronts(server.endpoint, kb, tmp_path / "dl-b") == {"bob-1", "bob-2"}

    # writing: a device logged in as alice replaces alice's collection only
    other = make_client("alice-other")
    builders.add_basic_notes(other.col, ["alice-new"])
    other.login(server.endpoint, "alice", "alicepass")
    required, action = other.sync_resolving_full(prefer="upload")
    assert (required, action) == (FULL_SYNC, "upload"), required_name(required)
    assert downloaded_fronts(server.endpoint, ka, tmp_path / "dl-a2") == {"alice-new"}
    assert downloaded_fronts(server.endpoint, kb, tmp_path / "dl-b2") == {"bob-1", "bob-2"}
    # bob's device still syncs without a full sync and keeps its data
    assert bob.sync().required == NO_CHANGES
    assert builders.fronts(bob.col) == {"bob-1", "bob-2"}

    # a garbage key gets 403 everywhere and changes nothing
    some_collection = raw.download(server.endpoint, ka).payload
    bob_meta = bob.server_meta()
    for key in [k for k in ("0" * 40, "garbage", ka[:-1], ka + "0", ka.upper(), "") if k != ka]:
        assert raw.meta(server.endpoint, key).status == 403, key
        assert raw.download(server.endpoint, key).status == 403, key
        assert raw.upload(server.endpoint, key, some_collection).status == 403, key
    for field in ("mod", "scm", "usn", "empty"):
        assert bob.server_meta()[field] == bob_meta[field]
    assert downloaded_fronts(server.endpoint, kb, tmp_path / "dl-b3") == {"bob-1", "bob-2"}


# ---------------------------------------------------------------------------
# 3. empty client + empty server
# ---------------------------------------------------------------------------


def test_empty_client_empty_server_no_changes(server, make_client):
    c = make_client()
    c.login(server.endpoint, "alice", "alicepass")
    before = c.header()
    assert c.pending() == "no_changes"
    out = c.sync()
    assert out.required == NO_CHANGES, required_name(out.required)
    assert out.server_message == ""
    after = c.header()
    assert (after["mod"], after["scm"], after["usn"]) == (before["mod"], before["scm"], before["usn"])
    # a second fresh device too
    d = make_client("second")
    d.login(server.endpoint, "alice", "alicepass")
    assert d.sync().required == NO_CHANGES


# ---------------------------------------------------------------------------
# 4 + 5. full upload of a realistic collection, full download on a new device
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("restart", [False, True], ids=["no-restart", "restart-before-download"])
def test_full_upload_then_download_roundtrip(server, make_client, rich_collection, restart):
    template, info = rich_collection
    a = make_client("A", from_file=template)
    a.login(server.endpoint, "alice", "alicepass")

    # A has cards, the server is empty: full sync required, upload is the only option
    assert a.pending() == "full"
    out = a.sync()
    assert out.required == FULL_UPLOAD, required_name(out.required)
    a.full_upload()
    snap_a = compare.snapshot(a.col)
    assert a.pending() == "no_changes"  # server header now equals A's
    meta = a.server_meta()
    assert meta["empty"] is False
    assert (meta["mod"], meta["scm"]) == (a.header()["mod"], a.header()["scm"])

    if restart:
        server.restart()
        # A's stored host key still works, no new login, nothing to do
        usn_before = a.header()["usn"]
        assert a.pending() == "no_changes"
        out = a.sync()
        assert out.required == NO_CHANGES, required_name(out.required)
        assert a.header()["usn"] == usn_before

    b = make_client("B")
    b.login(server.endpoint, "alice", "alicepass")
    out = b.sync()
    # B is empty, the server is not: download is the only option
    assert out.required == FULL_DOWNLOAD, required_name(out.required)
    b.full_download()
    snap_b = compare.snapshot(b.col)

    # the content really is what A built (guards against comparing two empty collections)
    assert len(snap_b["notes"]) == info.note_count
    assert {n["notetype"] for n in snap_b["notes"].values()} == set(info.notetypes)
    assert len(snap_b["cards"]) > info.note_count
    assert len(snap_b["revlog"]) == info.reviews > 0
    for deck, preset in info.presets.items():
        assert snap_b["deck_presets"][deck] == preset
    assert snap_b["deck_configs"]["Intensive"]["new"]["perDay"] == 55
    assert snap_b["deck_configs"]["Intensive"]["rev"]["maxIvl"] == 3650
    assert snap_b["deck_configs"]["Gentle ✓"]["autoplay"] is False
    assert {"日本語", "a::b::c", "emoji_🎉", "Ünïcode::Sub-tag"} <= set(snap_b["tags"])
    assert any(c["queue"] == -1 for c in snap_b["cards"].values()), "suspended cards lost"
    assert any(c["flags"] == 3 for c in snap_b["cards"].values()), "card flags lost"
    assert ".word { font-weight: bold }" in snap_b["notetypes"][builders.CUSTOM_NOTETYPE]["css"]

    compare.assert_same(snap_a, snap_b, "uploader A and downloader B")
    assert b.pending() == "no_changes"

    # both sync again: never a full sync, nothing changes
    for dev in (a, b):
        out = dev.sync()
        assert out.required == NO_CHANGES, (dev.name, required_name(out.required))
    # B synced last: it is now exactly in step with the server
    assert b.pending() == "no_changes"
    hb = b.header()
    assert b.sync().required == NO_CHANGES
    assert (b.header()["mod"], b.header()["usn"]) == (hb["mod"], hb["usn"])
    compare.assert_same(snap_a, compare.snapshot(a.col), "A before/after the extra syncs")
    compare.assert_same(snap_a, compare.snapshot(b.col), "A and B after the extra syncs")


# ---------------------------------------------------------------------------
# 6. corrupt uploads
# ---------------------------------------------------------------------------


def _random_bytes(template: Path) -> bytes:
    return random.Random(1234).randbytes(64 * 1024)


def _truncated_collection(template: Path) -> bytes:
    data = template.read_bytes()
    return data[: len(data) // 2]


def _sqlite_not_a_collection(template: Path) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        p = Path(folder) / "not-a-collection.sqlite"
        con = sqlite3.connect(p)
        con.execute("create table t(x)")
        con.execute("insert into t values (1)")
        con.commit()
        con.close()
        return p.read_bytes()


def _empty_file(template: Path) -> bytes:
    return b""


@dataclass(frozen=True)
class CorruptCase:
    make: Callable[[Path], bytes]
    # The official server opens an upload as a collection and *creates* the
    # collection tables when they are missing, so it answers OK and replaces the
    # user's data with an empty collection. That is data loss; ours must reject
    # such files as corrupt (recommendation in 02-collection-sync.md §5).
    official_accepts: bool = False


CORRUPT_CASES = {
    "random-bytes": CorruptCase(_random_bytes),
    "truncated-collection": CorruptCase(_truncated_collection),
    "sqlite-not-a-collection": CorruptCase(_sqlite_not_a_collection, official_accepts=True),
    "empty-file": CorruptCase(_empty_file, official_accepts=True),
}


@pytest.mark.parametrize("case_name", list(CORRUPT_CASES))
def test_corrupt_upload_rejected_and_collection_kept(server, make_client, rich_collection, case_name):
    case = CORRUPT_CASES[case_name]
    template, _ = rich_collection
    a = uploaded_client(make_client, server, "alice", "alicepass", ["keep-1", "keep-2"])
    snap_a = compare.snapshot(a.col)
    meta_before = a.server_meta()

    r = raw.upload(server.endpoint, a.auth.hkey, case.make(template))
    assert r.status == 200, r.describe()
    assert r.original_size == len(r.payload)

    if server.kind == "official" and case.official_accepts:
        # documented official quirk (see CorruptCase): accepted, data replaced
        assert r.text == "OK"
        assert a.server_meta()["empty"] is True
        return

    assert r.text == UPLOAD_CORRUPT_TEXT
    # the stored collection is unchanged ...
    meta_after = a.server_meta()
    for field in ("mod", "scm", "usn", "empty"):
        assert meta_after[field] == meta_before[field], field
    # ... as the real clients see it: A has nothing to do, a new device downloads A's data
    assert a.pending() == "no_changes"
    assert a.sync().required == NO_CHANGES
    b = make_client("B")
    b.login(server.endpoint, "alice", "alicepass")
    assert b.sync().required == FULL_DOWNLOAD
    b.full_download()
    compare.assert_same(snap_a, compare.snapshot(b.col), "A and B after a rejected upload")


def test_corrupt_upload_through_real_client_shows_error(server, make_client):
    """The real client's full upload, with its body swapped for garbage on the way:
    the user gets the server's sentence as the error, and the server keeps the old data."""
    a = uploaded_client(make_client, server, "alice", "alicepass", ["keep-1", "keep-2"])
    snap_server = compare.snapshot(a.col)
    builders.add_basic_notes(a.col, ["local-only"])
    hkey = a.auth.hkey

    def garble(path: str, payload: bytes):
        return random.Random(99).randbytes(len(payload)) if path.endswith("/sync/upload") else None

    with RewritingProxy(server.port, garble) as proxy:
        a.use_auth(hkey, proxy.endpoint)
        with pytest.raises(BackendError) as excinfo:
            a.full_upload()
        assert proxy.rewritten == ["/sync/upload"]
    assert str(excinfo.value) == UPLOAD_CORRUPT_TEXT

    b = make_client("B")
    b.login(server.endpoint, "alice", "alicepass")
    assert b.sync().required == FULL_DOWNLOAD
    b.full_download()
    assert builders.fronts(b.col) == {"keep-1", "keep-2"}
    compare.assert_same(snap_server, compare.snapshot(b.col), "server copy before/after the failed upload")


# ---------------------------------------------------------------------------
# 7. malformed requests
#
# Every case records the exact status of the official server (anki 26.9.3):
# 400 for anything wrong with the `anki-sync` header (absent, not JSON, missing
# keys, wrong types, v outside 8..11), the zstd body (not zstd, truncated, wrong
# frame content size, empty) or the JSON (wrong shape, cut at the 3 x
# MAX_SYNC_PAYLOAD_MEGS decompressed limit), an unknown /sync/<method>, a
# stateful call without session key; 403 bad host key; 404 unknown route;
# 405 GET on a POST route; 409 stateful call without an active sync; 501 for a
# meta body version out of range; and 200 when bytes follow the first zstd frame
# (the official server stops decoding after one frame).
# ---------------------------------------------------------------------------

PAYLOAD_LIMIT_ENV = {"MAX_SYNC_PAYLOAD_MEGS": "1"}  # => 3 MiB decompressed limit
SHARED_SERVER_ENV = PAYLOAD_LIMIT_ENV  # env of the module's shared_server
META_BODY = {"v": 11, "cv": "anki,26.9.3 (interop),linux"}


def _zstd_wrong_content_size(key: str) -> bytes:
    frame = bytearray(raw.zstd_compress(raw.to_bytes(META_BODY)))
    # single-segment frame: byte 4 is the frame header descriptor, byte 5 the 1-byte content size
    assert frame[4] & 0x20 and len(raw.to_bytes(META_BODY)) < 256
    frame[5] += 7
    return bytes(frame)


def _oversized_meta_body() -> dict:
    return {**META_BODY, "pad": "x" * (3 * 1024 * 1024 + 4096)}


@dataclass(frozen=True)
class Malformed:
    official: int  # the exact status the official server answers (recorded against anki 26.9.3)
    send: Callable[[str, str], raw.RawResponse]  # (endpoint, valid host key) -> response
    note: str = ""
    # Ours must answer exactly `official` when that is a 4xx, or when exact=True;
    # otherwise (official 2xx/5xx) ours must answer some 4xx.
    exact: bool = False
    # Where ours deliberately answers another 4xx, the status it must give.
    ours: int | None = None

    def expected_for(self, kind: str) -> int:
        return self.ours if kind == "ours" and self.ours is not None else self.official


MALFORMED = {
    "no-sync-header": Malformed(400, lambda ep, k: raw.v11(ep, "meta", META_BODY, header=None)),
    "header-not-json": Malformed(400, lambda ep, k: raw.v11(ep, "meta", META_BODY, header="not json")),
    "header-missing-session": Malformed(
        400, lambda ep, k: raw.v11(ep, "meta", META_BODY, header={"v": 11, "k": k, "c": "x"})
    ),
    "header-missing-key": Malformed(
        400, lambda ep, k: raw.v11(ep, "meta", META_BODY, header={"v": 11, "s": "x", "c": "x"})
    ),
    "header-version-string": Malformed(400, lambda ep, k: raw.v11(ep, "meta", META_BODY, key=k, version="11")),
    "header-v7": Malformed(400, lambda ep, k: raw.v11(ep, "meta", META_BODY, key=k, version=7)),
    "header-v12": Malformed(400, lambda ep, k: raw.v11(ep, "meta", META_BODY, key=k, version=12)),
    "body-not-zstd": Malformed(400, lambda ep, k: raw.v11(ep, "meta", key=k, body=raw.to_bytes(META_BODY))),
    "body-random-bytes": Malformed(
        400, lambda ep, k: raw.v11(ep, "meta", key=k, body=random.Random(7).randbytes(200))
    ),
    "body-truncated-zstd": Malformed(
        400, lambda ep, k: raw.v11(ep, "meta", key=k, body=raw.zstd_compress(raw.to_bytes(META_BODY))[:-4])
    ),
    "body-zstd-wrong-content-size": Malformed(
        400, lambda ep, k: raw.v11(ep, "meta", key=k, body=_zstd_wrong_content_size(k))
    ),
    # The official server decodes only the first zstd frame and ignores what
    # follows, so it answers 200 here. Ours must reject the malformed body (4xx).
    "body-trailing-garbage": Malformed(
        200,
        lambda ep, k: raw.v11(ep, "meta", key=k, body=raw.zstd_compress(raw.to_bytes(META_BODY)) + b"garbage!"),
    ),
    "body-empty": Malformed(400, lambda ep, k: raw.v11(ep, "meta", key=k, body=b"")),
    "body-json-wrong-shape": Malformed(400, lambda ep, k: raw.v11(ep, "meta", {"x": 1}, key=k)),
    # Ours answers 413: the client then shows a network error naming the
    # problem, where 400 would tell the user to run Check Database.
    "body-over-limit": Malformed(
        400,
        lambda ep, k: raw.v11(ep, "meta", _oversized_meta_body(), key=k),
        "server started with MAX_SYNC_PAYLOAD_MEGS=1; decompressed body > 3 MiB",
        ours=413,
    ),
    "hostkey-missing-password": Malformed(400, lambda ep, k: raw.v11(ep, "hostKey", {"u": "alice"})),
    "start-without-session-key": Malformed(
        400, lambda ep, k: raw.v11(ep, "start", {"minUsn": 0, "lnewer": False, "graves": None}, key=k, session="")
    ),
    "chunk-without-active-sync": Malformed(409, lambda ep, k: raw.v11(ep, "chunk", key=k)),
    "garbage-host-key": Malformed(403, lambda ep, k: raw.meta(ep, "f" * 40)),
    # No client sends unknown methods; ours treats them like any unknown route.
    "unknown-sync-method": Malformed(400, lambda ep, k: raw.v11(ep, "nonsense", key=k), ours=404),
    "unknown-route": Malformed(404, lambda ep, k: raw.v11(ep, "bar", key=k, prefix="foo")),
    "get-on-post-route": Malformed(405, lambda ep, k: raw.request(ep, "sync/meta", http_method="GET")),
    # 501 is not an accident: it is how old clients learn "your client is too old"
    # (ClientTooOld in rslib), so ours must give exactly the same code.
    "meta-body-version-7": Malformed(501, lambda ep, k: raw.meta(ep, k, version=7), "ClientTooOld", exact=True),
}


def check_malformed_status(kind: str, name: str, case: Malformed, got: raw.RawResponse) -> None:
    what = f"{name}{' (' + case.note + ')' if case.note else ''}"
    if kind == "ours" and case.ours is not None:
        assert got.status == case.ours, f"{what}: expected {case.ours}: {got.describe()}"
    elif kind == "official" or case.exact or 400 <= case.official < 500:
        assert got.status == case.official, f"{what}: expected {case.official}: {got.describe()}"
    else:  # the official server accepts this (or fails with 5xx): ours must answer a 4xx
        assert 400 <= got.status < 500, f"{what}: expected a 4xx: {got.describe()}"


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_request_rejected(shared_server, name):
    server = shared_server
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    case = MALFORMED[name]
    r = case.send(server.endpoint, key)
    check_malformed_status(server.kind, name, case, r)
    assert server.is_running()
    # the server is still fine afterwards
    assert raw.meta(server.endpoint, key).status == 200


def test_malformed_barrage_then_real_sync_still_works(start_server, make_client):
    server = start_server(env=PAYLOAD_LIMIT_ENV)
    a = uploaded_client(make_client, server, "alice", "alicepass", ["before-1", "before-2"])
    snap_a = compare.snapshot(a.col)
    key = a.auth.hkey
    # exact statuses are test_malformed_request_rejected's job; here: survive them all in a row
    for case in MALFORMED.values():
        case.send(server.endpoint, key)
    assert server.is_running()
    # normal login + sync still work, data intact
    assert a.pending() == "no_changes"
    assert a.sync().required == NO_CHANGES
    b = make_client("B")
    b.login(server.endpoint, "alice", "alicepass")
    assert b.sync().required == FULL_DOWNLOAD
    b.full_download()
    compare.assert_same(snap_a, compare.snapshot(b.col), "A and B after malformed requests")
    builders.add_basic_notes(b.col, ["after"])
    out = b.sync()
    assert out.required == NO_CHANGES  # a normal sync was performed
    assert a.sync().required == NO_CHANGES
    assert builders.fronts(a.col) == {"before-1", "before-2", "after"}


def test_client_upload_body_accepted_whatever_the_chunking(server, make_client, rich_collection):
    """The real client streams its zstd body with chunked transfer encoding, so
    where HTTP chunk / TCP read boundaries fall in the zstd stream is arbitrary
    and must not matter. Record the exact body the real client sends for a full
    upload, then replay it with several chunkings (repeatedly: a decoder bug
    here shows up only for some boundaries)."""
    template, info = rich_collection
    a = make_client("A", from_file=template)
    with RewritingProxy(server.port) as proxy:
        a.login(proxy.endpoint, "alice", "alicepass")
        assert a.sync().required == FULL_UPLOAD
        a.full_upload()
    uploads = [body for path, _, body in proxy.requests if path == "/sync/upload"]
    assert len(uploads) == 1
    body = uploads[0]
    failures = []
    attempts = 60
    sizes = (1000, 1460, 4096, 8192, 16384)
    for attempt in range(attempts):
        size = sizes[attempt % len(sizes)]
        pieces = (body[i : i + size] for i in range(0, len(body), size))
        r = raw.v11(server.endpoint, "upload", key=a.auth.hkey, body=pieces, chunked=True)
        if (r.status, r.payload) != (200, b"OK"):
            failures.append(f"attempt {attempt}, {size}-byte chunks: {r.describe()}")
    assert not failures, f"{len(failures)}/{attempts} replayed uploads failed:\n" + "\n".join(failures)
    b = make_client("B")
    b.login(server.endpoint, "alice", "alicepass")
    assert b.sync().required == FULL_DOWNLOAD
    b.full_download()
    assert len(b.col.find_notes("")) == info.note_count


def test_payload_limit_applies_to_decompressed_size(shared_server):
    server = shared_server
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    within = {**META_BODY, "pad": "x" * (2 * 1024 * 1024)}  # tiny compressed, 2 MiB decompressed
    r = raw.v11(server.endpoint, "meta", within, key=key)
    assert r.status == 200, r.describe()
    r = raw.v11(server.endpoint, "meta", _oversized_meta_body(), key=key)
    assert r.status == MALFORMED["body-over-limit"].expected_for(server.kind), r.describe()


# ---------------------------------------------------------------------------
# 8. meta shape and the v11 response envelope
# ---------------------------------------------------------------------------


def check_meta_shape(m: dict) -> None:
    missing = set(META_TYPES) - set(m)
    assert not missing, f"meta lacks {missing}: {m}"
    for k, t in META_TYPES.items():
        ok = strict_int(m[k]) if t is int else type(m[k]) is t
        assert ok, f"meta[{k!r}] = {m[k]!r} is not {t.__name__}"
    assert m["cont"] is True and m["msg"] == "" and m["hostNum"] == 0
    assert abs(m["ts"] - time.time()) <= 60, "ts must be the server clock in seconds"
    assert m["scm"] > 10**12, "scm is in milliseconds"


def test_meta_response_shape(server, make_client):
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    r = raw.meta(server.endpoint, key)
    assert r.status == 200, r.describe()
    assert r.original_size == len(r.payload)
    m = r.json()
    check_meta_shape(m)
    # a never-used account: nothing stored yet
    assert (m["mod"], m["usn"], m["empty"], m["media_usn"]) == (0, 0, True, 0)

    a = uploaded_client(make_client, server, "alice", "alicepass", ["x"])
    r = raw.meta(server.endpoint, key)
    assert r.original_size == len(r.payload)
    m = r.json()
    check_meta_shape(m)
    h = a.header()
    assert (m["mod"], m["scm"], m["empty"]) == (h["mod"], h["scm"], False)


def test_every_v11_success_carries_original_size(server, tmp_path):
    """Walk every /sync/ method by hand (a complete empty normal sync, abort,
    download, upload): each 200 must carry `anki-original-size` = decoded length,
    with a zstd body, and the payloads must have the shapes the client parses."""
    ep = server.endpoint
    seen: list[str] = []

    def call(method: str, payload, **kw) -> raw.RawResponse:
        r = raw.v11(ep, method, payload, **kw)
        assert r.status == 200, r.describe()
        assert r.original_size is not None, f"{method}: no anki-original-size header"
        assert r.original_size == len(r.payload), f"{method}: size header {r.original_size} != {len(r.payload)}"
        seen.append(method)
        return r

    key = call("hostKey", {"u": "alice", "p": "alicepass"}).json()["key"]
    m = call("meta", META_BODY, key=key).json()
    check_meta_shape(m)
    graves = call("start", {"minUsn": m["usn"], "lnewer": False, "graves": None}, key=key).json()
    assert set(graves) == {"cards", "notes", "decks"}
    assert call("applyGraves", {"chunk": {"cards": [], "notes": [], "decks": []}}, key=key).json() is None
    changes = call("applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": []}}, key=key).json()
    assert {"models", "decks", "tags"} <= set(changes)
    assert len(changes["decks"]) == 2
    chunk = call("chunk", raw.EMPTY_INPUT, key=key).json()
    assert chunk["done"] is True
    assert call("applyChunk", {"chunk": {"done": True, "revlog": [], "cards": [], "notes": []}}, key=key).json() is None
    counts = [[0, 0, 0], 0, 0, 0, 0, len(changes["models"]), len(changes["decks"][0]), len(changes["decks"][1])]
    sanity = call("sanityCheck2", {"client": counts}, key=key).json()
    assert sanity["status"] == "ok", sanity
    finished = call("finish", raw.EMPTY_INPUT, key=key).json()
    assert strict_int(finished) and finished > 10**12
    assert call("meta", META_BODY, key=key).json()["mod"] == finished
    assert call("abort", raw.EMPTY_INPUT, key=key).json() is None
    data = call("download", raw.EMPTY_INPUT, key=key).payload
    assert data.startswith(b"SQLite format 3\x00")
    assert call("upload", data, key=key).payload == b"OK"
    assert seen[0] == "hostKey" and len(set(seen)) == 12
