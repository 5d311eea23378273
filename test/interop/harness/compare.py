"""Extract a collection's synced content into plain, comparable data.

What must be equal between two devices after a successful sync (full or
normal) is everything the user can see or that the scheduler uses: ids, note
contents, card scheduling state, review history, deck tree and preset
assignment, preset options, notetypes, tags, synced config, crt and scm.

What legitimately differs and is therefore left out:
  * `usn` on every object: the uploader's rows keep the usn it stamped before
    uploading, while a downloader gets whatever the server holds (normal syncs
    also restamp rows);
  * the collection's `mod`, `usn` and `ls` (last sync time): the server bumps
    mod/usn on a full download and each device records its own last-sync time.
    These are compared separately by the tests where a value is defined.
"""

from __future__ import annotations

import copy
from typing import Any

from anki.collection import Collection

# config keys that are legitimately per device / are not part of the
# collection's synced state. (None known for full syncs at the moment; the
# official client copies the whole config. Keep this list short and justified.)
LOCAL_CONFIG_KEYS: frozenset[str] = frozenset()


def _drop(d: dict, *keys: str) -> dict:
    d = copy.deepcopy(d)
    for k in keys:
        d.pop(k, None)
    return d


def notes(col: Collection) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    names = {m["id"]: m["name"] for m in col.models.all()}
    for nid in col.find_notes(""):
        n = col.get_note(nid)
        out[int(n.id)] = {
            "guid": n.guid,
            "notetype": names.get(n.mid, f"<missing notetype {n.mid}>"),
            "mid": n.mid,
            "fields": list(n.fields),
            "tags": sorted(n.tags),
            "mod": n.mod,
        }
    return out


def cards(col: Collection) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for cid in col.find_cards(""):
        c = col.get_card(cid)
        out[int(c.id)] = {
            "nid": c.nid,
            "ord": c.ord,
            "did": c.did,
            "odid": c.odid,
            "due": c.due,
            "odue": c.odue,
            "ivl": c.ivl,
            "factor": c.factor,
            "reps": c.reps,
            "lapses": c.lapses,
            "left": c.left,
            "queue": int(c.queue),
            "type": int(c.type),
            "flags": c.flags,
            "mod": c.mod,
            "original_position": c.original_position,
            "custom_data": c.custom_data,
            "memory_state": None if c.memory_state is None else str(c.memory_state),
        }
    return out


def revlog(col: Collection) -> list[tuple]:
    # no high-level API lists the whole review log; col.db is anki's own SQL access
    return [
        tuple(r)
        for r in col.db.all(
            "select id, cid, ease, ivl, lastIvl, factor, time, type from revlog order by id"
        )
    ]


def decks(col: Collection) -> dict[str, dict[str, Any]]:
    out = {}
    for entry in col.decks.all_names_and_ids():
        d = col.decks.get(entry.id)
        out[d["name"]] = _drop(d, "usn")
    return out


def deck_configs(col: Collection) -> dict[str, dict[str, Any]]:
    return {c["name"]: _drop(c, "usn") for c in col.decks.all_config()}


def deck_preset_names(col: Collection) -> dict[str, str]:
    """deck name -> name of the preset (deck options) it uses."""
    confs = {c["id"]: c["name"] for c in col.decks.all_config()}
    out = {}
    for entry in col.decks.all_names_and_ids():
        d = col.decks.get(entry.id)
        if not d.get("dyn"):
            out[d["name"]] = confs.get(int(d["conf"]), f"<missing preset {d['conf']}>")
    return out


def notetypes(col: Collection) -> dict[str, dict[str, Any]]:
    return {m["name"]: _drop(m, "usn") for m in col.models.all()}


def tags(col: Collection) -> list[str]:
    return sorted(col.tags.all())


def config(col: Collection) -> dict[str, Any]:
    return {k: v for k, v in col.all_config().items() if k not in LOCAL_CONFIG_KEYS}


def header(col: Collection) -> dict[str, Any]:
    crt, scm = col.db.first("select crt, scm from col")
    return {"crt": crt, "scm": scm}


SECTIONS = {
    "notes": notes,
    "cards": cards,
    "revlog": revlog,
    "decks": decks,
    "deck_presets": deck_preset_names,
    "deck_configs": deck_configs,
    "notetypes": notetypes,
    "tags": tags,
    "config": config,
    "header": header,
}


def snapshot(col: Collection) -> dict[str, Any]:
    return {name: fn(col) for name, fn in SECTIONS.items()}


def summary(snap: dict[str, Any]) -> dict[str, int]:
    return {k: len(v) for k, v in snap.items()}


def diff(a: dict[str, Any], b: dict[str, Any], limit: int = 8) -> list[str]:
    """Readable differences between two snapshots (empty list = equal)."""
    problems: list[str] = []
    for section in SECTIONS:
        x, y = a.get(section), b.get(section)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            only_a = sorted(set(x) - set(y), key=str)
            only_b = sorted(set(y) - set(x), key=str)
            changed = [k for k in x if k in y and x[k] != y[k]]
            if only_a:
                problems.append(f"{section}: {len(only_a)} only in first, e.g. {only_a[:limit]}")
            if only_b:
                problems.append(f"{section}: {len(only_b)} only in second, e.g. {only_b[:limit]}")
            for k in changed[:limit]:
                xv, yv = x[k], y[k]
                if isinstance(xv, dict) and isinstance(yv, dict):
                    sub = {
                        f: (xv.get(f), yv.get(f))
                        for f in set(xv) | set(yv)
                        if xv.get(f) != yv.get(f)
                    }
                    problems.append(f"{section}[{k!r}] differs: {sub}")
                else:
                    problems.append(f"{section}[{k!r}]: {xv!r} != {yv!r}")
            if len(changed) > limit:
                problems.append(f"{section}: {len(changed) - limit} more changed entries")
        elif isinstance(x, list) and isinstance(y, list):
            sx, sy = set(map(repr, x)), set(map(repr, y))
            problems.append(
                f"{section}: {len(x)} vs {len(y)} entries; only in first {sorted(sx - sy)[:limit]}, "
                f"only in second {sorted(sy - sx)[:limit]}"
            )
        else:
            problems.append(f"{section}: {x!r} != {y!r}")
    return problems


def assert_same(a: dict[str, Any], b: dict[str, Any], what: str = "collections") -> None:
    problems = diff(a, b)
    assert not problems, f"{what} differ:\n  " + "\n  ".join(problems)
