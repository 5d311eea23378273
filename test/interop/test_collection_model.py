"""Oracle tests for the collection model (src/collection/).

The real Anki client (`anki` package in .venv) opens collections our
TypeScript code created or wrote, and its view of every object is compared
key by key with the view of a collection Anki made itself.

The comparison helpers (`normalize_*`, `diff_objects`, `assert_same_*`) are
meant to be reused by other interop tests, e.g. the "fresh client syncs
against a fresh server: no changes" test that needs the running server.

Run: .venv/bin/python -m pytest test/interop/test_collection_model.py
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from anki.collection import Collection

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "dist" / "collection" / "tools" / "collection-tool.js"

# Keys that legitimately differ between two freshly created collections.
VOLATILE_NOTETYPE_KEYS = {"id", "mod", "usn"}
VOLATILE_FIELD_KEYS = {"id"}  # random i64 per field
VOLATILE_TEMPLATE_KEYS = {"id"}  # random i64 per template
VOLATILE_DECK_KEYS = {"mod", "usn"}
VOLATILE_DCONF_KEYS = {"mod", "usn"}
# curModel holds the (time-based) id of the Basic notetype
VOLATILE_CONFIG_KEYS = {"curModel"}


# ---------------------------------------------------------------- building


@pytest.fixture(scope="session")
def ts_tool() -> Path:
    """The compiled collection tool; `npm test` (scripts/test.sh) builds dist/
    before the suite runs, so nothing is rebuilt under running servers here."""
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is missing: run `npm run build` first")
    return TOOL


def run_tool(tool: Path, *args: str) -> Any:
    proc = subprocess.run(
        ["node", str(tool), *args], cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise AssertionError(f"collection-tool {' '.join(args)} failed:\n{proc.stderr}")
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    return json.loads(lines[-1]) if lines else None


def ts_create(tool: Path, path: Path, now_ms: int | None = None) -> Path:
    args = ["create", str(path)]
    if now_ms is not None:
        args.append(str(now_ms))
    run_tool(tool, *args)
    return path


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture()
def anki_fresh(tmp_path: Path) -> Iterator[Collection]:
    """A brand-new collection created by Anki itself in server mode."""
    d = tmp_path / "anki"
    d.mkdir()
    col = Collection(str(d / "collection.anki2"), server=True)
    try:
        yield col
    finally:
        col.close()


def open_copy(src: Path, dest_dir: Path, server: bool = False) -> Collection:
    """Opens a copy of `src` with the real client (never the original: the
    client upgrades/modifies files it opens)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "collection.anki2"
    shutil.copyfile(src, dest)
    return Collection(str(dest), server=server)


def create_with_rslib_only(path: Path) -> None:
    """Creates a collection through the Rust backend alone, without the
    extra config keys the Python Collection class adds when it loads."""
    from anki._backend import RustBackend

    backend = RustBackend(server=True)
    media = path.parent / "media"
    backend.open_collection(
        collection_path=str(path),
        media_folder_path=str(media),
        media_db_path=str(path.parent / "media.db"),
    )
    backend.close_collection(downgrade_to_schema11=False)


# ---------------------------------------------------------------- comparing


def diff_objects(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Key-by-key differences between two JSON-like values. Floats are
    compared exactly (both sides come from f32 values printed by rslib or by
    us, so the text must round-trip to the same number)."""
    diffs: list[str] = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for k in sorted(set(ours) | set(theirs)):
            p = f"{path}.{k}" if path else str(k)
            if k not in ours:
                diffs.append(f"{p}: missing in ours (theirs={theirs[k]!r})")
            elif k not in theirs:
                diffs.append(f"{p}: extra in ours ({ours[k]!r})")
            else:
                diffs.extend(diff_objects(ours[k], theirs[k], p))
    elif isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            diffs.append(f"{path}: length {len(ours)} != {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            diffs.extend(diff_objects(a, b, f"{path}[{i}]"))
    else:
        same = ours == theirs and type(ours) is type(theirs)
        # 1 and 1.0 are the same JSON number for every client
        if not same and isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
            same = not isinstance(ours, bool) and not isinstance(theirs, bool) and ours == theirs
        if not same:
            diffs.append(f"{path}: {ours!r} != {theirs!r}")
    return diffs


def normalize_notetype(nt: dict[str, Any], drop_ids: bool = True) -> dict[str, Any]:
    out = {k: v for k, v in nt.items() if k not in VOLATILE_NOTETYPE_KEYS}
    if drop_ids:
        out["flds"] = [
            {k: v for k, v in f.items() if k not in VOLATILE_FIELD_KEYS} for f in nt["flds"]
        ]
        out["tmpls"] = [
            {k: v for k, v in t.items() if k not in VOLATILE_TEMPLATE_KEYS}
            for t in nt["tmpls"]
        ]
    return out


def normalize_deck(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in VOLATILE_DECK_KEYS}


def normalize_dconf(c: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in c.items() if k not in VOLATILE_DCONF_KEYS}


def by_name(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {o["name"]: o for o in objs}
    assert len(out) == len(objs), "duplicate names"
    return out


def assert_same_notetypes(ours: list[dict], theirs: list[dict], drop_ids: bool = True) -> None:
    a, b = by_name(ours), by_name(theirs)
    assert sorted(a) == sorted(b)
    diffs = []
    for name in a:
        diffs += diff_objects(
            normalize_notetype(a[name], drop_ids), normalize_notetype(b[name], drop_ids), name
        )
    assert not diffs, "\n".join(diffs)


def assert_same_decks(ours: list[dict], theirs: list[dict]) -> None:
    a, b = by_name(ours), by_name(theirs)
    assert sorted(a) == sorted(b)
    diffs = []
    for name in a:
        diffs += diff_objects(normalize_deck(a[name]), normalize_deck(b[name]), name)
    assert not diffs, "\n".join(diffs)


def assert_same_deck_configs(ours: list[dict], theirs: list[dict]) -> None:
    a, b = by_name(ours), by_name(theirs)
    assert sorted(a) == sorted(b)
    diffs = []
    for name in a:
        diffs += diff_objects(normalize_dconf(a[name]), normalize_dconf(b[name]), name)
    assert not diffs, "\n".join(diffs)


def assert_same_config(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    a = {k: v for k, v in ours.items() if k not in VOLATILE_CONFIG_KEYS}
    b = {k: v for k, v in theirs.items() if k not in VOLATILE_CONFIG_KEYS}
    diffs = diff_objects(a, b)
    assert not diffs, "\n".join(diffs)


def schema_description(path: Path) -> dict[str, Any]:
    """Tables (columns, types, keys, WITHOUT ROWID) and indexes (columns,
    collations, uniqueness, partial) of a file, read with plain sqlite3 (no
    unicase needed for schema pragmas)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        desc: dict[str, Any] = {}
        for (name, wr, strict) in db.execute(
            "select name, wr, strict from pragma_table_list where schema='main' and type='table'"
        ):
            if name.startswith("sqlite_stat") or name == "sqlite_schema":
                desc[f"table {name}"] = "present"
                continue
            cols = list(db.execute(f"pragma table_xinfo('{name}')"))
            desc[f"table {name}"] = {"wr": wr, "strict": strict, "cols": cols}
        for (name, tbl, sql) in db.execute(
            "select name, tbl_name, sql from sqlite_master where type='index'"
        ):
            info = list(db.execute(f"pragma index_xinfo('{name}')"))
            lst = [r for r in db.execute(f"pragma index_list('{tbl}')") if r[1] == name]
            desc[f"index {name}"] = {"table": tbl, "xinfo": info, "list": [r[2:] for r in lst],
                                     "has_sql": sql is not None}
        # collations of declared columns: from the CREATE TABLE text (normalised)
        for (name, sql) in db.execute("select name, sql from sqlite_master where type='table'"):
            if sql and "unicase" in sql.lower():
                cols = [
                    line.strip().split()[0]
                    for line in sql.splitlines()
                    if "collate unicase" in line.lower()
                ]
                desc[f"unicase {name}"] = cols
        return desc
    finally:
        db.close()


# ---------------------------------------------------------------- new collection


def test_new_collection_schema_matches_anki(ts_tool: Path, tmp_path: Path) -> None:
    ours = ts_create(ts_tool, tmp_path / "ours.anki2")
    theirs = tmp_path / "rs" / "collection.anki2"
    theirs.parent.mkdir()
    create_with_rslib_only(theirs)
    a, b = schema_description(ours), schema_description(theirs)
    diffs = diff_objects(a, b)
    assert not diffs, "\n".join(diffs)


def test_new_collection_integrity(ts_tool: Path, tmp_path: Path) -> None:
    ours = ts_create(ts_tool, tmp_path / "ours.anki2")
    col = open_copy(ours, tmp_path / "client")
    try:
        assert col.db.scalar("pragma integrity_check") == "ok"
        assert col.db.scalar("select ver from col") == 18
        # (col.mod is not checked here: the Python layer writes config on
        # load; test_new_collection_raw_config_rows checks the stored row)
        assert col.is_empty()
        # the client's own database check finds nothing to fix
        out, ok = col.fix_integrity()
        assert ok, out
    finally:
        col.close()


def test_new_collection_notetypes(ts_tool: Path, tmp_path: Path, anki_fresh: Collection) -> None:
    ours = ts_create(ts_tool, tmp_path / "ours.anki2")
    col = open_copy(ours, tmp_path / "client", server=True)
    try:
        mine = col.models.all()
        theirs = anki_fresh.models.all()
        assert [m["name"] for m in sorted(mine, key=lambda m: m["id"])] == [
            m["name"] for m in sorted(theirs, key=lambda m: m["id"])
        ]
        assert_same_notetypes(mine, theirs)
        # ids are random i64s (not all small), unique within the collection
        ids = [f["id"] for m in mine for f in m["flds"]] + [
            t["id"] for m in mine for t in m["tmpls"]
        ]
        assert len(set(ids)) == len(ids)
        assert all(isinstance(i, int) for i in ids)
        assert any(abs(i) > 2**53 for i in ids)
    finally:
        col.close()


def test_new_collection_decks(ts_tool: Path, tmp_path: Path, anki_fresh: Collection) -> None:
    ours = ts_create(ts_tool, tmp_path / "ours.anki2")
    col = open_copy(ours, tmp_path / "client", server=True)
    try:
        assert_same_decks(col.decks.all(), anki_fresh.decks.all())
        assert_same_deck_configs(col.decks.all_config(), anki_fresh.decks.all_config())
        # volatile keys are equal too for a fresh collection
        assert col.decks.all() == anki_fresh.decks.all()
        assert col.decks.all_config() == anki_fresh.decks.all_config()
    finally:
        col.close()


def test_new_collection_config(ts_tool: Path, tmp_path: Path, anki_fresh: Collection) -> None:
    ours = ts_create(ts_tool, tmp_path / "ours.anki2")
    col = open_copy(ours, tmp_path / "client", server=True)
    try:
        assert_same_config(col.all_config(), anki_fresh.all_config())
        basic = col.models.by_name("Basic")
        assert basic is not None
        assert col.get_config("curModel") == basic["id"]
    finally:
        col.close()


def test_new_collection_raw_config_rows(ts_tool: Path, tmp_path: Path) -> None:
    """Raw config rows (before any Python-side defaults are added) equal a
    collection the Rust backend created in server mode."""
    ours = ts_create(ts_tool, tmp_path / "ours.anki2")
    theirs = tmp_path / "rs" / "collection.anki2"
    theirs.parent.mkdir()
    create_with_rslib_only(theirs)

    def rows(p: Path) -> dict[str, tuple]:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            return {
                k: (usn, mtime, typ, json.loads(val))
                for (k, usn, mtime, typ, val) in db.execute(
                    "select KEY, usn, mtime_secs, typeof(val), val from config"
                )
            }
        finally:
            db.close()

    a, b = rows(ours), rows(theirs)
    assert sorted(a) == sorted(b)
    for k in a:
        if k == "curModel":
            # rslib stamps it with mtime now and usn -1; we use usn 0 on the server
            assert a[k][2] == b[k][2] == "blob"
            continue
        assert a[k] == b[k], k

    def col_row(p: Path) -> tuple:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            return db.execute(
                "select mod, ver, dty, usn, ls, conf, models, decks, dconf, tags,"
                " typeof(conf) from col"
            ).fetchone()
        finally:
            db.close()

    assert col_row(ours) == col_row(theirs)


# ---------------------------------------------------------------- rich collections (phase 2)

BIG = 2**62 + 12345  # beyond 2^53: must survive exactly


def build_rich_collection(path: Path) -> None:
    """A collection made by the real client with non-default objects of
    every kind the model converters handle."""
    col = Collection(str(path), server=True)
    try:
        # --- deck option presets: FSRS on, many options changed, unknown keys
        fsrs = col.decks.add_config("FSRS preset")
        fsrs["new"].update(
            delays=[0.5, 3.0, 15.0, 1440.0], perDay=37, initialFactor=2310, ints=[2, 6, 0],
            order=0, bury=True, separate=True,
        )
        fsrs["rev"].update(perDay=555, ease4=1.45, ivlFct=0.95, maxIvl=4000, hardFactor=1.15,
                           bury=True, fuzz=0.05, minSpace=1)
        fsrs["lapse"].update(delays=[5.0, 20.0], mult=0.3, minInt=2, leechFails=12,
                             leechAction=0, leechFixed=7)
        fsrs.update(
            maxTaken=90, autoplay=False, timer=1, replayq=False, newMix=2, interdayLearningMix=1,
            reviewOrder=7, newSortOrder=3, newGatherPriority=5, buryInterdayLearning=True,
            newPerDayMinimum=3,
            fsrsParams5=[0.4, 1.2, 3.1, 15.5, 7.2, 0.5, 1.4, 0.005, 1.5, 0.1, 1.0, 1.9, 0.1,
                         0.3, 2.3, 0.2, 3.0, 0.5, 0.6],
            fsrsParams6=[0.2172, 1.1771, 3.2602, 16.1507, 7.0114, 0.57, 2.0966, 0.0069,
                         1.5261, 0.112, 1.0178, 1.849, 0.1133, 0.3127, 2.2934, 0.2191, 3.0004,
                         0.7536, 0.3332, 0.1437, 0.2],
            fsrsWeights=[0.4, 0.6, 2.4, 5.8, 4.93, 0.94, 0.86, 0.01, 1.49, 0.14, 0.94, 2.18,
                         0.05, 0.34, 1.26, 0.29, 2.61],
            desiredRetention=0.87, sm2Retention=0.83, weightSearch="deck:Parent",
            ignoreRevlogsBeforeDate="2024-01-31",
            easyDaysPercentages=[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0],
            stopTimerOnAnswer=True, secondsToShowQuestion=4.5, secondsToShowAnswer=2.25,
            questionAction=1, answerAction=3, waitForAudio=False,
            myAddon={"nested": [1, 2.5, "x", None], "big": BIG},
        )
        col.decks.update_config(fsrs)
        sm2 = col.decks.add_config("SM2 preset")
        sm2["new"]["perDay"] = 0
        sm2["rev"]["perDay"] = 9999
        sm2["desiredRetention"] = 0.7
        col.decks.update_config(sm2)
        col.set_config("fsrs", True)

        # --- decks: nested, unicode, limits, description, filtered
        parent = col.decks.id("Parent")
        child = col.decks.id("Parent::Child")
        col.decks.id("Parent::Child::Grand child")
        uni = col.decks.id("Ünïcödé 日本::子デッキ")
        d = col.decks.get(child)
        d.update(conf=fsrs["id"], desc="<b>described</b>", md=True, reviewLimit=0, newLimit=7,
                 reviewLimitToday={"limit": 3, "today": 100}, newLimitToday={"limit": 0, "today": 0},
                 desiredRetention=85, extendNew=2, extendRev=4, collapsed=True,
                 browserCollapsed=False, mid=1234)
        col.decks.save(d)
        d = col.decks.get(uni)
        d["conf"] = sm2["id"]
        col.decks.save(d)
        fid = col.decks.new_filtered("Filtered::Review ahead")
        f = col.decks.get(fid)
        f.update(resched=False, terms=[["deck:Parent is:due", 55, 6], ["tag:x", 0, 1]],
                 previewDelay=10, previewAgainSecs=30, previewHardSecs=300, previewGoodSecs=0,
                 delays=[1.0, 5.5])
        col.decks.save(f)
        col.decks.new_filtered("Filtered 2")

        # --- notetypes: a custom one with 12 fields and 4 templates
        mm = col.models
        m = mm.new("Custom 12 ✓")
        for i in range(12):
            fld = mm.new_field(f"Field {i} é")
            fld.update(sticky=i % 2 == 0, rtl=i == 3, font="Noto Serif" if i % 3 else "Arial",
                       size=10 + i, description=f"desc {i}", plainText=i == 5, collapsed=i == 6,
                       excludeFromSearch=i == 7, media=[], custom=i)
            mm.add_field(m, fld)
        for i in range(4):
            t = mm.new_template(f"Card {i + 1}")
            t["qfmt"] = f"{{{{Field {i} é}}}}<div class=q{i}></div>"
            t["afmt"] = f"{{{{FrontSide}}}}<hr id=answer>{{{{Field {i + 4} é}}}}"
            if i == 1:
                t.update(bqfmt="{{Field 1 é}} (browser)", bafmt="<i>b</i>", bfont="Courier",
                         bsize=14, did=parent)
            if i == 2:
                t["extra"] = {"k": [True, None]}
            mm.add_template(m, t)
        m["css"] = ".card { color: #123; }\n.q0 { font-size: 3em; }\n"
        m["latexPre"] = "\\documentclass{article}\\begin{document}"
        m["latexPost"] = "\\end{document}%custom"
        m["latexsvg"] = True
        m["sortf"] = 3
        m["vers"] = []
        m["tags"] = ["legacy"]
        mm.add(m)

        # --- config values and tags
        col.set_config("myAddonConf", {"list": [1, "two", 3.5, None, True], "big": BIG})
        col.set_config("unicodeValue", "日本語 ✓")
        col.set_config("rollover", 7)
        basic = mm.by_name("Basic")
        note = col.new_note(basic)
        note["Front"] = "front"
        note["Back"] = "back"
        note.tags = ["ünïcode", "日本::語", "Parent::child_tag", "UPPER::lower"]
        col.add_note(note, parent)
    finally:
        col.close()


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rich")
    path = d / "collection.anki2"
    build_rich_collection(path)
    return path


def anki_view(path: Path, dest: Path) -> dict[str, Any]:
    """The client's legacy JSON view of (a copy of) a collection."""
    col = open_copy(path, dest, server=True)
    try:
        return {
            "models": col.models.all(),
            "decks": col.decks.all(),
            "dconf": col.decks.all_config(),
            "conf": col.all_config(),
            "tags": dict(col.db.all("select tag, usn from tags")),
        }
    finally:
        col.close()


def ts_dump(tool: Path, path: Path, dest: Path) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    copy = dest / "collection.anki2"
    shutil.copyfile(path, copy)
    return run_tool(tool, "dump", str(copy))


def by_id(objs: list[dict]) -> dict[int, dict]:
    return {o["id"]: o for o in objs}


def assert_same_objects(ours: list[dict], theirs: list[dict], kind: str) -> None:
    a, b = by_id(ours), by_id(theirs)
    assert sorted(a) == sorted(b), f"{kind}: ids differ"
    diffs = []
    for i in a:
        diffs += diff_objects(a[i], b[i], f"{kind} {i} ({b[i].get('name')})")
    assert not diffs, "\n".join(diffs)


def assert_same_model(ours: dict[str, Any], theirs: dict[str, Any], config: bool = True) -> None:
    assert_same_objects(ours["models"], theirs["models"], "notetype")
    assert_same_objects(ours["decks"], theirs["decks"], "deck")
    assert_same_objects(ours["dconf"], theirs["dconf"], "deck config")
    if config:
        diffs = diff_objects(ours["conf"], theirs["conf"], "conf")
        assert not diffs, "\n".join(diffs)
    assert ours["tags"] == theirs["tags"]


def test_model_rich_collection_is_rich(rich: Path, tmp_path: Path) -> None:
    view = anki_view(rich, tmp_path / "a")
    names = {m["name"] for m in view["models"]}
    assert {"Basic", "Cloze", "Image Occlusion", "Custom 12 ✓"} <= names
    assert any(d["dyn"] == 1 for d in view["decks"])
    assert any(c["fsrsParams6"] for c in view["dconf"])
    assert any(abs(f["id"]) > 2**53 for m in view["models"] for f in m["flds"])


def test_model_dump_matches_anki(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    """Our legacy JSON, computed from the stored rows, equals the client's."""
    theirs = anki_view(rich, tmp_path / "a")
    ours = ts_dump(ts_tool, rich, tmp_path / "b")
    assert_same_model(ours, theirs)


def test_model_roundtrip_json(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    """Client JSON -> our stored form -> JSON gives the client JSON back."""
    theirs = anki_view(rich, tmp_path / "a")
    src = tmp_path / "in.json"
    src.write_text(json.dumps({k: theirs[k] for k in ("models", "decks", "dconf")}))
    ours = run_tool(ts_tool, "roundtrip", str(src))
    assert_same_objects(ours["models"], theirs["models"], "notetype")
    assert_same_objects(ours["decks"], theirs["decks"], "deck")
    assert_same_objects(ours["dconf"], theirs["dconf"], "deck config")


def test_model_rows_written_by_us_open_in_client(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    """Stored rows written by us from the client's JSON are read back by the
    client as the same objects."""
    theirs = anki_view(rich, tmp_path / "a")
    ours_file = ts_create(ts_tool, tmp_path / "ours.anki2")
    src = tmp_path / "model.json"
    src.write_text(json.dumps(theirs))
    run_tool(ts_tool, "load", str(ours_file), str(src))
    view = anki_view(ours_file, tmp_path / "c")
    assert_same_model(view, theirs)
    col = open_copy(ours_file, tmp_path / "d")
    try:
        assert col.db.scalar("pragma integrity_check") == "ok"
    finally:
        col.close()


def test_model_malformed_json_is_rejected_cleanly(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    theirs = anki_view(rich, tmp_path / "a")
    ours_file = ts_create(ts_tool, tmp_path / "ours.anki2")
    before = ts_dump(ts_tool, ours_file, tmp_path / "before")
    bad_deck = dict(theirs["decks"][0])
    del bad_deck["collapsed"]
    bad_nt = dict(theirs["models"][0])
    bad_nt["flds"] = [dict(bad_nt["flds"][0], size="big")]
    for payload, words in (
        ({"decks": [bad_deck]}, ["deck", "collapsed"]),
        ({"models": [bad_nt]}, ["notetype", "field 0", "size"]),
        ({"models": theirs["models"], "dconf": [{"id": 5}]}, ["deck config 5", "mod"]),
    ):
        src = tmp_path / "bad.json"
        src.write_text(json.dumps(payload))
        with pytest.raises(AssertionError) as err:
            run_tool(ts_tool, "load", str(ours_file), str(src))
        for w in words:
            assert w in str(err.value)
        # nothing was written
        assert ts_dump(ts_tool, ours_file, tmp_path / "after") == before


def schema11_json(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ver, conf, models, decks, dconf, tags = db.execute(
            "select ver, conf, models, decks, dconf, tags from col"
        ).fetchone()
        journal = db.execute("pragma journal_mode").fetchone()[0]
    finally:
        db.close()
    return {
        "ver": ver,
        "journal": journal,
        "conf": json.loads(conf),
        "models": json.loads(models),
        "decks": json.loads(decks),
        "dconf": json.loads(dconf),
        "tags": json.loads(tags),
    }


def rslib_downgrade(src: Path, dest_dir: Path) -> Path:
    col = open_copy(src, dest_dir, server=True)
    col.close(downgrade=True)
    return dest_dir / "collection.anki2"


def test_model_downgrade_matches_anki(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    theirs_file = rslib_downgrade(rich, tmp_path / "rs")
    ours_file = tmp_path / "ours" / "collection.anki2"
    ours_file.parent.mkdir()
    shutil.copyfile(rich, ours_file)
    run_tool(ts_tool, "downgrade", str(ours_file))
    a, b = schema11_json(ours_file), schema11_json(theirs_file)
    assert a["ver"] == b["ver"] == 11
    assert a["journal"] == "delete"
    for key in ("models", "decks", "dconf"):
        assert sorted(a[key]) == sorted(b[key]), key
        diffs = []
        for i in a[key]:
            diffs += diff_objects(a[key][i], b[key][i], f"{key}[{i}]")
        assert not diffs, "\n".join(diffs)
    # the client adds config keys when it loads; compare against its view
    assert not diff_objects(a["conf"], b["conf"]), diff_objects(a["conf"], b["conf"])
    assert a["tags"] == b["tags"]
    assert not diff_objects(schema_description(ours_file), schema_description(theirs_file))


def test_model_downgraded_file_opens_in_client(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    theirs = anki_view(rich, tmp_path / "a")
    ours_file = tmp_path / "ours" / "collection.anki2"
    ours_file.parent.mkdir()
    shutil.copyfile(rich, ours_file)
    run_tool(ts_tool, "downgrade", str(ours_file))
    view = anki_view(ours_file, tmp_path / "b")
    assert_same_model(view, theirs)


def test_model_upgrade_matches_anki(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    legacy = rslib_downgrade(rich, tmp_path / "rs")
    theirs = anki_view(legacy, tmp_path / "a")  # rslib upgrades its copy
    ours_file = tmp_path / "ours" / "collection.anki2"
    ours_file.parent.mkdir()
    shutil.copyfile(legacy, ours_file)
    run_tool(ts_tool, "upgrade", str(ours_file))
    a = schema_description(ours_file)
    fresh = tmp_path / "fresh" / "collection.anki2"
    fresh.parent.mkdir()
    create_with_rslib_only(fresh)
    assert not diff_objects(a, schema_description(fresh)), diff_objects(a, schema_description(fresh))
    ours = ts_dump(ts_tool, ours_file, tmp_path / "dump")
    view = anki_view(ours_file, tmp_path / "b")
    assert_same_model(view, theirs)
    assert_same_model(ours, theirs, config=False)
    col = open_copy(ours_file, tmp_path / "c")
    try:
        assert col.db.scalar("pragma integrity_check") == "ok"
    finally:
        col.close()


def test_model_upgrade_of_messy_legacy_file(ts_tool: Path, rich: Path, tmp_path: Path) -> None:
    """Legacy JSON needing the upgrade's fixes (deck names to normalise, a
    low starting ease with its cards) is upgraded by us as by rslib. (Name
    collisions are not compared: rslib resolves them in HashMap order.)"""
    legacy = rslib_downgrade(rich, tmp_path / "rs")
    db = sqlite3.connect(legacy)
    try:
        decks = json.loads(db.execute("select decks from col").fetchone()[0])
        dconf = json.loads(db.execute("select dconf from col").fetchone()[0])
        ids = sorted(int(k) for k in decks)
        a, b = str(ids[-1]), str(ids[-2])
        decks[a]["name"] = "  Messy ::\tdeck:: "
        decks[b]["name"] = "messy::DECK"
        low = next(k for k, c in dconf.items() if c["name"] == "SM2 preset")
        dconf[low]["new"]["initialFactor"] = 1300
        # make a normal deck use the low-ease preset and give it a low-ease card
        normal = next(k for k, d in decks.items() if d["dyn"] == 0 and k != "1")
        decks[normal]["conf"] = int(low)
        db.execute("update col set decks = ?, dconf = ?", (json.dumps(decks), json.dumps(dconf)))
        db.execute("update cards set did = ?, factor = 1500", (int(normal),))
        db.commit()
    finally:
        db.close()
    theirs = anki_view(legacy, tmp_path / "a")
    ours_file = tmp_path / "ours" / "collection.anki2"
    ours_file.parent.mkdir()
    shutil.copyfile(legacy, ours_file)
    run_tool(ts_tool, "upgrade", str(ours_file))
    view = anki_view(ours_file, tmp_path / "b")
    # renamed decks get mtime = now on both sides; allow a few seconds
    for x, y in zip(sorted(view["decks"], key=lambda d: d["id"]), sorted(theirs["decks"], key=lambda d: d["id"])):
        if abs(x["mod"] - y["mod"]) <= 5:
            x["mod"] = y["mod"]
    assert_same_model(view, theirs)
    names = {d["name"] for d in view["decks"]}
    assert "Messy::deck::blank" in names and "messy::DECK" in names
    c = sqlite3.connect(ours_file)
    try:
        assert c.execute("select distinct factor from cards").fetchall() == [(2500,)]
    finally:
        c.close()
    r = sqlite3.connect(tmp_path / "a" / "collection.anki2")
    try:
        assert r.execute("select distinct factor from cards").fetchall() == [(2500,)]
    finally:
        r.close()
