"""Operations, against our server only: backup / restore / reset-user with real
clients, /health and the healthcheck command, /metrics, SIGTERM, journal
priority prefixes.

The commands run as separate processes (node dist/cli/main.js ...) next to a
running server, exactly as an operator or a systemd timer runs them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from anki.collection import Collection

from harness import builders, raw
from harness.client import FULL_DOWNLOAD, FULL_KINDS, FULL_SYNC, FULL_UPLOAD, NO_CHANGES, Client, required_name
from harness.server import OURS_ENTRY, SyncServer

MEDIA_SYNC_TIMEOUT = 120.0


@pytest.fixture(autouse=True)
def _ours_only(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("server_kind") == "official":
        pytest.skip("operations commands exist in our server only")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNC_") and k not in ("JOURNAL_STREAM",)}
    env.update(extra or {})
    return env


def cli(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    node = os.environ.get("INTEROP_NODE", "node")
    return subprocess.run(
        [node, str(OURS_ENTRY), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(env),
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def backup(srv: SyncServer, to: Path, *extra: str) -> Path:
    """Runs `backup`; returns the new snapshot folder."""
    before = set(snapshots(to))
    proc = ok(cli("backup", "--base", srv.base, "--to", to, *extra))
    # exactly one summary line, in the log format
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("info \"backup complete\""), proc.stderr
    new = sorted(set(snapshots(to)) - before)
    assert len(new) == 1, (before, snapshots(to))
    return to / new[0]


def snapshots(to: Path) -> list[str]:
    if not to.exists():
        return []
    return sorted(p.name for p in to.iterdir() if re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}Z(-\d+)?", p.name))


def manifest(snapshot: Path) -> dict[str, Any]:
    return json.loads((snapshot / "manifest.json").read_text())


def wait_media_sync(c: Client) -> None:
    deadline = time.monotonic() + MEDIA_SYNC_TIMEOUT
    while True:
        status = c.col.media_sync_status()  # raises what the sync failed with
        if not status.active:
            return
        if time.monotonic() > deadline:
            c.col.abort_media_sync()
            raise AssertionError(f"{c.name}: media sync still running after {MEDIA_SYNC_TIMEOUT}s")
        time.sleep(0.05)


def media_sync(c: Client) -> None:
    assert c.auth is not None
    c.col.sync_media(c.auth)
    wait_media_sync(c)


def media_sync_settled(c: Client, attempts: int = 3) -> int:
    """Media syncs until one succeeds; returns how many failed first (a reset server makes the first fail)."""
    failures = 0
    for _ in range(attempts):
        try:
            media_sync(c)
            return failures
        except Exception:
            failures += 1
    raise AssertionError(f"{c.name}: media sync kept failing")


def media_dir(c: Client) -> Path:
    return c.path.with_suffix(".media")


def folder_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def add_note(c: Client, text: str, media: bytes | None = None) -> None:
    front = text
    if media is not None:
        name = f"{text}.png"
        time.sleep(0.01)  # the media change tracker works from mtimes
        (media_dir(c) / name).write_bytes(media)
        front = f'{text} <img src="{name}">'
    builders.add_basic_notes(c.col, [front])


def sync_normal(c: Client) -> None:
    """A sync that must complete as a normal sync (a completed one reports NO_CHANGES)."""
    out = c.sync()
    c.col.models._clear_cache()  # as the desktop does after every sync
    assert out.required == NO_CHANGES, f"{c.name}: {required_name(out.required)}"


def note_fronts(col: Collection) -> set[str]:
    return set(col.db.list("select sfld from notes"))


def open_copy(path: Path, workdir: Path) -> Collection:
    """Opens a copy of a collection file with Anki itself (it registers the unicase collation)."""
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / "collection.anki2"
    shutil.copyfile(path, target)
    return Collection(str(target))


def fresh_device(make_client, srv: SyncServer, name: str, user: str = "alice", password: str = "alicepass") -> Client:
    c = make_client(name)
    c.login(srv.endpoint, user, password)
    return c


def uploaded_device(make_client, srv: SyncServer, name: str, user: str, password: str, notes: int, rng: random.Random) -> Client:
    c = fresh_device(make_client, srv, name, user, password)
    for i in range(notes):
        add_note(c, f"{user} seed {i}", rng.randbytes(2000) if i % 2 == 0 else None)
    required, action = c.sync_resolving_full()
    assert action == "upload", required_name(required)
    media_sync(c)
    return c


def get(srv: SyncServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(srv.url + path, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:  # type: ignore[attr-defined]
        return e.code, e.read().decode()


def server_pid_exit(srv: SyncServer, sig: int, timeout: float) -> tuple[int, float]:
    """Sends `sig` to the server; returns (exit code, seconds until it exited)."""
    assert srv.proc is not None
    started = time.monotonic()
    srv.proc.send_signal(sig)
    code = srv.proc.wait(timeout)
    return code, time.monotonic() - started


# -- a strict Prometheus text-format (0.0.4) parser --------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(
    rf"^(?P<name>{METRIC_NAME})(?:\{{(?P<labels>(?:{LABEL_NAME}={LABEL_VALUE})(?:,{LABEL_NAME}={LABEL_VALUE})*,?)?\}})? "
    rf"(?P<value>[^ ]+)(?: (?P<ts>-?\d+))?$"
)
LABEL = re.compile(rf"({LABEL_NAME})=({LABEL_VALUE})")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text), f"bad sample value {text!r}"
    return float(text)


def unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v[1:-1])


def parse_prometheus(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parses the exposition text strictly; returns {(name, sorted labels): value}."""
    assert text.endswith("\n"), "exposition must end with a newline"
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    finished: set[str] = set()  # families whose samples are over (they must be contiguous)
    current: str | None = None
    for line in text[:-1].split("\n"):
        assert line != "", "empty line"
        if line.startswith("#"):
            m = re.fullmatch(rf"# (HELP|TYPE) ({METRIC_NAME}) (.*)", line)
            assert m, f"bad comment line {line!r}"
            kind, name, rest = m.groups()
            if kind == "TYPE":
                assert rest in TYPES, line
                assert name not in types, f"second TYPE for {name}"
                types[name] = rest
            else:
                assert name not in helps, f"second HELP for {name}"
                helps.add(name)
            continue
        m = SAMPLE.match(line)
        assert m, f"bad sample line {line!r}"
        name = m.group("name")
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                family = name[: -len(suffix)]
        assert family in types, f"sample {name} before its TYPE line"
        if family != current:
            assert family not in finished, f"samples of {family} are not contiguous"
            if current is not None:
                finished.add(current)
            current = family
        labels = tuple(sorted((k, unescape(v)) for k, v in LABEL.findall(m.group("labels") or "")))
        assert len({k for k, _ in labels}) == len(labels), f"duplicate label in {line!r}"
        key = (name, labels)
        assert key not in samples, f"duplicate series {line!r}"
        samples[key] = parse_value(m.group("value"))
        if types[family] == "counter":
            assert samples[key] >= 0
    # histograms: cumulative buckets ending in +Inf == _count, with a _sum
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for (name, labels), value in samples.items():
            if name == f"{family}_bucket":
                le = dict(labels)["le"]
                rest = tuple(l for l in labels if l[0] != "le")
                series.setdefault(rest, []).append((parse_value(le), value))
        for rest, buckets in series.items():
            buckets.sort()
            assert buckets[-1][0] == math.inf, f"{family}{rest} has no +Inf bucket"
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), f"{family}{rest} buckets are not cumulative"
            assert samples[(f"{family}_count", rest)] == counts[-1]
            assert (f"{family}_sum", rest) in samples
    return samples


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# ---------------------------------------------------------------------------
# backup while two clients sync in a loop; every snapshot restorable
# ---------------------------------------------------------------------------


def test_backup_during_sync_loops_then_restore_and_sync(start_server, make_client, tmp_path):
    rng = random.Random(8)
    srv = start_server()
    to = tmp_path / "backups"
    devices = {
        "alice": uploaded_device(make_client, srv, "A", "alice", "alicepass", 30, rng),
        "bob": uploaded_device(make_client, srv, "B", "bob", "bobpass", 30, rng),
    }
    # every collection state a sync left on the server, per user (the server's mod after the sync)
    states = {user: {c.header()["mod"]} for user, c in devices.items()}
    guard = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []
    rounds = {user: 0 for user in devices}

    def loop(user: str, c: Client) -> None:
        r = random.Random(user)
        i = 0
        try:
            while not stop.is_set():
                i += 1
                add_note(c, f"{user} loop {i}", r.randbytes(r.randint(500, 50_000)) if i % 2 else None)
                out = c.sync()
                c.col.models._clear_cache()
                if out.required != NO_CHANGES:  # what a completed normal sync reports
                    errors.append(f"{user}: sync {i} was {required_name(out.required)}")
                    return
                with guard:
                    states[user].add(c.header()["mod"])
                media_sync(c)
                rounds[user] = i
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{user}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=loop, args=(u, c), daemon=True) for u, c in devices.items()]
    for t in threads:
        t.start()
    taken: list[Path] = []
    try:
        for _ in range(4):
            time.sleep(0.7)
            taken.append(backup(srv, to))
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert all(n >= 2 for n in rounds.values()), rounds  # the backups really overlapped the syncs

    fronts_by_snapshot: dict[tuple[Path, str], set[str]] = {}
    for snap in taken:
        m = manifest(snap)
        assert {u["name"] for u in m["users"]} == {"alice", "bob"}
        assert m["source"]["serverRunning"] is True
        # checksums, integrity and every media file against media.db, by our own verifier
        ok(cli("restore", "--from", snap, "--check"))
        for user in devices:
            entry = next(u for u in m["users"] if u["name"] == user)
            assert entry["collection"]["integrity"] == "ok"
            assert entry["media"]["missing"] == [] and entry["media"]["mismatched"] == []
            # and by Anki itself: it opens, passes the integrity check, and is a state some sync left behind
            col = open_copy(snap / "data" / user / "collection.anki2", tmp_path / "check" / snap.name / user)
            try:
                assert col.db.scalar("pragma integrity_check") == "ok"
                mod = col.db.scalar("select mod from col")
                assert mod in states[user], f"{snap.name}/{user}: mod {mod} is no state a sync left"
                fronts_by_snapshot[(snap, user)] = note_fronts(col)
            finally:
                col.close()
            # the media database is a plain SQLite file
            db = sqlite3.connect(snap / "data" / user / "media.db")
            try:
                assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
                files = db.execute("select count(*) from media where size > 0").fetchone()[0]
            finally:
                db.close()
            assert files == entry["mediaDb"]["files"] == entry["media"]["files"]

    # -- restore alice from an early snapshot while the server runs ---------
    snap = taken[1]
    a = devices["alice"]
    restored_fronts = fronts_by_snapshot[(snap, "alice")]
    assert note_fronts(a.col) > restored_fronts  # A has synced notes the snapshot lacks
    before_scm = a.header()["scm"]
    proc = ok(cli("restore", "--from", snap, "--user", "alice", "--base", srv.base))
    assert "full sync" in proc.stdout

    # A synced after the snapshot: it must be told to do a full sync, never a silent normal one
    out = a.sync()
    assert out.required == FULL_SYNC, required_name(out.required)
    a.full_download()
    assert note_fronts(a.col) == restored_fronts
    assert a.header()["scm"] != before_scm
    # media: the restored state first, then what A has beyond it comes back by itself
    media_sync_settled(a)
    media_sync(a)
    # a brand-new device gets exactly the restored collection and A's media
    a2 = fresh_device(make_client, srv, "A2")
    required, action = a2.sync_resolving_full(prefer="download")
    assert action == "download", required_name(required)
    assert note_fronts(a2.col) == restored_fronts
    media_sync(a2)
    assert folder_hashes(media_dir(a2)) == folder_hashes(media_dir(a))
    # and normal syncing carries on
    add_note(a, "after restore")
    sync_normal(a)
    sync_normal(a2)
    assert "after restore" in note_fronts(a2.col)
    # bob was not restored: nothing to do for B
    assert devices["bob"].sync().required == NO_CHANGES


# ---------------------------------------------------------------------------
# backup refuses an empty or missing data folder, and rotates nothing then
# ---------------------------------------------------------------------------


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_backup_refuses_missing_or_empty_data_folder(start_server, make_client, tmp_path):
    srv = start_server()
    uploaded_device(make_client, srv, "A", "alice", "alicepass", 3, random.Random(1))
    to = tmp_path / "backups"
    # two complete snapshots that a rotation to one per day would thin out
    backup(srv, to)
    backup(srv, to)
    before = tree_state(to)

    empty = tmp_path / "empty-data"
    empty.mkdir()
    only_folders = tmp_path / "fresh-data"
    (only_folders / "alice" / "media").mkdir(parents=True)  # what a server creates at start for a new user
    for base in (tmp_path / "missing-data", empty, only_folders):
        proc = cli("backup", "--base", base, "--to", to, "--keep-daily", "1", "--keep-weekly", "1")
        assert proc.returncode != 0, proc
        assert "refus" in proc.stderr and str(base) in proc.stderr, proc.stderr
        assert "nothing was" in proc.stderr
        assert tree_state(to) == before, f"backup folder changed for --base {base}"

    # SYNC_BASE is the default base, like serve's
    proc = cli("backup", "--to", to, env={"SYNC_BASE": str(empty)})
    assert proc.returncode != 0 and str(empty) in proc.stderr
    assert tree_state(to) == before
    # an unknown --user is refused too
    proc = cli("backup", "--base", srv.base, "--to", to, "--user", "nobody", "--keep-daily", "1")
    assert proc.returncode != 0 and "nobody" in proc.stderr
    assert tree_state(to) == before

    # and with real data the same command rotates as asked
    backup(srv, to, "--keep-daily", "1")
    assert len(snapshots(to)) == 1


# ---------------------------------------------------------------------------
# a second backup of unchanged media hard-links it
# ---------------------------------------------------------------------------


def test_second_backup_hard_links_unchanged_media(start_server, make_client, tmp_path):
    srv = start_server()
    a = uploaded_device(make_client, srv, "A", "alice", "alicepass", 20, random.Random(2))
    to = tmp_path / "backups"
    first = backup(srv, to)
    second = backup(srv, to)
    m1, m2 = manifest(first), manifest(second)
    u1 = next(u for u in m1["users"] if u["name"] == "alice")
    u2 = next(u for u in m2["users"] if u["name"] == "alice")
    assert u1["media"]["files"] == 10 and u1["media"]["copied"] == 10
    assert u2["media"]["files"] == 10 and u2["media"]["linked"] == 10 and u2["media"]["copied"] == 0
    media_bytes = 0
    for p in (second / "data" / "alice" / "media").iterdir():
        twin = first / "data" / "alice" / "media" / p.name
        assert p.stat().st_ino == twin.stat().st_ino and p.stat().st_nlink >= 2, p.name
        media_bytes += p.stat().st_size
    # what the second snapshot wrote is its databases, nothing for media
    dbs = sum(p.stat().st_size for p in (second / "data").rglob("*") if p.is_file() and p.parent.name != "media")
    assert m2["totals"]["bytesCopied"] == dbs
    assert media_bytes > 0

    # a changed file is copied, the rest still linked
    time.sleep(0.05)
    add_note(a, "one more", b"new picture bytes" * 100)
    sync_normal(a)
    media_sync(a)
    third = backup(srv, to)
    u3 = next(u for u in manifest(third)["users"] if u["name"] == "alice")
    assert (u3["media"]["linked"], u3["media"]["copied"]) == (10, 1)


# ---------------------------------------------------------------------------
# reset-user
# ---------------------------------------------------------------------------


def test_reset_user_media_only_recovers_client_whose_files_server_lost(start_server, make_client):
    srv = start_server()
    rng = random.Random(3)
    a = fresh_device(make_client, srv, "A")
    content = {f"picture {i}.jpg": rng.randbytes(rng.randint(100, 5000)) for i in range(12)}
    for name, data in content.items():
        (media_dir(a) / name).write_bytes(data)
    builders.add_basic_notes(a.col, [f'<img src="{n}">' for n in content])
    a.sync_resolving_full()
    media_sync(a)

    # the server loses files while it runs (disk trouble, a half-restored folder, ...)
    lost = sorted(content)[:6]
    for name in lost:
        (srv.user_dir("alice") / "media" / name).unlink()

    # A's media state references files the server no longer has: a new device cannot get them
    b = fresh_device(make_client, srv, "B")
    b.sync_resolving_full(prefer="download")
    with pytest.raises(Exception):
        media_sync(b)
    media_sync(a)  # and A sees nothing to do
    assert folder_hashes(media_dir(b)).keys() < content.keys()

    # without --confirm nothing happens
    proc = cli("reset-user", "alice", "--media-only", "--base", srv.base)
    assert proc.returncode != 0 and "--confirm" in proc.stderr
    assert (srv.user_dir("alice") / "media.db").exists()

    # the operator resets alice's media while the server runs
    ok(cli("reset-user", "alice", "--media-only", "--confirm", "--base", srv.base))
    assert (srv.user_dir("alice") / "collection.anki2").exists()

    # A: the first media sync after the reset fails its count check and resets A's media
    # state, then A uploads everything it has
    assert media_sync_settled(a) >= 1
    media_sync(a)
    media_sync_settled(b)
    media_sync(b)
    expected = {n: hashlib.sha1(d).hexdigest() for n, d in content.items()}
    assert folder_hashes(media_dir(a)) == expected
    assert folder_hashes(media_dir(b)) == expected
    # the collection was not touched
    assert a.sync().required == NO_CHANGES


def test_reset_user_full_makes_devices_upload_then_download(start_server, make_client):
    srv = start_server()
    a = uploaded_device(make_client, srv, "A", "alice", "alicepass", 6, random.Random(4))
    b = fresh_device(make_client, srv, "B")
    assert b.sync_resolving_full(prefer="download")[1] == "download"
    media_sync(b)
    fronts = note_fronts(a.col)

    ok(cli("reset-user", "alice", "--confirm", "--base", srv.base))
    assert not (srv.user_dir("alice") / "collection.anki2").exists()

    # the server is empty now: A can only upload
    out = a.sync()
    assert out.required == FULL_UPLOAD, required_name(out.required)
    a.full_upload()
    media_sync_settled(a)
    media_sync(a)
    # B is told to do a full sync (A's upload changed the schema time); it downloads
    out = b.sync()
    assert out.required in FULL_KINDS, required_name(out.required)
    b.full_download()
    assert note_fronts(b.col) == fronts
    media_sync_settled(b)
    assert folder_hashes(media_dir(b)) == folder_hashes(media_dir(a))


# ---------------------------------------------------------------------------
# restore: refuses damaged snapshots; works with the server stopped too
# ---------------------------------------------------------------------------


def test_restore_refuses_damaged_snapshot_and_works_offline(start_server, make_client, tmp_path):
    srv = start_server()
    a = uploaded_device(make_client, srv, "A", "alice", "alicepass", 4, random.Random(5))
    to = tmp_path / "backups"
    snap = backup(srv, to)
    fronts = note_fronts(a.col)
    add_note(a, "later")
    sync_normal(a)

    damaged = tmp_path / "damaged"
    shutil.copytree(snap, damaged)
    col = damaged / "data" / "alice" / "collection.anki2"
    data = bytearray(col.read_bytes())
    data[5000] ^= 0xFF
    col.write_bytes(bytes(data))
    live_before = (srv.user_dir("alice") / "collection.anki2").stat().st_ino
    proc = cli("restore", "--from", damaged, "--base", srv.base)
    assert proc.returncode != 0 and "checksum" in proc.stderr, proc.stderr
    assert (srv.user_dir("alice") / "collection.anki2").stat().st_ino == live_before
    assert cli("restore", "--from", damaged, "--check").returncode != 0

    # with the server stopped, restore works alone; the server then starts normally
    srv.stop()
    ok(cli("restore", "--from", snap, "--base", srv.base))
    assert not (srv.base / ".anki-sync-server.sock").exists()
    srv.start()
    out = a.sync()
    assert out.required == FULL_SYNC, required_name(out.required)
    a.full_download()
    assert note_fronts(a.col) == fronts


# ---------------------------------------------------------------------------
# SIGTERM
# ---------------------------------------------------------------------------


def slow_upload_body(total: int, chunk: int, pause: float, stop: threading.Event) -> Iterator[bytes]:
    """A zstd stream of random bytes, sent a chunk at a time."""
    import zstandard

    comp = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    rng = random.Random(6)
    sent = 0
    while sent < total and not stop.is_set():
        out = comp.compress(rng.randbytes(chunk))
        sent += chunk
        if out:
            yield out
        time.sleep(pause)
    yield comp.flush()


def test_sigterm_during_full_upload_keeps_collection_and_exits_in_time(start_server, make_client):
    timeout = 2
    srv = start_server(env={"SYNC_SHUTDOWN_TIMEOUT": str(timeout)})
    a = uploaded_device(make_client, srv, "A", "alice", "alicepass", 5, random.Random(7))
    header = a.header()
    key = a.auth.hkey
    stop = threading.Event()
    result: dict[str, Any] = {}

    def upload() -> None:
        try:
            result["response"] = raw.request(
                srv.endpoint,
                "sync/upload",
                headers={"anki-sync": raw.sync_header(key), "Content-Type": "application/octet-stream"},
                body=slow_upload_body(64 * 1024 * 1024, 64 * 1024, 0.02, stop),
                chunked=True,
                timeout=30,
            )
        except Exception as e:  # noqa: BLE001 - the server cuts the connection
            result["error"] = e

    t = threading.Thread(target=upload, daemon=True)
    t.start()
    time.sleep(1.0)  # the upload is streaming into the server's temp file
    assert any(p.name.startswith(".incoming-") for p in srv.user_dir("alice").iterdir())
    code, elapsed = server_pid_exit(srv, signal.SIGTERM, timeout + 10)
    stop.set()
    t.join(30)
    assert code == 0
    assert elapsed < timeout + 1.5, elapsed
    assert "response" not in result or result["response"].status != 200
    log = srv.log_text()
    assert "shutdown timeout reached" in log

    srv.stop()
    assert not any(p.name.startswith(".incoming-") for p in srv.user_dir("alice").iterdir())
    srv.start()
    # the old collection is intact: A has nothing to do, a new device gets A's notes
    assert a.sync().required == NO_CHANGES
    assert a.header() == header
    b = fresh_device(make_client, srv, "B")
    assert b.sync_resolving_full(prefer="download")[1] == "download"
    assert note_fronts(b.col) == note_fronts(a.col)


def test_sigterm_idle_exits_zero_within_a_second(start_server, make_client):
    srv = start_server()
    a = uploaded_device(make_client, srv, "A", "alice", "alicepass", 2, random.Random(9))
    assert a.sync().required == NO_CHANGES  # the client keeps an idle keep-alive connection
    code, elapsed = server_pid_exit(srv, signal.SIGTERM, 5)
    assert code == 0
    assert elapsed < 1.0, elapsed
    assert not (srv.base / ".anki-sync-server.sock").exists()
    srv.stop()
    srv.start()
    assert a.sync().required == NO_CHANGES


# ---------------------------------------------------------------------------
# /health, healthcheck, /metrics
# ---------------------------------------------------------------------------


def test_health_and_healthcheck_command(start_server):
    srv = start_server()
    status, body = get(srv, "/health")
    assert status == 200
    version = json.loads((Path(__file__).resolve().parents[2] / "package.json").read_text())["version"]
    assert json.loads(body) == {"status": "ok", "version": version, "checks": {"data_folder": "ok", "free_space": "ok", "server_db": "ok", "collection": "ok"}}
    proc = ok(cli("healthcheck", "--port", str(srv.port), "--host", "127.0.0.1"))
    assert '"ok"' in proc.stdout
    # defaults from SYNC_HOST / SYNC_PORT (0.0.0.0 means this machine)
    ok(cli("healthcheck", env={"SYNC_PORT": str(srv.port), "SYNC_HOST": "0.0.0.0"}))
    srv.stop()
    started = time.monotonic()
    proc = cli("healthcheck", "--port", str(srv.port))
    assert proc.returncode != 0
    assert time.monotonic() - started < 8


def test_metrics_parse_and_count_a_real_sync(start_server, make_client):
    srv = start_server()
    status, text = get(srv, "/metrics")
    assert status == 200
    before = parse_prometheus(text)
    assert metric(before, "anki_sync_syncs_total", kind="normal") == 0

    a = uploaded_device(make_client, srv, "A", "alice", "alicepass", 4, random.Random(10))
    add_note(a, "normal one")
    sync_normal(a)
    with pytest.raises(Exception):
        make_client("X").login(srv.endpoint, "alice", "wrong")

    status, text = get(srv, "/metrics")
    after = parse_prometheus(text)
    assert metric(after, "anki_sync_logins_total", result="ok") == 1
    assert metric(after, "anki_sync_logins_total", result="rejected") == 1
    assert metric(after, "anki_sync_syncs_total", kind="full_upload") == 1
    assert metric(after, "anki_sync_syncs_total", kind="normal") == 1
    assert metric(after, "anki_sync_syncs_total", kind="media") >= 1
    assert metric(after, "anki_sync_sync_duration_seconds_count", kind="normal") == 1
    assert metric(after, "anki_sync_http_requests_total", route="/sync/finish", status="200") == 1
    assert metric(after, "anki_sync_http_requests_total", route="/sync/meta", status="200") >= 2
    assert metric(after, "anki_sync_http_received_bytes_total", route="/sync/upload") > 1000
    assert metric(after, "anki_sync_http_sent_bytes_total", route="/sync/chunk") > 0
    assert metric(after, "anki_sync_active_syncs") == 0
    # no user names unless asked for
    assert "alice" not in text

    srv2 = start_server(env={"SYNC_METRICS_USER_SIZES": "1"})
    uploaded_device(make_client, srv2, "C", "bob", "bobpass", 2, random.Random(11))
    sizes = parse_prometheus(get(srv2, "/metrics")[1])
    assert metric(sizes, "anki_sync_user_collection_bytes", user="bob") > 0
    assert metric(sizes, "anki_sync_user_media_files", user="bob") == 1


# ---------------------------------------------------------------------------
# journal priority prefixes
# ---------------------------------------------------------------------------


def test_log_lines_carry_syslog_priority_when_stderr_is_the_journal(tmp_path):
    srv = SyncServer("ours", tmp_path / "journal")
    srv.log_path.parent.mkdir(parents=True, exist_ok=True)
    srv.log_path.touch()
    st = srv.log_path.stat()
    # systemd sets JOURNAL_STREAM to the device:inode of the stream it connected to stderr
    srv.extra_env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    try:
        srv.start()
        raw.v11(srv.endpoint, "meta", {"v": 11}, key="0" * 40)  # 403: a warning
    finally:
        srv.stop()
    lines = [l for l in srv.log_text().splitlines() if l and not l.startswith("=====")]
    assert any(l.startswith("<6>info listening") for l in lines), lines
    assert any(l.startswith("<4>warn request") and "status=403" in l for l in lines), lines
    assert all(re.match(r"<[3467]>(error|warn|info|debug) ", l) for l in lines), lines

    # a stream that is not the journal (another inode) gets no prefixes
    plain = SyncServer("ours", tmp_path / "plain", env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    try:
        plain.start()
    finally:
        plain.stop()
    assert any(l.startswith("info listening") for l in plain.log_text().splitlines())
