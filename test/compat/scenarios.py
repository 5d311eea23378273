"""Real-client compatibility scenarios, run by one Anki release's own Python.

The driver (run_matrix.py) starts a sync server and runs this file with the
python of a venv holding one `anki` release:

    <venv>/bin/python test/compat/scenarios.py run --endpoint URL --workdir DIR \
        --scenarios login,normal_sync --results out.json
    <venv>/bin/python test/compat/scenarios.py step mixed_edit --role new \
        --device DIR --endpoint URL --state state.json --results out.json

`run` executes whole scenarios in one process (one release). `step` executes one
step of the mixed-release scenario: two releases cannot share a process, so the
driver alternates steps between two venvs; devices persist in their folders and
what a later step checks is passed in the JSON state file.

Only stdlib + `anki` (through compat_adapter) are used: this runs under every
release from 2.1.58 on. Each scenario uses its own account (see account()).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from compat_adapter import Device, anki_version, diff_snapshots, is_auth_error  # noqa: E402

# Mtimes of notes are whole seconds: edits that must be ordered are this far apart.
NEWER = 1.1
# The media scan skips a folder whose mtime (whole seconds) did not change since the
# last scan: changes made right after a media sync wait this long first.
MEDIA_FOLDER_TICK = 1.1

SCENARIOS: dict[str, Callable[["Ctx"], None]] = {}
STEPS: dict[str, Callable[["StepCtx"], None]] = {}


def account(name: str) -> tuple[str, str]:
    """Every scenario has its own account; the driver creates the same ones."""
    return f"compat-{name}", f"pass-{name}"


class ScenarioFailure(AssertionError):
    pass


def check(cond: Any, msg: str) -> None:
    if not cond:
        raise ScenarioFailure(msg)


def expect(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise ScenarioFailure(f"{what}: expected {expected!r}, got {actual!r}")


def expect_same(a: dict, b: dict, what: str, ignore: tuple[str, ...] = ()) -> None:
    diffs = diff_snapshots(a, b, ignore)
    if diffs:
        raise ScenarioFailure(f"{what} differ: " + "; ".join(diffs))


def scenario(name: str):
    def register(fn):
        SCENARIOS[name] = fn
        return fn

    return register


def step(name: str):
    def register(fn):
        STEPS[name] = fn
        return fn

    return register


class Ctx:
    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.devices: list[Device] = []
        self.notes: list[str] = []

    def device(self, scenario_name: str, name: str) -> Device:
        d = Device(self.workdir / scenario_name / name, name)
        self.devices.append(d)
        return d

    def login(self, dev: Device, scenario_name: str) -> None:
        user, password = account(scenario_name)
        dev.login(self.endpoint, user, password)

    def close_all(self) -> None:
        for d in self.devices:
            try:
                d.close()
            except Exception:
                pass
        self.devices = []


# ---------------------------------------------------------------------------
# content
# ---------------------------------------------------------------------------

DECK_A = "Compat::Alpha"
DECK_B = "Compat::Beta::Gamma"
DECK_U = "Ünïcödé 日本語"


def build_content(dev: Device, label: str, reviews: int = 4) -> list[int]:
    """A small realistic collection: nested and non-ASCII decks, two stock
    notetypes (one with two cards per note), tags, a few reviews."""
    dev.enable_v3_scheduler()
    ids = dev.add_notes([f"{label} alpha {i}" for i in range(12)], deck=DECK_A, tags=("compat", label))
    ids += dev.add_notes(
        [f"{label} beta {i}" for i in range(8)], deck=DECK_B, tags=("reversed",), notetype="Basic (and reversed card)"
    )
    ids += dev.add_notes([f"{label} 日本語 {i} — ünïcödé" for i in range(6)], deck=DECK_U, tags=("ünï",))
    answered = dev.answer_cards(DECK_A, reviews)
    check(len(answered) == reviews, f"answered {len(answered)} of {reviews} cards while building content")
    return ids


def media_files(label: str) -> dict[str, bytes]:
    """Media with awkward (NFC) names and one larger file."""
    import random

    rng = random.Random(label)
    names = [
        f"photo 1 {label}.jpg",
        f"café crème {label}.png",
        f"日本語の音声 {label}.ogg",
        f"🎉 party 🦊 {label}.gif",
        f"Straße_{label}.webp",
        f"clip-{label}.mp3",
    ]
    files = {n: bytes(rng.getrandbits(8) for _ in range(rng.randint(300, 6000))) for n in names}
    files[f"lecture {label}.mp4"] = bytes(rng.getrandbits(8) for _ in range(64 * 1024)) * 24  # 1.5 MiB
    return files


def write_media(dev: Device, files: dict[str, bytes]) -> None:
    """Written straight into the media folder, as a user or an add-on would."""
    for name, data in files.items():
        (dev.media_dir / name).write_bytes(data)


def sha1s(files: dict[str, bytes]) -> dict[str, str]:
    import hashlib

    return {n: hashlib.sha1(d).hexdigest() for n, d in files.items()}


def expect_nothing_to_sync(*devs: Device, what: str) -> None:
    """Only the device that synced last has nothing to do: every normal sync and
    every full download moves the server's modification time. (sync_status is not
    used for this: its answer is partly the client's own bookkeeping, differs between
    releases and is cached for 5 minutes.)"""
    for d in devs:
        expect(d.sync(), "NO_CHANGES", f"{d.name}: sync with nothing to do ({what})")


def expect_trivial_sync(dev: Device, snap: dict, what: str) -> None:
    """A device that has everything but did not sync last: one normal sync that
    changes nothing, then nothing to do."""
    expect_same(snap, dev.snapshot(), f"{dev.name} before a trivial sync ({what})")
    expect(dev.sync(), "NORMAL_SYNC", f"{dev.name}: sync after another device's sync ({what})")
    after = dev.snapshot()
    # the client may add a default config entry while syncing (2.1.58-26.9 add
    # `rollover` to a collection that lacks it); nothing else may change
    expect_same(snap, after, f"{dev.name} after a trivial sync ({what})", ignore=("config",))
    changed = sorted(k for k, v in snap["config"].items() if after["config"].get(k) != v)
    check(not changed, f"{dev.name}: config changed by a trivial sync ({what}): {changed}")
    expect_nothing_to_sync(dev, what=what)


# ---------------------------------------------------------------------------
# scenarios (one release, one process)
# ---------------------------------------------------------------------------


@scenario("login")
def s_login(ctx: Ctx) -> None:
    user, password = account("login")
    a = ctx.device("login", "A")
    auth = a.login(ctx.endpoint, user, password)
    check(auth.hkey, "login gave an empty host key")
    # the background status check (meta) works with the host key; what it reports for
    # a never-synced collection is the client's own business (changed in 26.08)
    check(a.status() in ("NO_CHANGES", "FULL_SYNC"), "status of an empty collection on a new account")
    # a second device logs in too; both host keys work
    b = ctx.device("login", "B")
    b.login(ctx.endpoint, user, password)
    expect(b.sync(), "NO_CHANGES", "B: first sync of an empty collection")
    expect(a.sync(), "NO_CHANGES", "A: first sync of an empty collection")
    # refused logins are authentication errors (the desktop then asks again)
    c = ctx.device("login", "C")
    for bad_user, bad_password, what in (
        (user, password + "x", "wrong password"),
        ("compat-nobody", password, "unknown user"),
        (user.upper(), password, "user name in other case"),
    ):
        try:
            c.login(ctx.endpoint, bad_user, bad_password)
        except Exception as err:  # noqa: BLE001
            check(is_auth_error(err), f"{what}: expected an authentication error, got {type(err).__name__}: {err}")
        else:
            raise ScenarioFailure(f"{what}: login was accepted")
    # a host key the server never issued is refused the same way
    c.use_hkey("0" * 40, ctx.endpoint)
    try:
        c.sync()
    except Exception as err:  # noqa: BLE001
        check(is_auth_error(err), f"unknown host key: expected an authentication error, got {type(err).__name__}: {err}")
    else:
        raise ScenarioFailure("sync with an unknown host key was accepted")


@scenario("empty_first_sync")
def s_empty_first_sync(ctx: Ctx) -> None:
    a = ctx.device("empty_first_sync", "A")
    ctx.login(a, "empty_first_sync")
    expect(a.sync(), "NO_CHANGES", "A: first sync, empty collection and empty account")
    b = ctx.device("empty_first_sync", "B")
    ctx.login(b, "empty_first_sync")
    expect(b.sync(), "NO_CHANGES", "B: first sync, empty collection and empty account")
    # the first content goes up in full; the other (empty) device takes it down
    [nid] = a.add_notes(["the very first note"], deck="First")
    expect(a.sync_resolving(), ("FULL_UPLOAD", "upload"), "A: first sync with content")
    expect(b.sync_resolving(), ("FULL_DOWNLOAD", "download"), "B: empty device after A's upload")
    check(b.has_note(nid), "B lacks A's note after the download")
    snap = b.snapshot()
    expect_same(a.snapshot(), snap, "A and B after the first full sync")
    expect_nothing_to_sync(b, what="after the first full download")
    expect_trivial_sync(a, snap, what="after B's download")


@scenario("full_up_down")
def s_full_up_down(ctx: Ctx) -> None:
    a = ctx.device("full_up_down", "A")
    build_content(a, "A")
    ctx.login(a, "full_up_down")
    expect(a.sync_resolving(), ("FULL_UPLOAD", "upload"), "A: first sync of a collection with content")
    expect_nothing_to_sync(a, what="after the upload")
    b = ctx.device("full_up_down", "B")
    ctx.login(b, "full_up_down")
    expect(b.sync_resolving(), ("FULL_DOWNLOAD", "download"), "B: empty device's first sync")
    snap_a = a.snapshot()
    expect_same(snap_a, b.snapshot(), "A and B after upload/download")
    expect(len(snap_a["notes"]), 26, "notes after the download")
    expect(len(snap_a["cards"]), 34, "cards after the download")
    expect(len(snap_a["revlog"]), 4, "reviews after the download")
    expect_nothing_to_sync(b, what="after the download")

    # a schema change on A: both sides non-empty, the user chooses upload on A ...
    a.mark_schema_modified()
    [nid] = a.add_notes(["after the schema change"], deck=DECK_A)
    expect(a.sync_resolving("upload"), ("FULL_SYNC", "upload"), "A: sync after a schema change")
    expect_nothing_to_sync(a, what="after the forced upload")
    # ... and B, unchanged, must take the whole collection again
    expect(b.sync_resolving("download"), ("FULL_SYNC", "download"), "B: sync after A's forced upload")
    check(b.has_note(nid), "B lacks the note added before the forced upload")
    snap = b.snapshot()
    expect_same(a.snapshot(), snap, "A and B after the forced upload/download")
    expect_nothing_to_sync(b, what="after the forced download")
    expect_trivial_sync(a, snap, what="after B's forced download")

    # a third device with its own content: a conflict; it chooses download
    a.wait_past_ids()
    c = ctx.device("full_up_down", "C")
    build_content(c, "C")
    ctx.login(c, "full_up_down")
    expect(c.sync_resolving("download"), ("FULL_SYNC", "download"), "C: own content vs the account's")
    expect_same(a.snapshot(), c.snapshot(), "A and C after C's download")
    expect_nothing_to_sync(c, what="after C's download")


@scenario("normal_sync")
def s_normal_sync(ctx: Ctx) -> None:
    a = ctx.device("normal_sync", "A")
    base = build_content(a, "base")
    ctx.login(a, "normal_sync")
    expect(a.sync_resolving(), ("FULL_UPLOAD", "upload"), "A: initial upload")
    b = ctx.device("normal_sync", "B")
    ctx.login(b, "normal_sync")
    expect(b.sync_resolving(), ("FULL_DOWNLOAD", "download"), "B: initial download")
    a.wait_past_ids()

    added: list[int] = []
    removed: list[int] = []
    edits: dict[int, tuple[int, str]] = {}
    reviewed: set[int] = set()
    revlog_count = len(a.snapshot()["revlog"])
    conflict = base[22]

    for r in (1, 2, 3):
        # -- A's edits
        added += a.add_notes([f"r{r} from A {i}" for i in range(3)], deck=f"Round {r} A::new", tags=(f"r{r}a",))
        edits[base[2 * r]] = (1, f"r{r}: edited on A")
        a.edit_note(base[2 * r], 1, edits[base[2 * r]][1])
        a.remove_notes([base[10 + r]])
        removed.append(base[10 + r])
        got = a.answer_cards(DECK_A, 2)
        reviewed |= set(got)
        revlog_count += len(got)
        if r == 3:
            a.rename_deck(DECK_B, "Compat::Delta")
        if r == 2:
            a.edit_note(conflict, 0, "conflict: A's older edit")
        a.wait_past_ids()
        # -- B's edits
        added += b.add_notes([f"r{r} from B {i}" for i in range(2)], deck=f"Round {r} B::new", tags=(f"r{r}b",))
        edits[base[2 * r + 1]] = (1, f"r{r}: edited on B")
        b.edit_note(base[2 * r + 1], 1, edits[base[2 * r + 1]][1])
        b.remove_notes([base[14 + r]])
        removed.append(base[14 + r])
        b.add_tag(base[18 + r], f"r{r}-tag-from-B")
        got = b.answer_cards(DECK_U, 2)
        reviewed |= set(got)
        revlog_count += len(got)
        if r == 2:
            time.sleep(NEWER)
            b.edit_note(conflict, 0, "conflict: B's newer edit")
        b.wait_past_ids()
        # -- sync: A, B, A; then B once more: every normal sync moves the server's
        # modification time, so the device that did not sync last needs a (trivial)
        # normal sync before it has nothing to do
        what = f"round {r}"
        expect(a.sync(), "NORMAL_SYNC", f"A: first sync of {what}")
        expect(b.sync(), "NORMAL_SYNC", f"B: sync of {what}")
        expect(a.sync(), "NORMAL_SYNC", f"A: second sync of {what}")
        expect_nothing_to_sync(a, what=what)
        snap = a.snapshot()
        expect_same(snap, b.snapshot(), f"A and B after {what}")
        expect(b.sync(), "NORMAL_SYNC", f"B: sync after A's second sync of {what}")
        expect_same(snap, b.snapshot(), f"A and B after B's last sync of {what}")
        expect_nothing_to_sync(b, what=what)
        ids = {row[0] for row in snap["notes"]}
        check(set(added) <= ids, f"{what}: added notes missing: {sorted(set(added) - ids)}")
        check(not (set(removed) & ids), f"{what}: removed notes still there: {sorted(set(removed) & ids)}")
        for nid, (field, text) in edits.items():
            if nid not in removed:
                expect(a.note_field(nid, field), text, f"{what}: note {nid} field {field}")
        expect(len(snap["revlog"]), revlog_count, f"{what}: review log entries")
        check(reviewed <= {row[1] for row in snap["revlog"]}, f"{what}: reviews missing from the log")
        if r >= 2:
            expect(a.note_field(conflict, 0), "conflict: B's newer edit", f"{what}: the newer edit wins")
        if r == 3:
            names = {row[1] for row in snap["decks"]}
            check(
                "Compat\x1fDelta" in names and "Compat\x1fBeta\x1fGamma" not in names,
                f"{what}: deck rename not synced: {sorted(names)}",
            )
        a.wait_past_ids()
        b.wait_past_ids()


@scenario("media")
def s_media(ctx: Ctx) -> None:
    a = ctx.device("media", "A")
    ctx.login(a, "media")
    files = media_files("A")
    write_media(a, files)
    a.media_sync()
    b = ctx.device("media", "B")
    ctx.login(b, "media")
    b.media_sync()
    expect(b.media_hashes(), sha1s(files), "B's media folder after its first media sync")

    # B deletes one file, replaces another's content and adds one
    time.sleep(MEDIA_FOLDER_TICK)
    names = sorted(files)
    (b.media_dir / names[0]).unlink()
    del files[names[0]]
    files[names[1]] = b"replaced on B " * 100
    (b.media_dir / names[1]).write_bytes(files[names[1]])
    files["added on B ü.txt"] = "from B — ü".encode()
    (b.media_dir / "added on B ü.txt").write_bytes(files["added on B ü.txt"])
    b.media_sync()
    expect(b.media_hashes(), sha1s(files), "B's media folder after its changes")
    a.media_sync()
    expect(a.media_hashes(), sha1s(files), "A's media folder after B's changes")
    # nothing left to do on either side
    a.media_sync()
    b.media_sync()
    expect(a.media_hashes(), sha1s(files), "A's media folder after a media sync with nothing to do")

    # a third device gets everything through the desktop's sync button
    # (collection sync, then media sync; 23.10+ run the media part in the backend)
    c = ctx.device("media", "C")
    ctx.login(c, "media")
    expect(c.sync(media=True), "NO_CHANGES", "C: sync with media, empty collection")
    expect(c.media_hashes(), sha1s(files), "C's media folder after a sync with media")


# ---------------------------------------------------------------------------
# the mixed-release scenario: one step per process
# ---------------------------------------------------------------------------


class StepCtx:
    def __init__(self, role: str, device: Device, endpoint: str, state: dict[str, Any]) -> None:
        self.role = role
        self.dev = device
        self.endpoint = endpoint
        self.state = state

    def login_or_reuse(self) -> None:
        hkeys = self.state.setdefault("hkey", {})
        if self.role in hkeys:
            self.dev.use_hkey(hkeys[self.role], self.endpoint)
        else:
            user, password = account("mixed")
            hkeys[self.role] = self.dev.login(self.endpoint, user, password).hkey

    def check_expectations(self, what: str) -> dict[str, Any]:
        snap = self.dev.snapshot()
        ids = {row[0] for row in snap["notes"]}
        added = set(self.state.get("added", []))
        removed = set(self.state.get("removed", []))
        check(added <= ids, f"{what}: added notes missing: {sorted(added - ids)}")
        check(not (removed & ids), f"{what}: removed notes still there: {sorted(removed & ids)}")
        for nid, (field, text) in self.state.get("edits", {}).items():
            expect(self.dev.note_field(int(nid), field), text, f"{what}: note {nid} field {field}")
        return snap


# Snapshot parts that legitimately differ between two releases holding the same
# collection: none so far (extend only with a reason, checked against the official server).
MIXED_IGNORE: tuple[str, ...] = ()


@step("mixed_create")
def m_create(ctx: StepCtx) -> None:
    """The first device builds a collection with media and uploads it."""
    dev = ctx.dev
    ctx.state["base"] = build_content(dev, f"from {ctx.role}")
    files = media_files(ctx.role)
    write_media(dev, files)
    ctx.login_or_reuse()
    expect(dev.sync_resolving(), ("FULL_UPLOAD", "upload"), f"{ctx.role}: first sync with content")
    dev.media_sync()
    expect_nothing_to_sync(dev, what="after the upload")
    ctx.state["snap"] = dev.snapshot()
    ctx.state["media"] = sha1s(files)
    dev.wait_past_ids()


@step("mixed_join")
def m_join(ctx: StepCtx) -> None:
    """The other device (empty) joins: full download and media."""
    dev = ctx.dev
    ctx.login_or_reuse()
    expect(dev.sync_resolving(), ("FULL_DOWNLOAD", "download"), f"{ctx.role}: empty device's first sync")
    dev.media_sync()
    expect_same(ctx.state["snap"], dev.snapshot(), f"{ctx.role}'s download and the uploaded collection", MIXED_IGNORE)
    expect(dev.media_hashes(), ctx.state["media"], f"{ctx.role}'s media after joining")
    expect_nothing_to_sync(dev, what="after joining")
    dev.wait_past_ids()


@step("mixed_edit")
def m_edit(ctx: StepCtx) -> None:
    """Edits on this device, then a normal sync."""
    dev, st = ctx.dev, ctx.state
    ctx.login_or_reuse()
    n = st.setdefault("edit_steps", 0) + 1
    st["edit_steps"] = n
    base = st["base"]
    label = f"{ctx.role} step {n}"
    st.setdefault("added", []).extend(dev.add_notes([f"{label}: {i}" for i in range(3)], deck=f"Mixed {label}"))
    nid = base[n]
    st.setdefault("edits", {})[str(nid)] = (1, f"edited by {label}")
    dev.edit_note(nid, 1, f"edited by {label}")
    st.setdefault("removed", []).append(base[12 + n])
    dev.remove_notes([base[12 + n]])
    dev.add_tag(base[6 + n], f"tag-{ctx.role}-{n}")
    check(dev.answer_cards(DECK_U if ctx.role == "new" else DECK_A, 2), f"{label}: nothing to study")
    dev.wait_past_ids()
    expect(dev.sync(), "NORMAL_SYNC", f"{label}: sync after edits")
    dev.wait_past_ids()


@step("mixed_settle")
def m_settle(ctx: StepCtx) -> None:
    """Pull the other device's edits; record the settled state."""
    dev = ctx.dev
    ctx.login_or_reuse()
    expect(dev.sync(), "NORMAL_SYNC", f"{ctx.role}: sync pulling the other device's edits")
    expect_nothing_to_sync(dev, what="after settling")
    ctx.state["snap"] = ctx.check_expectations(f"{ctx.role} after settling")


@step("mixed_check")
def m_check(ctx: StepCtx) -> None:
    """After the other device settled: a trivial normal sync (the other device's sync
    moved the server's modification time), then the same collection as the other device."""
    dev = ctx.dev
    ctx.login_or_reuse()
    expect_same(ctx.state["snap"], dev.snapshot(), "the two releases' collections before the last sync", MIXED_IGNORE)
    expect(dev.sync(), "NORMAL_SYNC", f"{ctx.role}: sync after the other device settled")
    expect_nothing_to_sync(dev, what="after the other device settled")
    snap = ctx.check_expectations(f"{ctx.role} after the other device settled")
    expect_same(ctx.state["snap"], snap, "the two releases' collections", MIXED_IGNORE)


@step("mixed_full_upload")
def m_full_upload(ctx: StepCtx) -> None:
    """A schema change and new media here: this device uploads the whole collection."""
    dev = ctx.dev
    ctx.login_or_reuse()
    time.sleep(MEDIA_FOLDER_TICK)
    extra = {f"from {ctx.role} release.txt": f"written by {anki_version()}".encode()}
    write_media(dev, extra)
    dev.media_sync()
    ctx.state["media"].update(sha1s(extra))
    dev.mark_schema_modified()
    ctx.state.setdefault("added", []).extend(dev.add_notes(["after the schema change"], deck=DECK_A))
    expect(dev.sync_resolving("upload"), ("FULL_SYNC", "upload"), f"{ctx.role}: sync after a schema change")
    expect_nothing_to_sync(dev, what="after the forced upload")
    ctx.state["snap"] = ctx.check_expectations(f"{ctx.role} after the forced upload")
    dev.wait_past_ids()


@step("mixed_full_download")
def m_full_download(ctx: StepCtx) -> None:
    """The other device must take the whole collection (and the new media)."""
    dev = ctx.dev
    ctx.login_or_reuse()
    expect(dev.sync_resolving("download"), ("FULL_SYNC", "download"), f"{ctx.role}: sync after the forced upload")
    dev.media_sync()
    expect_same(ctx.state["snap"], dev.snapshot(), f"{ctx.role}'s download and the uploaded collection", MIXED_IGNORE)
    expect(dev.media_hashes(), ctx.state["media"], f"{ctx.role}'s media after the download")
    expect_nothing_to_sync(dev, what="after the forced download")
    dev.wait_past_ids()


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def _write(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)


def _result(name: str, started: float, err: BaseException | None) -> dict[str, Any]:
    res: dict[str, Any] = {"scenario": name, "ok": err is None, "secs": round(time.monotonic() - started, 2)}
    if err is not None:
        res["error"] = f"{type(err).__name__}: {err}"
        res["traceback"] = "".join(traceback.format_exception(type(err), err, err.__traceback__))[-4000:]
    return res


def cmd_run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    out = Path(args.results)
    names = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {unknown}; known: {sorted(SCENARIOS)}", file=sys.stderr)
        return 2
    for name in names:
        ctx = Ctx(args.endpoint, Path(args.workdir))
        started = time.monotonic()
        err: BaseException | None = None
        try:
            SCENARIOS[name](ctx)
        except BaseException as e:  # noqa: BLE001 - reported, then the next scenario runs
            err = e
        finally:
            ctx.close_all()
        results.append(_result(name, started, err))
        _write(out, {"anki": anki_version(), "results": results})
        status = "ok" if err is None else f"FAIL {type(err).__name__}: {err}"
        print(f"[{anki_version()}] {name}: {status} ({results[-1]['secs']}s)", flush=True)
    return 0 if all(r["ok"] for r in results) else 1


def cmd_step(args: argparse.Namespace) -> int:
    state_path = Path(args.state)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    started = time.monotonic()
    err: BaseException | None = None
    dev = None
    try:
        dev = Device(Path(args.device), args.role)
        STEPS[args.name](StepCtx(args.role, dev, args.endpoint, state))
    except BaseException as e:  # noqa: BLE001
        err = e
    finally:
        if dev is not None:
            try:
                dev.close()
            except Exception as e:  # noqa: BLE001
                err = err or e
    if err is None:
        _write(state_path, state)
    res = _result(args.name, started, err)
    res["anki"] = anki_version()
    _write(Path(args.results), res)
    status = "ok" if err is None else f"FAIL {type(err).__name__}: {err}"
    print(f"[{anki_version()} as {args.role}] {args.name}: {status} ({res['secs']}s)", flush=True)
    return 0 if err is None else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run whole scenarios")
    run.add_argument("--endpoint", required=True)
    run.add_argument("--workdir", required=True)
    run.add_argument("--scenarios", default=",".join(SCENARIOS))
    run.add_argument("--results", required=True)
    st = sub.add_parser("step", help="run one step of the mixed-release scenario")
    st.add_argument("name", choices=sorted(STEPS))
    st.add_argument("--role", required=True)
    st.add_argument("--device", required=True)
    st.add_argument("--endpoint", required=True)
    st.add_argument("--state", required=True)
    st.add_argument("--results", required=True)
    sub.add_parser("list", help="print the scenario and step names")
    args = parser.parse_args()
    if args.cmd == "run":
        return cmd_run(args)
    if args.cmd == "step":
        return cmd_step(args)
    print(json.dumps({"scenarios": list(SCENARIOS), "steps": list(STEPS)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
