"""Media sync, against the official server and ours.

Real clients (Anki's Rust media syncer via the `anki` package) do the syncing;
raw v11 requests are used for what a real client cannot send (hostile
uploads, protocol edge cases) and to read the server's view (begin,
mediaSanity).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sqlite3
import struct
import subprocess
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest
from anki.errors import BackendError

from harness import builders, raw
from harness.client import FULL_DOWNLOAD, FULL_UPLOAD, Client, required_name
from harness.server import REPO_ROOT, SyncServer

MEDIA_TOOL = REPO_ROOT / "dist" / "media" / "tools" / "media-tool.js"
MIB = 1024 * 1024
MEDIA_SYNC_TIMEOUT = 180.0


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def wait_media_sync(c: Client) -> Any:
    """Waits for the client's background media sync; raises what it failed with."""
    deadline = time.monotonic() + MEDIA_SYNC_TIMEOUT
    while True:
        status = c.col.media_sync_status()  # raises if the sync ended in an error
        if not status.active:
            return status
        if time.monotonic() > deadline:
            c.col.abort_media_sync()
            raise AssertionError(f"{c.name}: media sync still running after {MEDIA_SYNC_TIMEOUT}s")
        time.sleep(0.05)


def media_sync(c: Client) -> Any:
    """A standalone media sync (starts with msync/begin)."""
    assert c.auth is not None
    c.col.sync_media(c.auth)
    return wait_media_sync(c)


def sync_with_media(c: Client) -> int:
    """A normal collection sync with media on: the media sync reuses meta's media_usn (no begin)."""
    assert c.auth is not None
    out = c.col.sync_collection(c.auth, True)
    wait_media_sync(c)
    return out.required


def media_dir(c: Client) -> Path:
    """The client's media folder: collection.media beside collection.anki2."""
    return c.path.with_suffix(".media")


def folder_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def client_media_state(c: Client) -> dict[str, int]:
    """The client's own media DB: files it counts, changes pending upload, last usn."""
    db = sqlite3.connect(c.path.with_suffix(".media.db2"))
    try:
        files = db.execute("select count(*) from media where csum is not null").fetchone()[0]
        dirty = db.execute("select count(*) from media where dirty = 1").fetchone()[0]
        last_usn = db.execute("select lastUsn from meta").fetchone()[0]
    finally:
        db.close()
    return {"files": files, "dirty": dirty, "last_usn": last_usn}


def msync(server: SyncServer, key: str, method: str, payload: Any) -> raw.RawResponse:
    return raw.v11(server.endpoint, method, payload, key=key, prefix="msync")


def mresult(r: raw.RawResponse) -> Any:
    assert r.status == 200, r.describe()
    body = r.json()
    assert body.get("err") == "", body
    return body["data"]


def server_usn(server: SyncServer, key: str) -> int:
    return mresult(msync(server, key, "begin", {"v": raw.CLIENT_VERSION}))["usn"]


def sanity(server: SyncServer, key: str, local: int) -> str:
    return mresult(msync(server, key, "mediaSanity", {"local": local}))


def upload_zip(
    files: list[tuple[str, bytes | None]],
    *,
    meta: Any = None,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    """An uploadChanges zip as rslib builds it: entries "0", "1", ... and a `_meta` array of pairs."""
    buf = io.BytesIO()
    rows: list[list[Any]] = []
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for i, (name, data) in enumerate(files):
            if data is None:
                rows.append([name, None])
            else:
                zf.writestr(str(i), data)
                rows.append([name, str(i)])
        zf.writestr("_meta", json.dumps(rows if meta is None else meta))
    return buf.getvalue()


def upload(server: SyncServer, key: str, zip_bytes: bytes) -> raw.RawResponse:
    return raw.v11(server.endpoint, "uploadChanges", zip_bytes, key=key, prefix="msync", timeout=120)


def download_files(server: SyncServer, key: str, names: list[str]) -> raw.RawResponse:
    return msync(server, key, "downloadFiles", {"files": names})


def unzip_download(payload: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        meta = json.loads(zf.read("_meta"))
        assert isinstance(meta, dict), meta
        out = {meta[n]: zf.read(n) for n in zf.namelist() if n != "_meta"}
        assert len(out) == len(meta)
        return out


def run_media_tool(*args: str) -> dict[str, Any]:
    node = os.environ.get("INTEROP_NODE", "node")
    proc = subprocess.run([node, str(MEDIA_TOOL), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def tree(base: Path) -> dict[str, tuple[int, str]]:
    """Every file under base (SQLite side files excluded) with its size and hash."""
    out = {}
    for p in base.rglob("*"):
        if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal")):
            out[str(p.relative_to(base))] = (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
    return out


def logged_in(make_client, server: SyncServer, name: str) -> Client:
    c = make_client(name)
    c.login(server.endpoint, "alice", "alicepass")
    return c


# ---------------------------------------------------------------------------
# 1. a realistic media collection between two devices, across restarts
# ---------------------------------------------------------------------------


def media_names(count: int) -> list[str]:
    kinds = [
        lambda i: f"photo {i} from trip.jpg",  # spaces
        lambda i: f"clip_{i}.mp3",
        lambda i: f"café crème {i}.png",  # accents, NFC
        lambda i: f"日本語の音声_{i}.ogg",  # CJK
        lambda i: f"🎉 party {i} 🦊.gif",  # emoji
        lambda i: f"Ünïcödé-Straße_{i}.webp",
        lambda i: f"diagram-{i}.svg",
    ]
    names = [kinds[i % len(kinds)](i) for i in range(count)]
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    return names


def test_media_roundtrip_two_devices(server, make_client):
    rng = random.Random(5)
    a = logged_in(make_client, server, "A")
    names = media_names(499)
    content = {n: rng.randbytes(rng.randint(200, 24_000)) for n in names}
    content["big lecture recording.mp4"] = rng.randbytes(20 * MIB)
    # written straight into the media folder, as a user or add-on would
    # (col.media.write_data lowercases some names in this client version)
    for name, data in content.items():
        (media_dir(a) / name).write_bytes(data)
    # notes referencing every file, as images and sounds
    items = list(content)
    fronts = []
    for i in range(0, len(items), 5):
        chunk = items[i : i + 5]
        fronts.append(" ".join(f'<img src="{n}">' if j % 2 == 0 else f"[sound:{n}]" for j, n in enumerate(chunk)))
    builders.add_basic_notes(a.col, fronts)
    assert a.col.media.check().missing == []

    required, action = a.sync_resolving_full()
    assert (required, action) == (FULL_UPLOAD, "upload"), required_name(required)
    media_sync(a)
    key = a.auth.hkey
    assert server_usn(server, key) == 500  # one usn per added file
    assert client_media_state(a) == {"files": 500, "dirty": 0, "last_usn": 500}

    server.restart()

    b = logged_in(make_client, server, "B")
    required, action = b.sync_resolving_full(prefer="download")
    assert (required, action) == (FULL_DOWNLOAD, "download"), required_name(required)
    media_sync(b)
    assert folder_hashes(media_dir(b)) == folder_hashes(media_dir(a))
    assert {n: hashlib.sha1(d).hexdigest() for n, d in content.items()} == folder_hashes(media_dir(b))
    assert client_media_state(b) == {"files": 500, "dirty": 0, "last_usn": 500}
    assert b.col.media.check().missing == []
    assert sanity(server, key, 500) == "OK"
    assert sanity(server, key, 501) == "mediaSanity"
    assert sanity(server, key, 499) == "mediaSanity"

    # -- deletions, replacements and additions on both sides ---------------
    time.sleep(0.05)  # the change tracker works from mtimes
    removed = items[:10]
    replaced = items[10:20]
    a.col.media.trash_files(removed)
    for n in replaced:
        (media_dir(a) / n).write_bytes(b"replaced " + n.encode() + rng.randbytes(500))
    added_a = [f"new on A {i}.png" for i in range(5)]
    added_b = [f"new on B {i} ß.png" for i in range(5)]
    for n in added_a:
        (media_dir(a) / n).write_bytes(rng.randbytes(3000))
    for n in added_b:
        (media_dir(b) / n).write_bytes(rng.randbytes(3000))

    media_sync(a)
    assert server_usn(server, key) == 500 + 10 + 10 + 5
    server.restart()
    # B syncs the normal way: collection sync, media sync started from meta's media_usn
    sync_with_media(b)
    media_sync(a)

    ha, hb = folder_hashes(media_dir(a)), folder_hashes(media_dir(b))
    assert ha == hb
    assert not set(removed) & set(hb)
    assert set(added_a) | set(added_b) <= set(hb)
    for n in replaced:
        assert (media_dir(b) / n).read_bytes().startswith(b"replaced ")
    usn = server_usn(server, key)
    assert usn == 500 + 10 + 10 + 5 + 5
    for c in (a, b):
        state = client_media_state(c)
        assert state["files"] == 500 and state["dirty"] == 0, (c.name, state)
    assert client_media_state(b)["last_usn"] == usn
    assert sanity(server, key, 500) == "OK"

    # nothing left to do: a further sync of either device sends no media request
    # and changes nothing
    media_sync(b)
    assert folder_hashes(media_dir(b)) == hb
    assert server_usn(server, key) == usn


# ---------------------------------------------------------------------------
# 2. protocol details (raw)
# ---------------------------------------------------------------------------


def test_begin_get_and_post(server):
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    data = mresult(msync(server, key, "begin", {"v": "anki,2.1.66 (test),linux"}))
    assert data == {"usn": 0, "sk": key}
    # empty / missing client version
    assert msync(server, key, "begin", {"v": ""}).status == 400
    assert msync(server, key, "begin", {}).status == 400
    assert msync(server, "0" * 40, "begin", {"v": "x"}).status == 403
    # the GET form of old Rust clients, answered raw (no zstd, no size header)
    r = raw.request(server.endpoint, f"msync/begin?k={key}&v=anki%2C2.1.50%2Clinux", http_method="GET")
    assert r.status == 200, r.describe()
    assert "anki-original-size" not in r.headers
    assert json.loads(r.body) == {"data": {"usn": 0, "sk": key}, "err": ""}
    assert raw.request(server.endpoint, "msync/begin?k=nope&v=x", http_method="GET").status == 403
    assert raw.request(server.endpoint, f"msync/begin?k={key}&v=", http_method="GET").status == 400
    assert raw.request(server.endpoint, f"msync/begin?k={key}", http_method="GET").status == 400


def test_upload_usn_bookkeeping_and_changes(server):
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    assert mresult(upload(server, key, upload_zip([("a.txt", b"a1"), ("b.txt", b"b1"), ("c.txt", b"c1")]))) == [3, 3]
    # identical content and deleting something absent: no usn
    assert mresult(upload(server, key, upload_zip([("a.txt", b"a1"), ("never.txt", None)]))) == [2, 3]
    # replace, delete, and the same name twice in one batch (deflated entries too)
    z = upload_zip([("a.txt", b"a2"), ("b.txt", None), ("c.txt", b"c2"), ("c.txt", b"c3")], compression=zipfile.ZIP_DEFLATED)
    assert mresult(upload(server, key, z)) == [4, 7]
    # deletion marked with "" (older clients) and the object form of _meta
    z = upload_zip([], meta=[{"actual_filename": "c.txt", "filename_in_zip": ""}])
    assert mresult(upload(server, key, z)) == [1, 8]
    assert mresult(upload(server, key, upload_zip([("c.txt", None)]))) == [1, 8]

    changes = mresult(msync(server, key, "mediaChanges", {"lastUsn": 0}))
    sha = lambda d: hashlib.sha1(d).hexdigest()  # noqa: E731
    assert changes == [["a.txt", 4, sha(b"a2")], ["b.txt", 5, ""], ["c.txt", 8, ""]]
    assert mresult(msync(server, key, "mediaChanges", {"lastUsn": 5})) == [["c.txt", 8, ""]]
    assert mresult(msync(server, key, "mediaChanges", {"lastUsn": 8})) == []
    assert msync(server, key, "mediaChanges", {}).status == 400
    assert sanity(server, key, 1) == "OK"
    assert server_usn(server, key) == 8
    # the collection meta reports the same media usn
    assert raw.meta(server.endpoint, key).json()["media_usn"] == 8

    # paging: 1,100 changes come back in usn order, at most 1000 at a time
    batch: list[tuple[str, bytes | None]] = []
    for i in range(1100):
        batch.append((f"p{i:04}", b"x%d" % i))
        if len(batch) == 25:
            assert upload(server, key, upload_zip(batch)).status == 200
            batch = []
    assert upload(server, key, upload_zip(batch)).status == 200
    first = mresult(msync(server, key, "mediaChanges", {"lastUsn": 0}))
    assert len(first) == 1000
    assert [row[1] for row in first] == sorted(row[1] for row in first)
    rest = mresult(msync(server, key, "mediaChanges", {"lastUsn": first[-1][1]}))
    assert len(rest) == 3 + 1100 - 1000
    assert rest[-1][1] == server_usn(server, key) == 8 + 1100


def test_download_files_limits(server):
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    rng = random.Random(7)
    big = {f"two-mib-{i}.bin": rng.randbytes(2 * MIB) for i in range(3)}
    for name, data in big.items():
        assert upload(server, key, upload_zip([(name, data)])).status == 200
    small = {f"s{i}.txt": b"small %d" % i for i in range(30)}
    items = list(small.items())
    assert upload(server, key, upload_zip(items[:25])).status == 200
    assert upload(server, key, upload_zip(items[25:] + [("gone.txt", b"g")])).status == 200
    assert upload(server, key, upload_zip([("gone.txt", None)])).status == 200

    # running size passes 2.5 MiB with the second file: the reply stops there
    r = download_files(server, key, list(big))
    assert r.status == 200, r.describe()
    got = unzip_download(r.payload)
    assert list(got) == list(big)[:2]
    assert all(got[n] == big[n] for n in got)
    # a single file bigger than the target still comes alone
    assert list(unzip_download(download_files(server, key, list(big)[2:]).payload)) == list(big)[2:]
    # 25 small files in one reply, in order; 26 is too many
    r = download_files(server, key, list(small)[:25])
    assert list(unzip_download(r.payload)) == list(small)[:25]
    assert download_files(server, key, list(small)[:26]).status == 400
    # deleted or unknown names: conflict
    assert download_files(server, key, ["s0.txt", "gone.txt"]).status == 409
    assert download_files(server, key, ["nope.txt"]).status == 409
    assert download_files(server, key, []).status == 200


# ---------------------------------------------------------------------------
# 3. hostile uploads
# ---------------------------------------------------------------------------


def deflate_bomb(declared: int | None, inflated: int) -> bytes:
    """One deflated entry of `inflated` zero bytes; `declared` rewrites the size headers (a lying zip)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("0", "w", force_zip64=False) as f:
            chunk = bytes(MIB)
            for _ in range(inflated // MIB):
                f.write(chunk)
        zf.writestr("_meta", json.dumps([["bomb.bin", "0"]]))
    data = bytearray(buf.getvalue())
    if declared is not None:
        local = data.index(b"PK\x03\x04")
        struct.pack_into("<I", data, local + 22, declared)
        central = data.index(b"PK\x01\x02")
        struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def hostile_cases(outside: Path) -> dict[str, tuple[bytes, set[int]]]:
    """name -> (zip, statuses the official server is allowed to answer). Ours must answer 400 to all."""
    ok_first = ("fine.txt", b"fine")
    by_name = lambda n: upload_zip([ok_first, (n, b"evil")])  # noqa: E731
    valid = upload_zip([ok_first])
    return {
        "dotdot-slash": (by_name("../x"), {400}),
        "dotdot-dotdot": (by_name("../../x"), {400}),
        "absolute": (by_name(str(outside / "x")), {400}),
        "slash": (by_name("a/b"), {400}),
        # the official server accepts these names and then fails on the disk (500) or writes a file
        "nul": (by_name("a\u0000b"), {400, 500}),
        "dotdot": (by_name(".."), {400, 500}),
        "dot": (by_name("."), {400, 500}),
        "empty-name": (by_name(""), {400, 500}),
        "control-char": (by_name("a\u0001b"), {200, 400}),
        "300-bytes": (by_name("n" * 296 + ".txt"), {400}),
        "nfd": (by_name(unicodedata.normalize("NFD", "café.txt")), {400}),
        "26-entries": (upload_zip([(f"f{i}", b"x") for i in range(26)]), {400}),
        "zero-bytes": (upload_zip([ok_first, ("empty.txt", b"")]), {400}),
        "missing-entry": (upload_zip([ok_first], meta=[["fine.txt", "0"], ["x.txt", "7"]]), {400}),
        "no-meta": (valid.replace(b"_meta", b"_mexa"), {400}),
        "meta-not-json": (_zip_with_raw_meta(b'[["fine.txt", "0"]'), {400}),
        "meta-object": (upload_zip([ok_first], meta={"fine.txt": "0"}), {400}),
        "corrupt": (b"PK\x03\x04" + os.urandom(2000), {400}),
        "truncated": (valid[: len(valid) // 2], {400}),
        "empty-body": (b"", {400}),
        "bomb-over-100mib": (deflate_bomb(None, 101 * MIB), {400}),
    }


def _zip_with_raw_meta(meta: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("0", b"fine")
        zf.writestr("_meta", meta)
    return buf.getvalue()


def test_hostile_uploads_refused(server, make_client, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    key = raw.login_key(server.endpoint, "alice", "alicepass")
    assert upload(server, key, upload_zip([("before.txt", b"before")])).status == 200
    user_dir = server.user_dir("alice")
    media = user_dir / "media"

    cases = hostile_cases(outside)
    if server.kind == "ours":
        # lying size headers: a deflate stream far larger than declared
        cases["bomb-lying-header"] = (deflate_bomb(1000, 150 * MIB), {400})
        # more file bytes than any real batch can carry (2.5 MiB + 100 MiB)
        cases["batch-too-large"] = (_two_big_entries(), {400})

    for name, (body, official_ok) in cases.items():
        before_tree = tree(server.base)
        before_usn = server_usn(server, key)
        r = upload(server, key, body)
        if server.kind == "ours":
            assert r.status == 400, (name, r.describe())
        else:
            assert r.status in official_ok, (name, r.describe())
        after_tree = tree(server.base)
        changed = {p for p in set(before_tree) | set(after_tree) if before_tree.get(p) != after_tree.get(p)}
        if r.status != 200:
            assert server_usn(server, key) == before_usn, name
        if r.status == 400:
            # nothing applied: not even the valid first entry. (When the official
            # server fails with 500 midway, files it wrote before stay on disk.)
            assert not {p for p in changed if p.startswith("alice/media/")}, (name, changed)
        # whatever happened, nothing was written outside the user's media folder
        assert not {p for p in changed if not p.startswith("alice/media/") and not p.endswith("media.db")}, (name, changed)
        assert list(outside.iterdir()) == [], name
        assert not (user_dir / "x").exists() and not (server.base / "x").exists(), name
        assert not (media / "fine.txt").exists() or server.kind == "official", name

    # the next real sync works
    a = logged_in(make_client, server, "A")
    (media_dir(a) / "real.png").write_bytes(b"real data")
    media_sync(a)
    b = logged_in(make_client, server, "B")
    media_sync(b)
    assert (media_dir(b) / "real.png").read_bytes() == b"real data"
    assert (media_dir(b) / "before.txt").read_bytes() == b"before"
    assert sanity(server, key, client_media_state(b)["files"]) == "OK"


def _two_big_entries() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(2):
            with zf.open(str(i), "w") as f:
                for _ in range(60):
                    f.write(bytes(MIB))
        zf.writestr("_meta", json.dumps([["big0.bin", "0"], ["big1.bin", "1"]]))
    return buf.getvalue()


# ---------------------------------------------------------------------------
# 4. the "stuck" case: the server lost files its media DB still lists
# ---------------------------------------------------------------------------


def test_lost_server_files_recover_with_reconcile(server, make_client):
    if not MEDIA_TOOL.exists():
        pytest.skip(f"{MEDIA_TOOL} is not built (npm run build)")
    rng = random.Random(11)
    a = logged_in(make_client, server, "A")
    content = {f"card image {i}.jpg": rng.randbytes(rng.randint(100, 5000)) for i in range(40)}
    for name, data in content.items():
        (media_dir(a) / name).write_bytes(data)
    media_sync(a)
    key = a.auth.hkey

    # the server loses 15 files (disk trouble, a media.db restored without its folder, ...)
    server.stop()
    lost = sorted(content)[5:20]
    for name in lost:
        (server.user_dir("alice") / "media" / name).unlink()
    server.start()

    # a second device is stuck: every attempt ends in a conflict
    b = logged_in(make_client, server, "B")
    for _ in range(2):
        with pytest.raises(BackendError):
            media_sync(b)
    # and the device that has the files sees nothing to do
    media_sync(a)
    assert client_media_state(a)["dirty"] == 0

    # operator step, server stopped
    server.stop()
    report = run_media_tool("reconcile", str(server.base), "alice")
    server.start()
    # each failed attempt already forgot one file (official behaviour); the tool forgets the rest
    assert len(report["missing"]) == len(lost) - 2
    assert report["totalsAfter"] == {"bytes": sum(len(content[n]) for n in content if n not in lost), "files": 25}
    assert report["lastUsnAfter"] == report["lastUsnBefore"] + 1

    # A: the sanity check fails once and resets A's media state ...
    with pytest.raises(BackendError):
        media_sync(a)
    # ... and the next sync sends A's copies of the lost files
    media_sync(a)
    media_sync(b)
    assert folder_hashes(media_dir(b)) == folder_hashes(media_dir(a)) == {
        n: hashlib.sha1(d).hexdigest() for n, d in content.items()
    }
    assert sanity(server, key, 40) == "OK"
    for c in (a, b):
        assert client_media_state(c)["dirty"] == 0
    # and a further round is quiet
    media_sync(a)
    media_sync(b)
    assert folder_hashes(media_dir(b)) == folder_hashes(media_dir(a))


# ---------------------------------------------------------------------------
# 5. the server dies in the middle of a media sync
# ---------------------------------------------------------------------------


def test_server_killed_mid_upload_stays_consistent(server, make_client):
    if not MEDIA_TOOL.exists():
        pytest.skip(f"{MEDIA_TOOL} is not built (npm run build)")
    rng = random.Random(13)
    a = logged_in(make_client, server, "A")
    content = {f"slide {i:03}.png": rng.randbytes(rng.randint(60_000, 140_000)) for i in range(300)}
    for name, data in content.items():
        (media_dir(a) / name).write_bytes(data)
    server_media = server.user_dir("alice") / "media"

    a.col.sync_media(a.auth)
    deadline = time.monotonic() + 60
    while sum(1 for _ in server_media.iterdir()) < 60:
        assert time.monotonic() < deadline, "upload never got going"
        time.sleep(0.005)
    server.proc.kill()  # SIGKILL: no chance to tidy up
    server.proc.wait()
    with pytest.raises(BackendError):
        wait_media_sync(a)
    server.stop()
    server.start()

    media_sync(a)
    b = logged_in(make_client, server, "B")
    media_sync(b)
    expected = {n: hashlib.sha1(d).hexdigest() for n, d in content.items()}
    assert folder_hashes(media_dir(a)) == folder_hashes(media_dir(b)) == expected
    key = a.auth.hkey
    assert sanity(server, key, 300) == "OK"
    assert server_usn(server, key) == 300

    # the server's DB and folder agree: every current entry has its file, with its content
    server.stop()
    report = run_media_tool("reconcile", str(server.base), "alice", "--dry-run")
    server.start()
    assert (report["missing"], report["wrongSize"], report["wrongContent"]) == ([], [], [])
    assert report["totalsBefore"] == report["totalsAfter"] == {"bytes": sum(map(len, content.values())), "files": 300}
