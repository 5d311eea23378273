"""Helpers for the normal (incremental) sync acceptance tests (test_normal_sync.py).

Everything here drives the real Anki client (the `anki` package) or speaks the
v11 protocol by hand through harness.raw; nothing imitates server internals.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import string
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from anki.collection import AddNoteRequest, Collection  # first: anki's modules import each other
from anki.cards import Card
from anki.errors import SyncError
from anki.scheduler.v3 import CardAnswer
from anki.sync import SyncAuth

from harness import compare, raw
from harness.client import (
    IO_TIMEOUT_SECS,
    NO_CHANGES,
    Client,
    open_collection_bytes,
    required_name,
)
from harness.proxy import RewritingProxy
from harness.server import SyncServer

# What the desktop shows for the sync error kinds these tests meet (rslib's
# English strings; the Python layer only exposes the text).
CONFLICT_TEXT = (
    "Only one copy of Anki can sync to your account at once. Please wait a few minutes, then try again."
)
SYNCED_TABLES = ("notes", "cards", "revlog", "graves", "decks", "deck_config", "notetypes", "tags", "config")


# ---------------------------------------------------------------------------
# syncing real clients
# ---------------------------------------------------------------------------


class SyncFailed(AssertionError):
    pass


def sync_normal(c: Client, what: str = "") -> None:
    """One sync by the real client that must complete as a normal sync (or find nothing to do):
    no full sync asked for, no error (a sanity-check failure or a 400 raise here)."""
    try:
        out = c.sync()
    except SyncError as e:
        raise SyncFailed(f"{c.name}: sync failed{' (' + what + ')' if what else ''}: {e}") from e
    finally:
        # pylib caches notetypes and a sync does not invalidate that cache; the desktop
        # clears it after every collection sync (aqt/main.py, on_collection_sync_finished)
        c.col.models._clear_cache()
    assert out.required == NO_CHANGES, (
        f"{c.name}: sync{' (' + what + ')' if what else ''} asked for {required_name(out.required)} "
        "instead of completing a normal sync"
    )


def pending_rows(col: Collection) -> dict[str, int]:
    """Rows the client still has to send (usn = -1), per synced table; empty dict = nothing pending."""
    out = {}
    for table in SYNCED_TABLES:
        n = col.db.scalar(f"select count() from {table} where usn = -1")
        if n:
            out[table] = n
    return out


def assert_nothing_to_sync(c: Client) -> None:
    """What the desktop's offline sync indicator checks: nothing modified since the last sync
    (mod == ls, schema unchanged), and no row is still marked as pending."""
    h = c.header()
    assert h["mod"] == h["ls"], f"{c.name}: collection modified after its last sync: {h}"
    assert h["scm"] <= h["ls"], f"{c.name}: schema modified after its last sync: {h}"
    assert pending_rows(c.col) == {}, f"{c.name}: rows still pending after sync: {pending_rows(c.col)}"


DECK_DAY_COUNTERS = ("newToday", "revToday", "lrnToday", "timeToday")


def settle(*clients: Client, what: str = "", ignore: Sequence[str] = ()) -> dict[str, Any]:
    """Sync every client in turn, then the first again (so everyone has everyone's changes).
    Then: each client has nothing left to send, a further sync of each brings nothing new,
    and all collections are equal (except the snapshot sections in `ignore`, which the
    caller checks itself). Returns the first client's snapshot."""
    order = list(clients) + [clients[0]]
    for c in order:
        sync_normal(c, what)
    snaps = []
    for c in clients:
        assert_nothing_to_sync(c)
        before = compare.snapshot(c.col)
        sync_normal(c, f"{what}, second sync")
        after = compare.snapshot(c.col)
        compare.assert_same(before, after, f"{c.name} before/after a sync with nothing to do ({what})")
        assert_nothing_to_sync(c)
        snaps.append(after)

    def strip(s: dict) -> dict:
        out = {k: v for k, v in s.items() if k not in ignore}
        if "decks" in out:
            # A deck's per-day study counters (newToday, revToday, ...) change when
            # cards are answered in it or in a child deck, and sync as part of the
            # deck, newest mtime (whole seconds) winning, ties kept locally. Two
            # devices studying under one parent deck in the same second keep
            # different counters, with the official server and ours alike. They
            # reset daily; everything else about decks must be equal.
            out["decks"] = {
                name: {k: v for k, v in deck.items() if k not in DECK_DAY_COUNTERS}
                for name, deck in out["decks"].items()
            }
        return out

    for c, s in zip(clients[1:], snaps[1:]):
        compare.assert_same(strip(snaps[0]), strip(s), f"{clients[0].name} and {c.name} after {what or 'syncing'}")
    return snaps[0]


def reopen(c: Client) -> None:
    c.col = Collection(str(c.path))


# ---------------------------------------------------------------------------
# user actions through the anki API
# ---------------------------------------------------------------------------


def add_notes(
    col: Collection, texts: Sequence[str], deck: str = "Default", tags: Sequence[str] = (), notetype: str = "Basic"
) -> list[int]:
    did = col.decks.id(deck)
    m = col.models.by_name(notetype)
    notes = []
    for t in texts:
        n = col.new_note(m)
        n.fields[0] = t
        if len(n.fields) > 1:
            n.fields[1] = f"back of {t}"
        n.tags = list(tags)
        notes.append(n)
    col.add_notes([AddNoteRequest(note=n, deck_id=did) for n in notes])
    return [int(n.id) for n in notes]


def edit_note(col: Collection, nid: int, field_index: int, text: str) -> None:
    n = col.get_note(nid)
    n.fields[field_index] = text
    col.update_note(n)


def answer_cards(col: Collection, deck: str, count: int, ratings: Sequence[int] = (3, 1, 4, 2)) -> list[int]:
    """Study `count` cards of `deck` with the v3 scheduler, the way the reviewer does
    (get_queued_cards -> build_answer -> answer_card). Returns the answered card ids."""
    col.decks.select(col.decks.id(deck))
    answered = []
    for i in range(count):
        queued = col.sched.get_queued_cards()
        if not queued.cards:
            break
        qc = queued.cards[0]
        card = Card(col, backend_card=qc.card)
        card.start_timer()
        rating = ratings[i % len(ratings)]
        col.sched.answer_card(col.sched.build_answer(card=card, states=qc.states, rating=_RATINGS[rating]))
        answered.append(int(card.id))
    col.decks.select(1)
    return answered


_RATINGS = {1: CardAnswer.AGAIN, 2: CardAnswer.HARD, 3: CardAnswer.GOOD, 4: CardAnswer.EASY}


def answer_card_id(col: Collection, cid: int, rating: int = 3) -> None:
    """Answer one specific card with its current scheduling states (the scheduler's own
    legacy entry point for this, which goes through the same v3 answer_card)."""
    card = col.get_card(cid)
    card.start_timer()
    col.sched.answerCard(card, rating)


def enable_fsrs(col: Collection, deck: str, params: Sequence[float], retention: float) -> None:
    """What the deck options screen does when FSRS is switched on with given parameters."""
    did = col.decks.id(deck)
    upd = col.decks.get_deck_configs_for_update(did)
    conf = next(c.config for c in upd.all_config if c.config.id == upd.current_deck.config_id)
    del conf.config.fsrs_params_6[:]
    conf.config.fsrs_params_6.extend(params)
    conf.config.desired_retention = retention
    from anki.decks import UpdateDeckConfigs, UpdateDeckConfigsMode

    req = UpdateDeckConfigs(
        target_deck_id=did,
        configs=[conf],
        mode=UpdateDeckConfigsMode.UPDATE_DECK_CONFIGS_MODE_NORMAL,
        card_state_customizer=upd.card_state_customizer,
        limits=upd.current_deck.limits,
        new_cards_ignore_review_limit=upd.new_cards_ignore_review_limit,
        fsrs=True,
        apply_all_parent_limits=upd.apply_all_parent_limits,
        fsrs_reschedule=False,
        fsrs_health_check=False,
    )
    col.decks.update_deck_configs(req)


def build_filtered_deck(col: Collection, name: str, search: str, limit: int = 50) -> int:
    deck = col.sched.get_or_create_filtered_deck(0)
    deck.name = name
    del deck.config.search_terms[1:]
    deck.config.search_terms[0].search = search
    deck.config.search_terms[0].limit = limit
    deck.config.reschedule = True
    return int(col.sched.add_or_update_filtered_deck(deck).id)


# ---------------------------------------------------------------------------
# the server's stored collection, seen through a full download
# ---------------------------------------------------------------------------


def server_collection(endpoint: str, hkey: str, folder: Path) -> Collection:
    """Download the stored collection (a separate request: it aborts any session, and the
    server bumps its usn/mod) and open it with anki. Caller closes it."""
    r = raw.download(endpoint, hkey)
    assert r.status == 200, r.describe()
    assert r.payload.startswith(b"SQLite format 3\x00"), r.describe()
    col = open_collection_bytes(r.payload, folder)
    assert col.db.scalar("pragma integrity_check") == "ok"
    return col


def server_snapshot(endpoint: str, hkey: str, folder: Path) -> dict[str, Any]:
    col = server_collection(endpoint, hkey, folder)
    try:
        return compare.snapshot(col)
    finally:
        col.close()


def kill9(srv: SyncServer) -> None:
    """SIGKILL the server process (no shutdown handlers run), then reap it."""
    proc = srv.proc
    assert proc is not None and proc.poll() is None, "server is not running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    srv.stop()  # process already gone: only closes the log file


# ---------------------------------------------------------------------------
# raw v11 normal-sync session
# ---------------------------------------------------------------------------


def new_session_key() -> str:
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(8))


@dataclass
class RawSession:
    """One device's normal sync spoken by hand (the same calls, in the same order, as rslib)."""

    endpoint: str
    hkey: str
    skey: str = field(default_factory=new_session_key)
    log: list[tuple[str, int]] = field(default_factory=list)

    def call(self, method: str, payload: Any = raw.EMPTY_INPUT, *, skey: str | None = None, body: bytes | None = None):
        r = raw.v11(self.endpoint, method, payload, key=self.hkey, session=self.skey if skey is None else skey, body=body)
        self.log.append((method, r.status))
        return r

    def ok(self, method: str, payload: Any = raw.EMPTY_INPUT) -> Any:
        r = self.call(method, payload)
        assert r.status == 200, r.describe()
        return r.json()

    def meta(self) -> dict:
        return self.ok("meta", {"v": 11, "cv": "anki,26.9.3 (interop),linux"})

    def start(self, min_usn: int, lnewer: bool) -> dict:
        return self.ok("start", {"minUsn": min_usn, "lnewer": lnewer, "graves": None})

    def all_chunks(self) -> list[dict]:
        out = []
        for _ in range(10_000):
            c = self.ok("chunk")
            out.append(c)
            if c["done"]:
                return out
        raise AssertionError("server never finished sending chunks")


def _rows(col: Collection, sql: str, *args: Any) -> list[list]:
    return [list(r) for r in col.db.all(sql, *args)]


@dataclass
class PendingChanges:
    """A real client's pending changes, as the client would put them on the wire."""

    graves: dict[str, list[int]]
    changes: dict[str, Any]
    chunk: dict[str, Any]
    counts: list


def pending_changes(col: Collection, server_usn: int, lnewer: bool) -> PendingChanges:
    """Read the rows a client has marked as pending (usn = -1) and lay them out as rslib sends
    them (graves, unchunked changes, one final chunk, sanity counts), stamped with the
    server usn from meta."""
    graves: dict[str, list[int]] = {"cards": [], "notes": [], "decks": []}
    kinds = {0: "cards", 1: "notes", 2: "decks"}
    for oid, kind in col.db.all("select oid, type from graves where usn = -1"):
        graves[kinds[kind]].append(oid)

    def stamp(obj: dict) -> dict:
        obj = dict(obj)
        obj["usn"] = server_usn
        return obj

    models = [stamp(col.models.get(i)) for i in col.db.list("select id from notetypes where usn = -1")]
    decks = [stamp(col.decks.get(i)) for i in col.db.list("select id from decks where usn = -1")]
    dconf = [stamp(col.decks.get_config(i)) for i in col.db.list("select id from deck_config where usn = -1")]
    tags = col.db.list("select tag from tags where usn = -1")
    changes: dict[str, Any] = {"models": models, "decks": [decks, dconf], "tags": tags}
    if lnewer:
        changes["conf"] = col.all_config()
        changes["crt"] = col.db.scalar("select crt from col")

    notes = _rows(col, "select id, guid, mid, mod, ?, tags, flds, '', '', 0, '' from notes where usn = -1", server_usn)
    cards = _rows(
        col,
        "select id, nid, did, ord, mod, ?, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data "
        "from cards where usn = -1",
        server_usn,
    )
    revlog = _rows(
        col, "select id, cid, ?, ease, ivl, lastIvl, factor, time, type from revlog where usn = -1", server_usn
    )
    chunk = {"done": True, "revlog": revlog, "cards": cards, "notes": notes}
    counts = [
        [0, 0, 0],
        col.db.scalar("select count() from cards"),
        col.db.scalar("select count() from notes"),
        col.db.scalar("select count() from revlog"),
        0,
        col.db.scalar("select count() from notetypes"),
        col.db.scalar("select count() from decks"),
        col.db.scalar("select count() from deck_config"),
    ]
    return PendingChanges(graves, changes, chunk, counts)


# The steps of a normal sync after meta, in the client's order.
STEPS = ("start", "applyGraves", "applyChanges", "chunk", "applyChunk", "sanityCheck2")


def run_steps(
    sess: RawSession, pending_for: Callable[[int, bool], PendingChanges], min_usn: int, local_mod: int, upto: str
) -> PendingChanges:
    """Drive meta + the steps of a normal sync up to and including `upto` (all must succeed).
    Returns what was (or would have been) sent."""
    meta = sess.meta()
    lnewer = local_mod > meta["mod"]
    p = pending_for(meta["usn"], lnewer)
    sess.start(min_usn, lnewer)
    if upto == "start":
        return p
    assert sess.ok("applyGraves", {"chunk": p.graves}) is None
    if upto == "applyGraves":
        return p
    sess.ok("applyChanges", {"changes": p.changes})
    if upto == "applyChanges":
        return p
    sess.all_chunks()
    if upto == "chunk":
        return p
    assert sess.ok("applyChunk", {"chunk": p.chunk}) is None
    if upto == "applyChunk":
        return p
    res = sess.ok("sanityCheck2", {"client": p.counts})
    assert res["status"] == "ok", res
    if upto == "sanityCheck2":
        return p
    raise ValueError(upto)


# ---------------------------------------------------------------------------
# a client syncing in its own process
# ---------------------------------------------------------------------------


def _sync_worker(path: str, hkey: str, endpoint: str, barrier, out) -> None:  # runs in a child process
    col = Collection(path)
    try:
        auth = SyncAuth(hkey=hkey, endpoint=endpoint, io_timeout_secs=IO_TIMEOUT_SECS)
        if barrier is not None:
            barrier.wait(30)
        t0 = time.time()
        try:
            res = col.sync_collection(auth, False)
            out.put(("ok", int(res.required), t0, time.time()))
        except SyncError as e:
            out.put(("error", str(e), t0, time.time()))
        except Exception as e:  # noqa: BLE001 - reported to the test
            out.put(("exception", f"{type(e).__name__}: {e}", t0, time.time()))
    finally:
        col.close()


@dataclass
class SyncResult:
    status: str  # "ok" | "error" | "exception"
    detail: Any  # required value, or the error text
    started: float
    ended: float


class ProcessSync:
    """Run one client's sync in a separate process (each Collection in its own process).
    The parent's Collection for that file must be closed meanwhile."""

    _ctx = multiprocessing.get_context("spawn")

    def __init__(self, c: Client, endpoint: str | None = None, barrier=None) -> None:
        assert c.col is None, "close the client's collection before syncing it from another process"
        self.queue = self._ctx.Queue()
        self.proc = self._ctx.Process(
            target=_sync_worker,
            args=(str(c.path), c.auth.hkey, endpoint or c.auth.endpoint, barrier, self.queue),
            daemon=True,
        )

    @classmethod
    def barrier(cls, parties: int):
        return cls._ctx.Barrier(parties)

    def start(self) -> "ProcessSync":
        self.proc.start()
        return self

    def result(self, timeout: float = 120) -> SyncResult:
        import queue as _queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                status, detail, t0, t1 = self.queue.get(timeout=0.5)
                break
            except _queue.Empty:
                if not self.proc.is_alive():
                    raise AssertionError(f"sync process died without a result (exit code {self.proc.exitcode})")
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise AssertionError(f"sync process gave no result within {timeout}s")
        self.proc.join(30)
        return SyncResult(status, detail, t0, t1)


# ---------------------------------------------------------------------------
# a proxy that can hold one client's requests at a chosen step
# ---------------------------------------------------------------------------


class GateProxy:
    """Forward a real client's requests unchanged, but hold the first request to `hold_at`
    (e.g. "chunk") until release() is called. Records the methods that went through."""

    def __init__(self, upstream_port: int, hold_at: str) -> None:
        self.hold_at = hold_at
        self.reached = threading.Event()
        self._release = threading.Event()
        self.methods: list[str] = []
        self._held = False
        self._proxy = RewritingProxy(upstream_port, self._on_request)

    def _on_request(self, path: str, payload: bytes) -> None:
        method = path.rstrip("/").rsplit("/", 1)[-1]
        self.methods.append(method)
        if method == self.hold_at and not self._held:
            self._held = True
            self.reached.set()
            self._release.wait(60)
        return None

    @property
    def endpoint(self) -> str:
        return self._proxy.endpoint

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> "GateProxy":
        self._proxy.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._proxy.__exit__(*exc)
