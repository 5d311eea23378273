"""Older clients: sync protocol 8-10 (multipart forms, gzip, raw replies, schema 11).

Every request here is built by hand in the legacy wire format (legacy_helpers.py)
and sent to the selected server(s). Each test asserts the official server's
behaviour (anki 26.9.3, which still serves legacy requests), so passing on both
kinds means both answer alike; test_transcript_matches_official additionally
runs one whole legacy session against both servers and compares every decoded
response, with only the values that legitimately differ (times, host keys)
masked.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
from anki.collection import Collection

import legacy_helpers as L
from harness import builders, compare, raw
from harness.client import Client, open_collection_bytes
from harness.server import SyncServer

SQLITE_MAGIC = b"SQLite format 3\x00"
UPLOAD_CORRUPT = "Your upload was corrupt. Please use Check Database, or restore from backup."
UPLOAD_TOO_LARGE = "collection exceeds size limit"


# ---------------------------------------------------------------------------
# a schema-11 collection as a legacy client uploads it
# ---------------------------------------------------------------------------


def prepare_legacy_upload(path: Path) -> None:
    """What a legacy client does to its schema-11 file before a full upload:
    graves cleared, pending usns (-1) set to 0, every object's usn 0, col.usn
    bumped, ls = scm, mod = now."""
    db = sqlite3.connect(path)
    try:
        for table in ("notes", "cards", "revlog"):
            db.execute(f"update {table} set usn = 0 where usn = -1")
        db.execute("delete from graves")
        models, decks, dconf, tags = db.execute("select models, decks, dconf, tags from col").fetchone()
        fixed = []
        for text in (models, decks, dconf):
            objs = json.loads(text)
            for o in objs.values():
                o["usn"] = 0
            fixed.append(json.dumps(objs))
        fixed.append(json.dumps({t: 0 for t in json.loads(tags)}))
        db.execute(
            "update col set models = ?, decks = ?, dconf = ?, tags = ?, usn = usn + 1, ls = scm, mod = ?",
            (*fixed, int(time.time() * 1000)),
        )
        db.commit()
    finally:
        db.close()


def build_legacy_file(folder: Path, notes: int = 60) -> Path:
    c = Client(folder, "legacy-builder")
    builders.build_rich_collection(c.col, note_count=notes, reviews=15)
    c.col.close(downgrade=True)
    c.col = None
    path = folder / "collection.anki2"
    prepare_legacy_upload(path)
    return path


def snapshot_of_file(path: Path, dest: Path) -> dict[str, Any]:
    """The real client's view of (a copy of) a collection file."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest / "collection.anki2")
    col = Collection(str(dest / "collection.anki2"))
    try:
        return compare.snapshot(col)
    finally:
        col.close()


def col_header(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        ver, usn, mod, scm = db.execute("select ver, usn, mod, scm from col").fetchone()
        return {"ver": ver, "usn": usn, "mod": mod, "scm": scm}
    finally:
        db.close()


@pytest.fixture(scope="module")
def legacy_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A closed schema-11 collection ready for a legacy upload, and the real client's snapshot of it."""
    folder = tmp_path_factory.mktemp("legacy-template")
    path = build_legacy_file(folder)
    return path, snapshot_of_file(path, tmp_path_factory.mktemp("legacy-view"))


def legacy_upload(server: SyncServer, key: str, path: Path, **kw: Any) -> raw.RawResponse:
    """Full upload the way the 2.1.56 client sends it: gzip, data first, chunked."""
    return L.legacy(server.endpoint, "upload", data=L.gz(path.read_bytes()), key=key, chunked=True, **kw)


def legacy_download(server: SyncServer, key: str, **kw: Any) -> raw.RawResponse:
    return L.legacy(server.endpoint, "download", L.EMPTY, key=key, **kw)


def v11_meta(server: SyncServer, key: str) -> dict[str, Any]:
    r = raw.meta(server.endpoint, key)
    assert r.status == 200, r.describe()
    return r.json()


# ---------------------------------------------------------------------------
# login and meta
# ---------------------------------------------------------------------------


def test_login(server: SyncServer) -> None:
    ep = server.endpoint
    r = L.legacy(ep, "hostKey", {"u": "alice", "p": "alicepass"}, session=None)
    key = L.body_json(r)["key"]
    assert len(key) == 40
    assert r.headers.get("content-type") == "application/octet-stream"
    assert r.headers.get("content-length") == str(len(r.body))
    # uncompressed payload (c=0) and no c part at all are accepted too
    assert L.body_json(L.legacy(ep, "hostKey", {"u": "alice", "p": "alicepass"}, compress=False, session=None))["key"]
    parts = [p for p in L.form_parts({"u": "alice", "p": "alicepass"}, compress=False, session=None) if p.name != "c"]
    assert L.body_json(L.post_form(ep, "sync/hostKey", parts))["key"]
    # wrong password / unknown user: 403
    assert L.legacy(ep, "hostKey", {"u": "alice", "p": "nope"}).status == 403
    assert L.legacy(ep, "hostKey", {"u": "nobody", "p": "alicepass"}).status == 403
    # malformed login JSON: 400
    assert L.legacy(ep, "hostKey", {"u": "alice"}).status == 400
    # the key works with both envelopes, and a v11 key works in legacy calls
    assert L.body_json(L.meta(ep, key))["cont"] is True
    assert v11_meta(server, key)["cont"] is True
    v11_key = raw.login_key(ep, "bob", "bobpass")
    assert L.body_json(L.meta(ep, v11_key))["usn"] == 0


def test_meta_versions(server: SyncServer, legacy_file) -> None:
    ep = server.endpoint
    key = L.login(ep, "alice", "alicepass")
    r = L.meta(ep, key, 10)
    m = L.body_json(r)
    assert set(m) == {"mod", "scm", "usn", "ts", "msg", "cont", "hostNum", "empty", "media_usn"}
    assert (m["mod"], m["usn"], m["msg"], m["cont"], m["hostNum"], m["empty"], m["media_usn"]) == (0, 0, "", True, 0, True, 0)
    assert abs(m["ts"] - time.time()) < 60
    # v8: a fresh collection uses the v2 scheduler (schedVer 2)
    m8 = L.body_json(L.meta(ep, key, 8))
    assert (m8["cont"], m8["msg"]) == (False, "Your client does not support the v2 scheduler")
    # a fresh server collection has no creationOffset: v9 may sync
    assert L.body_json(L.meta(ep, key, 9))["cont"] is True
    for bad in (7, 12, 0):
        assert L.meta(ep, key, bad).status == 501, bad
    assert L.legacy(ep, "meta", {"cv": "x"}, key=key).status == 400  # no v
    assert L.legacy(ep, "meta", {"v": 10}, key="0" * 40).status == 403
    assert L.legacy(ep, "meta", {"v": 10}).status == 403  # no k at all

    # a client-made collection has creationOffset: v9 is told about the timezone handling
    path, _ = legacy_file
    assert legacy_upload(server, key, path).body == b"OK"
    m9 = L.body_json(L.meta(ep, key, 9))
    assert (m9["cont"], m9["msg"]) == (False, "Your client does not support the new timezone handling.")
    m10 = L.body_json(L.meta(ep, key, 10))
    h = col_header(path)
    assert (m10["mod"], m10["scm"], m10["usn"], m10["cont"], m10["empty"]) == (h["mod"], h["scm"], h["usn"], True, False)


# ---------------------------------------------------------------------------
# full upload / download
# ---------------------------------------------------------------------------


def test_schema11_upload_and_download_open_in_real_client(server: SyncServer, legacy_file, tmp_path: Path) -> None:
    path, expected = legacy_file
    key = L.login(server.endpoint, "alice", "alicepass")
    r = legacy_upload(server, key, path)
    assert (r.status, r.body) == (200, b"OK"), r.describe()
    assert "anki-original-size" not in r.headers
    h = col_header(path)
    assert {k: v11_meta(server, key)[k] for k in ("mod", "scm", "usn")} == {k: h[k] for k in ("mod", "scm", "usn")}

    d = legacy_download(server, key)
    assert d.status == 200, d.describe()
    assert "anki-original-size" not in d.headers
    assert d.headers.get("content-length") == str(len(d.body))
    data = d.body
    assert data.startswith(SQLITE_MAGIC)
    assert data[18:20] == b"\x01\x01", "a legacy download must be in a rollback-journal mode, not WAL"
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "collection.anki2").write_bytes(data)
    got = col_header(tmp_path / "dl" / "collection.anki2")
    assert got["ver"] == 11
    # the server bumped usn (and stamped mod) before sending, as for v11
    assert got["usn"] == h["usn"] + 1 and got["scm"] == h["scm"] and got["mod"] >= h["mod"]
    db = sqlite3.connect(tmp_path / "dl" / "collection.anki2")
    try:
        assert db.execute("pragma journal_mode").fetchone()[0] == "delete"
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
        assert {"notetypes", "decks", "deck_config", "config", "tags"}.isdisjoint(tables)
    finally:
        db.close()
    compare.assert_same(expected, snapshot_of_file(tmp_path / "dl" / "collection.anki2", tmp_path / "open"), "uploaded and legacy-downloaded")

    # a modern client downloads the same content afterwards (schema 18 over v11)
    v = raw.download(server.endpoint, key)
    assert v.status == 200
    assert v.payload[18:20] in (b"\x01\x01", b"\x02\x02")
    col = open_collection_bytes(v.payload, tmp_path / "v11")
    try:
        assert col.db.scalar("select ver from col") == 18
        compare.assert_same(expected, compare.snapshot(col), "uploaded and v11-downloaded")
    finally:
        col.close()
    if server.kind == "ours":
        # ours serves a downgraded copy: the live collection stays schema 18
        live = server.user_dir("alice") / "collection.anki2"
        assert col_header(live)["ver"] == 18
        leftovers = [p.name for p in server.user_dir("alice").iterdir() if p.name.startswith(".")]
        assert leftovers == [], leftovers


def test_download_without_data_part(server: SyncServer, legacy_file, tmp_path: Path) -> None:
    """Old AnkiDroid sends download without any data part: treated as {}."""
    path, expected = legacy_file
    key = L.login(server.endpoint, "alice", "alicepass")
    assert legacy_upload(server, key, path).body == b"OK"
    parts = [p for p in L.form_parts(key=key) if p.name != "data"]
    r = L.post_form(server.endpoint, "sync/download", parts)
    assert r.status == 200 and r.body.startswith(SQLITE_MAGIC), r.describe()
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "collection.anki2").write_bytes(r.body)
    assert col_header(tmp_path / "dl" / "collection.anki2")["ver"] == 11
    compare.assert_same(expected, snapshot_of_file(tmp_path / "dl" / "collection.anki2", tmp_path / "open"))


def test_download_of_new_account_is_empty_schema11(server: SyncServer, tmp_path: Path) -> None:
    key = L.login(server.endpoint, "bob", "bobpass")
    r = legacy_download(server, key)
    assert r.status == 200
    col = open_collection_bytes(r.body, tmp_path / "x")
    try:
        assert col.card_count() == 0 and col.note_count() == 0
    finally:
        col.close()
    assert v11_meta(server, key)["usn"] == 1


def test_upload_too_large_and_corrupt(start_server, legacy_file) -> None:
    server = start_server(env={"MAX_SYNC_PAYLOAD_MEGS": "1"})
    key = L.login(server.endpoint, "alice", "alicepass")
    before = v11_meta(server, key)
    # 3 MiB decompressed (the 3x limit) from a tiny gzip body
    r = L.legacy(server.endpoint, "upload", data=L.gz(b"\0" * (3 * 1024 * 1024)), key=key)
    assert (r.status, r.text) == (200, UPLOAD_TOO_LARGE)
    r = L.legacy(server.endpoint, "upload", data=L.gz(b"not a database" * 100), key=key)
    assert (r.status, r.text) == (200, UPLOAD_CORRUPT)
    # schema 12/13 never shipped; a file claiming them is refused
    path, _ = legacy_file
    data = bytearray(path.read_bytes())
    bad = Path(str(path) + ".v12")
    bad.write_bytes(data)
    db = sqlite3.connect(bad)
    db.execute("update col set ver = 12")
    db.commit()
    db.close()
    r = L.legacy(server.endpoint, "upload", data=L.gz(bad.read_bytes()), key=key)
    assert (r.status, r.text) == (200, UPLOAD_CORRUPT)
    after = v11_meta(server, key)
    assert {k: after[k] for k in ("mod", "scm", "usn")} == {k: before[k] for k in ("mod", "scm", "usn")}
    # an uncompressed upload (c=0) is fine
    r = L.legacy(server.endpoint, "upload", data=path.read_bytes(), compress=False, key=key)
    assert (r.status, r.text) == (200, "OK")


# ---------------------------------------------------------------------------
# a whole normal sync, by hand
# ---------------------------------------------------------------------------

NEW_NOTE_ID = 1790000000001
NEW_CARD_ID = 1790000000002
NEW_REVLOG_ID = 1790000000003


def counts_of(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        n = {t: db.execute(f"select count() from {t}").fetchone()[0] for t in ("cards", "notes", "revlog")}
        models, decks, dconf = db.execute("select models, decks, dconf from col").fetchone()
        n.update(models=len(json.loads(models)), decks=len(json.loads(decks)), dconf=len(json.loads(dconf)))
        return n
    finally:
        db.close()


def some_ids(path: Path) -> dict[str, Any]:
    """Objects the hand-made sync deletes: the newest note with its cards, and one more card."""
    db = sqlite3.connect(path)
    try:
        del_note = db.execute("select max(id) from notes").fetchone()[0]
        note_cards = [r[0] for r in db.execute("select id from cards where nid = ? order by id", (del_note,))]
        other = db.execute("select id from cards where nid != ? order by id limit 1", (del_note,)).fetchone()[0]
        models = json.loads(db.execute("select models from col").fetchone()[0])
        basic = next(m for m in models.values() if m["name"] == "Basic")
        return {
            "del_note": del_note,
            "del_cards": note_cards + [other],
            "basic_mid": int(basic["id"]),
            "basic_fields": len(basic["flds"]),
        }
    finally:
        db.close()


def new_note_row(mid: int, nfields: int, usn: int) -> list[Any]:
    fields = "\x1f".join(["legacy front", "legacy back"] + [""] * (nfields - 2))
    return [NEW_NOTE_ID, "legacyGuid1", mid, 1790000000, usn, " legacy ", fields, "", "", 0, ""]


def new_card_row(usn: int) -> list[Any]:
    return [NEW_CARD_ID, NEW_NOTE_ID, 1, 0, 1790000000, usn, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, ""]


def new_revlog_row(usn: int) -> list[Any]:
    return [NEW_REVLOG_ID, NEW_CARD_ID, usn, 3, 1, 0, 2500, 6000, 0]


Step = tuple[str, int, Any]


def mask(step: str, value: Any) -> Any:
    """Values that legitimately differ between two servers: times and keys.
    (The scenario itself checks how they relate, e.g. meta's mod == finish's value.)"""
    if step == "login":
        return {"key": "<key>"}
    if step == "meta-fresh":
        return {**value, "ts": "<now>", "scm": "<creation time>"}
    if step in ("meta-after-sync", "meta-media-usn"):
        return {**value, "ts": "<now>", "mod": "<finish time>"}
    if step.startswith("meta"):
        return {**value, "ts": "<now>"}
    if step == "finish":
        return "<ms>" if isinstance(value, int) else value
    if step.startswith("media-begin"):
        return {**value, "data": {**value["data"], "sk": "<key>"}}
    return value


def legacy_sync_session(server: SyncServer, path: Path) -> list[Step]:
    """One legacy client's life against `server`, every response decoded:
    login, upload of a schema-11 collection, a normal sync with graves in start,
    changes, chunks, a chunk from the client, sanity check and finish, then
    media. Asserts what must hold on any server; returns the transcript."""
    ep = server.endpoint
    out: list[Step] = []

    def call(step: str, method: str, payload: Any = L.EMPTY, *, expect: int = 200, prefix: str = "sync", **kw: Any) -> Any:
        r = L.legacy(ep, method, payload, prefix=prefix, **kw)
        assert r.status == expect, f"{step}: {r.describe()}"
        assert "anki-original-size" not in r.headers, step
        value: Any = None
        if r.status == 200:
            value = r.body if method in ("download", "downloadFiles") else (r.text if method == "upload" else json.loads(r.body))
        out.append((step, r.status, mask(step, value) if r.status == 200 and not isinstance(value, bytes) else None))
        return value

    key = call("login", "hostKey", {"u": "alice", "p": "alicepass"}, session=None)["key"]
    call("meta-fresh", "meta", {"v": 10, "cv": L.LEGACY_CV}, key=key)
    assert call("upload", "upload", data=L.gz(path.read_bytes()), key=key) == "OK"
    meta = call("meta-after-upload", "meta", {"v": 10, "cv": L.LEGACY_CV}, key=key)
    usn = meta["usn"]
    ids = some_ids(path)
    counts = counts_of(path)

    sk = L.new_session()
    # graves sent the old AnkiDroid way, as strings (old AnkiMobile) for notes
    graves = {"cards": [str(c) for c in ids["del_cards"]], "notes": [str(ids["del_note"])], "decks": []}
    server_graves = call("start", "start", {"minUsn": 0, "lnewer": False, "graves": graves}, key=key, session=sk)
    assert server_graves == {"cards": [], "notes": [], "decks": []} or set(server_graves) == {"cards", "notes", "decks"}
    # stateful calls need the session key (400) and the right one (409)
    call("chunk-no-session", "chunk", key=key, session=None, expect=400)
    call("chunk-other-session", "chunk", key=key, session="someone-else", expect=409)
    changes = call(
        "applyChanges",
        "applyChanges",
        {"changes": {"models": [], "decks": [[], []], "tags": ["legacy::tag"]}},
        key=key,
        session=sk,
    )
    assert {"models", "decks", "tags"} <= set(changes)
    chunks = 0
    got_cards = 0
    while True:
        ch = call(f"chunk-{chunks}", "chunk", key=key, session=sk)
        chunks += 1
        got_cards += len(ch.get("cards", []))
        if ch["done"]:
            break
        assert chunks < 100
    # the server sends everything since usn 0 (minus what start deleted)
    assert got_cards == counts["cards"] - len(ids["del_cards"])
    # rows carry the server's usn, as clients stamp them before sending (the
    # official server stores what it receives; -1 would fail the sanity check)
    chunk = {
        "done": True,
        "notes": [new_note_row(ids["basic_mid"], ids["basic_fields"], usn)],
        "cards": [new_card_row(usn)],
        "revlog": [new_revlog_row(usn)],
    }
    assert call("applyChunk", "applyChunk", {"chunk": chunk}, key=key, session=sk) is None
    client = {
        "cards": counts["cards"] - len(ids["del_cards"]) + 1,
        "notes": counts["notes"] - 1 + 1,
        "revlog": counts["revlog"] + 1,
        "graves": 0,
        "notetypes": counts["models"],
        "decks": counts["decks"],
        "deck_config": counts["dconf"],
    }
    sanity = call(
        "sanityCheck2",
        "sanityCheck2",
        {"client": [[0, 0, 0], client["cards"], client["notes"], client["revlog"], client["graves"], client["notetypes"], client["decks"], client["deck_config"]]},
        key=key,
        session=sk,
    )
    assert sanity["status"] == "ok", sanity
    finished = call("finish", "finish", key=key, session=sk)
    assert isinstance(finished, int)
    after = call("meta-after-sync", "meta", {"v": 10, "cv": L.LEGACY_CV}, key=key)
    assert after["usn"] == usn + 1 and after["mod"] == finished
    call("abort", "abort", key=key, session=sk)

    # media, the old way: begin with k and v, later calls with sk and c=0 zips
    begin = call("media-begin", "begin", prefix="msync", key=key, v="anki,2.1.50 (abcdef12),linux", compress=False)
    mkey = begin["data"]["sk"]
    assert mkey and begin["err"] == ""
    call("media-begin-no-version", "begin", prefix="msync", key=key, expect=400)
    files = {"a.txt": b"hello legacy", "b \u00e9.png": b"\x89PNG fake", "c.mp3": b"ID3" + bytes(range(256))}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        meta_list = []
        for i, (name, content) in enumerate(files.items()):
            z.writestr(str(i), content)
            meta_list.append([name, str(i)])
        z.writestr("_meta", json.dumps(meta_list))
    up = call("media-upload", "uploadChanges", data=buf.getvalue(), compress=False, prefix="msync", sk=mkey, session=None)
    assert up == {"data": [3, 3], "err": ""}
    # the same zip gzip-compressed (c=1): nothing new, usn unchanged
    up2 = call("media-upload-gz", "uploadChanges", data=L.gz(buf.getvalue()), prefix="msync", sk=mkey, session=None)
    assert up2 == {"data": [3, 3], "err": ""}
    changes = call("media-changes", "mediaChanges", {"lastUsn": 0}, prefix="msync", sk=mkey, session=None)
    assert [c[0] for c in changes["data"]] == list(files)
    assert all(c[2] == hashlib.sha1(files[c[0]]).hexdigest() for c in changes["data"])
    zipped = call("media-download", "downloadFiles", {"files": ["a.txt", "c.mp3"]}, prefix="msync", sk=mkey, session=None)
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        names = json.loads(z.read("_meta"))
        got = {names[n]: z.read(n) for n in names}
    assert got == {"a.txt": files["a.txt"], "c.mp3": files["c.mp3"]}
    out.append(("media-download-content", 200, sorted(got)))
    assert call("media-sanity", "mediaSanity", {"local": 3}, prefix="msync", sk=mkey, session=None) == {"data": "OK", "err": ""}
    assert call("media-sanity-bad", "mediaSanity", {"local": 4}, prefix="msync", sk=mkey, session=None)["data"] == "mediaSanity"
    m = call("meta-media-usn", "meta", {"v": 10, "cv": L.LEGACY_CV}, key=key)
    assert m["media_usn"] == 3
    r = raw.request(ep, f"msync/begin?k={key}&v=anki,2.1.50", http_method="GET")
    assert r.status == 200 and "anki-original-size" not in r.headers
    out.append(("media-begin-get", 200, mask("media-begin-get", json.loads(r.body))))
    return out


def test_legacy_normal_sync_then_modern_client_sees_it(server: SyncServer, legacy_file, make_client, tmp_path: Path) -> None:
    path, expected = legacy_file
    legacy_sync_session(server, path)
    ids = some_ids(path)
    # a modern client downloads: the legacy sync's changes are there
    c = make_client("modern")
    c.login(server.endpoint, "alice", "alicepass")
    c.full_download()
    col = c.col
    assert col.get_note(NEW_NOTE_ID).fields[0] == "legacy front"
    assert "legacy::tag" in col.tags.all()
    assert col.db.scalar(f"select count() from cards where id in ({','.join(map(str, ids['del_cards']))})") == 0
    assert col.db.scalar("select count() from notes where id = ?", ids["del_note"]) == 0
    assert col.db.scalar("select count() from revlog where id = ?", NEW_REVLOG_ID) == 1
    # and then syncs normally with nothing to do
    assert c.sync().required == 0  # NO_CHANGES
    # a legacy download carries the same content
    d = legacy_download(server, L.login(server.endpoint, "alice", "alicepass"))
    assert d.status == 200
    got = snapshot_of_file_bytes(d.body, tmp_path / "legacy-dl")
    mine = compare.snapshot(col)
    compare.assert_same(mine, got, "modern download and legacy download")


def snapshot_of_file_bytes(data: bytes, dest: Path) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    f = dest / "src.anki2"
    f.write_bytes(data)
    return snapshot_of_file(f, dest / "open")


@pytest.fixture
def both_servers(request: pytest.FixtureRequest, tmp_path: Path):
    choice = request.config.getoption("--server")
    if choice != "both":
        pytest.skip("compares the official server with ours: needs --server=both")
    servers = {k: SyncServer(k, tmp_path / k) for k in ("official", "ours")}
    for s in servers.values():
        s.start()
    request.node._interop_servers = list(servers.values())
    yield servers
    for s in servers.values():
        s.stop()


def test_transcript_matches_official(both_servers, legacy_file) -> None:
    """The same legacy session against both servers: every decoded response equal."""
    path, _ = legacy_file
    official = legacy_sync_session(both_servers["official"], path)
    ours = legacy_sync_session(both_servers["ours"], path)
    assert [s[0] for s in ours] == [s[0] for s in official]
    diffs = [f"{a[0]}: official {a[1:]!r}\n   ours {b[1:]!r}" for a, b in zip(official, ours) if a != b]
    assert not diffs, "\n".join(diffs)


# ---------------------------------------------------------------------------
# garbled forms: 4xx, nothing written
# ---------------------------------------------------------------------------


def _parts(key: str, **kw: Any) -> list[L.Part]:
    return L.form_parts(**kw, key=key)


def _without(parts: list[L.Part], name: str) -> list[L.Part]:
    return [p for p in parts if p.name != name]


GarbledCase = Callable[[str, str], raw.RawResponse]  # (endpoint, key) -> response


def garbled_cases(upload_bytes: bytes) -> dict[str, tuple[str, GarbledCase, int, int | None]]:
    """name -> (route, request, the official server's status (anki 26.9.3), ours when it differs).

    Ours refuses oversized text parts (host key, session key) with 400; the
    official server reads any size within the body limit (an unknown 100 kB
    host key is then a 403, a 100 kB session key is accepted)."""
    gzdata = L.gz(upload_bytes)

    def form(route: str, parts_fn: Callable[[str], list[L.Part]], **kw: Any) -> GarbledCase:
        return lambda ep, key: L.post_form(ep, route, parts_fn(key), **kw)

    def body(route: str, data: bytes, ctype: str | None = None) -> GarbledCase:
        return lambda ep, key: L.post_form(ep, route, body=data, content_type=ctype)

    enc = L.encode_form(L.form_parts(data=gzdata, key="KEY"))
    return {
        "not-multipart": ("sync/upload", body("sync/upload", gzdata, "application/octet-stream"), 400, None),
        "no-content-type": ("sync/upload", lambda ep, key: raw.request(ep, "sync/upload", body=gzdata), 400, None),
        "no-boundary": ("sync/upload", body("sync/upload", enc, "multipart/form-data"), 400, None),
        "wrong-boundary": ("sync/upload", body("sync/upload", enc, "multipart/form-data; boundary=other"), 400, None),
        "garbage-body": ("sync/upload", body("sync/upload", b"\x00\x01garbage" * 50, f"multipart/form-data; boundary={L.BOUNDARY}"), 400, None),
        "truncated-form": (
            "sync/upload",
            lambda ep, key: L.post_form(ep, "sync/upload", body=L.encode_form(_parts(key, data=gzdata))[:-200]),
            400,
            None,
        ),
        "not-gzip": ("sync/upload", form("sync/upload", lambda key: _parts(key, data=upload_bytes[:5000])), 400, None),
        "truncated-gzip": ("sync/upload", form("sync/upload", lambda key: _parts(key, data=gzdata[: len(gzdata) // 2])), 400, None),
        "gzip-bad-crc": (
            "sync/upload",
            form("sync/upload", lambda key: _parts(key, data=gzdata[:-8] + b"\0\0\0\0" + gzdata[-4:])),
            400,
            None,
        ),
        "no-key": ("sync/upload", form("sync/upload", lambda key: _without(_parts("x", data=gzdata), "k")), 403, None),
        "huge-key": ("sync/upload", form("sync/upload", lambda key: _parts(key + "0" * 100_000, data=gzdata)), 403, 400),
        "huge-session": ("sync/start", form("sync/start", lambda key: _parts(key, payload={"minUsn": 0, "lnewer": False}, session="s" * 100_000)), 200, 400),
        "huge-unknown-text-part": (
            "sync/upload",
            form("sync/upload", lambda key: [*_parts(key, data=gzdata), L.text_part("junk", "j" * 2_000_000)]),
            400,
            None,
        ),
        "meta-not-json": ("sync/meta", form("sync/meta", lambda key: _parts(key, payload="{nope")), 400, None),
        "meta-missing-data": ("sync/meta", form("sync/meta", lambda key: _without(_parts(key), "data")), 400, None),
        "media-upload-not-gzip": (
            "msync/uploadChanges",
            form("msync/uploadChanges", lambda key: _parts(key, data=b"PK\x03\x04 not a zip, not gzip")),
            400,
            None,
        ),
        "media-upload-bad-zip": (
            "msync/uploadChanges",
            form("msync/uploadChanges", lambda key: _parts(key, data=b"PK\x03\x04 not a zip", compress=False)),
            400,
            None,
        ),
    }


def server_state(server: SyncServer, key: str) -> dict[str, Any]:
    m = v11_meta(server, key)
    return {k: m[k] for k in ("mod", "scm", "usn", "media_usn")}


def test_garbled_forms_rejected_and_nothing_written(start_server, legacy_file) -> None:
    server = start_server(env={"MAX_SYNC_PAYLOAD_MEGS": "1"})
    ep = server.endpoint
    path, _ = legacy_file
    key = L.login(ep, "alice", "alicepass")
    assert legacy_upload(server, key, path).body == b"OK"
    before = server_state(server, key)
    failures = []
    for name, (route, send, official, ours) in garbled_cases(path.read_bytes()).items():
        r = send(ep, key)
        expected = ours if server.kind == "ours" and ours is not None else official
        if r.status != expected:
            failures.append(f"{name} ({route}): expected {expected}, got {r.describe()}")
    # a body above MAX_SYNC_PAYLOAD_MEGS: 400
    big = L.legacy(ep, "upload", data=bytes(1024 * 1024 + 10), compress=False, key=key)
    if big.status != 400:
        failures.append(f"oversized body: {big.describe()}")
    assert not failures, "\n".join(failures)
    assert server_state(server, key) == before
    # the server still works, legacy and v11
    assert L.body_json(L.meta(ep, key))["usn"] == before["usn"]
    if server.kind == "ours":
        spool = server.base / ".legacy-incoming"
        assert not spool.exists() or list(spool.iterdir()) == []
        leftovers = [p.name for p in server.user_dir("alice").iterdir() if p.name.startswith(".")]
        assert leftovers == [], leftovers


def test_fields_in_any_order_and_as_file_parts(server: SyncServer) -> None:
    """Field order does not matter; a text field sent as a file part still counts."""
    ep = server.endpoint
    key = L.login(ep, "alice", "alicepass")
    parts = L.form_parts({"v": 10, "cv": L.LEGACY_CV}, key=key, data_first=False)
    assert L.body_json(L.post_form(ep, "sync/meta", parts))["cont"] is True
    meta = {"v": 10, "cv": L.LEGACY_CV}
    parts = [p if p.name != "k" else L.Part("k", key.encode(), "k", "application/octet-stream") for p in L.form_parts(meta, key=key)]
    assert L.body_json(L.post_form(ep, "sync/meta", parts))["cont"] is True
    # unknown parts are ignored; a repeated part: the last one wins
    parts = [L.text_part("k", "0" * 40), *L.form_parts(meta, key=key), L.text_part("extra", "x")]
    assert L.body_json(L.post_form(ep, "sync/meta", parts))["cont"] is True
    # `sk` authenticates like `k`
    parts = L.form_parts(meta, sk=key)
    assert L.body_json(L.post_form(ep, "sync/meta", parts))["cont"] is True


# ---------------------------------------------------------------------------
# uploads in the intermediate schemas 14-17 (the official server opens them)
# ---------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]

# Makes schema 17/16/15/14 copies of a schema-18 file by undoing the later
# upgrade steps (with our own storage code, from dist/), as Anki 2.1.28-2.1.49
# would have stored them. argv: source, then one "ver=dest" per copy.
MAKE_OLD_SCHEMAS = r"""
import { copyFileSync } from "node:fs";
const dist = process.env.DIST;
const { openCollectionDb } = await import(`${dist}/collection/open.js`);
const { readAllDeckConfigs, writeDeckConfig } = await import(`${dist}/collection/storage/deckconfig.js`);
const { readAllDecks } = await import(`${dist}/collection/storage/decks.js`);
const { readAllNotetypes } = await import(`${dist}/collection/storage/notetypes.js`);
const { deckConfigToLegacy } = await import(`${dist}/collection/legacy/deckconfig.js`);
const { deckToLegacy } = await import(`${dist}/collection/legacy/decks.js`);
const { notetypeToLegacy } = await import(`${dist}/collection/legacy/notetypes.js`);
const { newJsonObject, setKey, stringifyJson } = await import(`${dist}/collection/legacy/json.js`);
const to17 = (db) => db.exec(`ALTER TABLE graves RENAME TO g; CREATE TABLE graves (usn integer NOT NULL, oid integer NOT NULL, type integer NOT NULL);
  INSERT INTO graves SELECT usn, oid, type FROM g; DROP TABLE g; UPDATE col SET ver = 17`);
const to16 = (db) => { to17(db); db.exec(`CREATE TABLE t2 (tag text NOT NULL PRIMARY KEY COLLATE unicase, usn integer NOT NULL) WITHOUT ROWID;
  INSERT INTO t2 SELECT tag, usn FROM tags; DROP TABLE tags; ALTER TABLE t2 RENAME TO tags; UPDATE col SET ver = 16`); };
const to15 = (db) => { to16(db); for (const dc of readAllDeckConfigs(db)) writeDeckConfig(db, { ...dc, config: { ...dc.config, initialEase: dc.config.initialEase * 100 } }); db.exec("UPDATE col SET ver = 15"); };
const to14 = (db) => {
  to16(db);
  const models = newJsonObject(); for (const nt of readAllNotetypes(db)) setKey(models, String(nt.id), notetypeToLegacy(nt));
  const decks = newJsonObject(); for (const d of readAllDecks(db)) setKey(decks, String(d.id), deckToLegacy(d));
  const configs = readAllDeckConfigs(db);
  db.exec(`DROP TABLE notetypes; DROP TABLE fields; DROP TABLE templates; DROP TABLE decks; DROP INDEX idx_notes_mid; DROP INDEX idx_cards_odid;
    DROP TABLE deck_config; CREATE TABLE deck_config (id integer PRIMARY KEY NOT NULL, name text NOT NULL COLLATE unicase, mtime_secs integer NOT NULL, usn integer NOT NULL, config blob NOT NULL)`);
  for (const dc of configs) db.prepare("INSERT INTO deck_config VALUES (?, ?, ?, ?, ?)").run(dc.id, dc.name, dc.mtimeSecs, dc.usn, Buffer.from(stringifyJson(deckConfigToLegacy(dc))));
  db.prepare("UPDATE col SET ver = 14, models = ?, decks = ?").run(stringifyJson(models), stringifyJson(decks));
};
const steps = { 17: to17, 16: to16, 15: to15, 14: to14 };
const [src, ...targets] = process.argv.slice(1);
// what the client does before a full upload: rows no longer pending, no graves
const prep = openCollectionDb(src, { mustExist: true });
prep.pragma("journal_mode = DELETE");
for (const t of ["notes", "cards", "revlog", "decks", "deck_config", "notetypes", "tags", "templates"]) prep.exec(`UPDATE ${t} SET usn = 0 WHERE usn = -1`);
prep.exec("DELETE FROM graves; UPDATE col SET usn = usn + 1, ls = scm");
prep.close();
for (const t of targets) {
  const [ver, dest] = t.split("=");
  copyFileSync(src, dest);
  const db = openCollectionDb(dest, { mustExist: true });
  db.pragma("journal_mode = DELETE");
  db.transaction(() => steps[ver](db))();
  db.close();
}
"""


@pytest.fixture(scope="module")
def old_schema_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, Path], dict[str, Any]]:
    import os
    import subprocess

    folder = tmp_path_factory.mktemp("schema18")
    c = Client(folder, "old-schema-builder")
    builders.build_rich_collection(c.col, note_count=40, reviews=10)
    c.close()
    src = folder / "collection.anki2"
    out = tmp_path_factory.mktemp("old-schemas")
    files = {v: out / f"v{v}.anki2" for v in (17, 16, 15, 14)}
    env = {**os.environ, "DIST": str(REPO / "dist")}
    subprocess.run(
        ["node", "--input-type=module", "-e", MAKE_OLD_SCHEMAS, str(src), *(f"{v}={p}" for v, p in files.items())],
        check=True,
        env=env,
        cwd=REPO,
    )
    return files, snapshot_of_file(src, tmp_path_factory.mktemp("schema18-view"))


@pytest.mark.parametrize("ver", [17, 16, 15, 14])
def test_upload_in_schema_14_to_17(server: SyncServer, old_schema_files, ver: int, tmp_path: Path) -> None:
    files, expected = old_schema_files
    assert col_header(files[ver])["ver"] == ver
    key = L.login(server.endpoint, "alice", "alicepass")
    r = legacy_upload(server, key, files[ver])
    assert (r.status, r.text) == (200, "OK"), r.describe()
    v = raw.download(server.endpoint, key)
    assert v.status == 200
    col = open_collection_bytes(v.payload, tmp_path / "v11")
    try:
        assert col.db.scalar("select ver from col") == 18
        compare.assert_same(expected, compare.snapshot(col), f"schema-18 original and its schema-{ver} upload")
    finally:
        col.close()
    # a normal sync against it then passes the sanity check (no usn -1 left)
    c = Client(tmp_path / "client", "after-upload")
    try:
        c.login(server.endpoint, "alice", "alicepass")
        c.full_download()
        assert c.sync().required == 0
    finally:
        c.close()
