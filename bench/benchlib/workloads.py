"""Generate the benchmark workloads with the real `anki` package, cached on disk.

Cached per profile under bench/.cache/<profile>-<hash>/ (built in a temporary
folder and renamed when complete, so an interrupted build is never reused):

  big.anki2     ~50,000 notes, review history in cards + a long revlog; never synced
  small.anki2   the per-user collection for the many-users scenario
  crowd.anki2   the per-user collection for the crowd (64 users) scenario
  media/        the media files (random bytes, i.e. incompressible like jpg/mp3)
  workload.json what was built (counts, sizes)

What depends on a server (the state after a full upload, and the client-side
pending changes made on top of it) is built per run, see scenarios.py.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Callable

from anki.collection import AddNoteRequest, Collection
from anki.scheduler.v3 import CardAnswer

from .profiles import Profile

Log = Callable[[str], None]

DECKS = [
    "Languages::French::Vocabulary",
    "Languages::French::Grammar",
    "Languages::German::Vocabulary",
    "Languages::Japanese::Kanji 漢字",
    "Languages::Japanese::Vocabulary",
    "Medicine::Anatomy",
    "Medicine::Pharmacology",
    "Medicine::Pathology",
    "Science::Physics",
    "Science::Chemistry::Organic",
    "Science::Biology",
    "History::Europe",
    "History::Asia",
    "Geography::Capitals",
    "Geography::Rivers",
    "Programming::Rust",
    "Programming::SQL",
    "Music::Theory",
    "Law::Contracts",
    "Misc",
]

SYLLABLES = [
    "ka", "to", "ri", "mu", "sen", "la", "vo", "qui", "dre", "po", "na", "zu", "el", "ar",
    "ish", "om", "be", "tra", "gen", "ol", "ü", "é", "ção", "sch", "ny", "ph", "ti", "os",
]


class TextGen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(8000)]

    def words_(self, n: int) -> str:
        return " ".join(self.rng.choice(self.words) for _ in range(n))

    def front(self) -> str:
        return self.words_(self.rng.randint(2, 10))

    def back(self) -> str:
        parts = [self.words_(self.rng.randint(10, 40))]
        if self.rng.random() < 0.5:
            parts.append(f"<br><i>{self.words_(self.rng.randint(5, 20))}</i>")
        if self.rng.random() < 0.3:
            parts.append(f"<ul><li>{self.words_(6)}</li><li>{self.words_(6)}</li></ul>")
        return "".join(parts)


def _file_bytes(col: Collection) -> int:
    return int(col.db.scalar("pragma page_count")) * int(col.db.scalar("pragma page_size"))


def _notes(col: Collection, count: int, rng: random.Random, text: TextGen, tag_prefix: str = "") -> None:
    basic = col.models.by_name("Basic")
    reversed_ = col.models.by_name("Basic (and reversed card)")
    cloze = col.models.by_name("Cloze")
    deck_ids = [col.decks.id(name) for name in DECKS]
    tags = [f"{tag_prefix}topic::{i // 10}::t{i}" for i in range(200)] + ["leech", "marked", "日本語"]
    batch: list[AddNoteRequest] = []
    for i in range(count):
        r = rng.random()
        if r < 0.6:
            note = col.new_note(basic)
            note["Front"], note["Back"] = text.front(), text.back()
        elif r < 0.85:
            note = col.new_note(reversed_)
            note["Front"], note["Back"] = text.front(), text.back()
        else:
            note = col.new_note(cloze)
            note["Text"] = f"{text.words_(5)} {{{{c1::{text.words_(2)}}}}} {text.words_(8)} {{{{c2::{text.words_(2)}}}}} {text.words_(5)}"
            note["Back Extra"] = text.words_(rng.randint(0, 20))
        note.tags = rng.sample(tags, rng.randint(1, 3))
        batch.append(AddNoteRequest(note=note, deck_id=rng.choice(deck_ids)))
        if len(batch) >= 5000:
            col.add_notes(batch)
            batch = []
    if batch:
        col.add_notes(batch)


def build_collection(path: Path, notes: int, target_bytes: int, min_revlog: int, seed: int, log: Log) -> dict:
    """A studied collection: notes of stock notetypes in nested decks, 70% of the
    cards in review state, and revlog rows (valid, usn -1, like an unsynced
    client) until the file reaches target_bytes."""
    rng = random.Random(seed)
    text = TextGen(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    col = Collection(str(path))
    try:
        t0 = time.monotonic()
        _notes(col, notes, rng, text)
        log(f"  {notes} notes added ({time.monotonic() - t0:.1f}s)")

        today = col.sched.today
        now_s = int(time.time())
        cids = col.db.list("select id from cards order by id")
        review = [cid for cid in cids if rng.random() < 0.7]
        rows = []
        for cid in review:
            ivl = rng.randint(1, 400)
            due = today + rng.randint(-20, ivl)
            rows.append((ivl, due, rng.randint(1300, 3000), rng.randint(1, 40), rng.randint(0, 6), now_s, cid))
        col.db.transact(
            lambda: col.db.executemany(
                "update cards set type = 2, queue = 2, ivl = ?, due = ?, factor = ?, reps = ?, lapses = ?,"
                " left = 0, mod = ?, usn = -1 where id = ?",
                rows,
            )
        )
        # review history: ids are answer times over the last ~3 years, strictly increasing
        per_row = 70  # bytes per revlog row incl. indexes, roughly
        expected = max(min_revlog, (target_bytes - _file_bytes(col)) // per_row)
        span_ms = 3 * 365 * 86_400_000
        step = max(2, span_ms // max(1, int(expected * 1.3)))
        rid = int(time.time() * 1000) - span_ms
        total = 0
        batch_size = min(100_000, max(1_000, min_revlog // 10))
        while (total < min_revlog or _file_bytes(col) < target_bytes) and total < 50_000_000:
            batch = []
            for _ in range(batch_size):
                rid += rng.randint(1, 2 * step - 1)
                ivl = rng.randint(1, 400)
                kind = rng.choices((0, 1, 2, 3), (10, 80, 8, 2))[0]
                batch.append(
                    (rid, rng.choice(review), -1, rng.choices((1, 2, 3, 4), (8, 12, 70, 10))[0],
                     ivl if kind != 0 else -rng.randint(60, 600), rng.randint(0, ivl), rng.choice((0, 1300, 2500, 2650)) if kind else 0,
                     rng.randint(800, 60_000), kind)
                )
            col.db.transact(
                lambda: col.db.executemany(
                    "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) values (?,?,?,?,?,?,?,?,?)",
                    batch,
                )
            )
            total += len(batch)
        info = {
            "notes": col.note_count(),
            "cards": col.card_count(),
            "review_cards": len(review),
            "revlog": int(col.db.scalar("select count() from revlog")),
        }
    finally:
        col.close()
    info["bytes"] = path.stat().st_size
    log(f"  {path.name}: {info} ({time.monotonic() - t0:.1f}s)")
    return info


def apply_pending(path: Path, reviews: int, notes: int, seed: int) -> dict:
    """Make a normal sync pending on a synced client: answer `reviews` cards through
    the scheduler (card updates + revlog rows) and add `notes` new notes."""
    rng = random.Random(seed)
    text = TextGen(rng)
    col = Collection(str(path))
    try:
        cids = col.db.list("select id from cards where queue = 2 order by id")
        if len(cids) < reviews:
            cids = col.db.list("select id from cards order by id")
        chosen = rng.sample(cids, min(reviews, len(cids)))
        ratings = (CardAnswer.AGAIN, CardAnswer.HARD, CardAnswer.GOOD, CardAnswer.EASY)
        for cid in chosen:
            states = col._backend.get_scheduling_states(cid)
            rating = rng.choices(ratings, (10, 10, 70, 10))[0]
            new_state = {
                CardAnswer.AGAIN: states.again,
                CardAnswer.HARD: states.hard,
                CardAnswer.GOOD: states.good,
                CardAnswer.EASY: states.easy,
            }[rating]
            col.sched.answer_card(
                CardAnswer(
                    card_id=cid,
                    current_state=states.current,
                    new_state=new_state,
                    rating=rating,
                    answered_at_millis=int(time.time() * 1000),
                    milliseconds_taken=rng.randint(2000, 20000),
                )
            )
        _notes(col, notes, rng, text, tag_prefix="new::")
        info = {
            "reviews": len(chosen),
            "new_notes": notes,
            "pending_cards": int(col.db.scalar("select count() from cards where usn = -1")),
            "pending_notes": int(col.db.scalar("select count() from notes where usn = -1")),
            "pending_revlog": int(col.db.scalar("select count() from revlog where usn = -1")),
            "notes": col.note_count(),
        }
    finally:
        col.close()
    return info


def build_media(folder: Path, files: int, total_bytes: int, seed: int) -> dict:
    """`files` files averaging total_bytes/files bytes (sizes 0.2x..1.8x the mean)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    mean = total_bytes // files
    exts = ("jpg", "png", "mp3", "webp", "ogg")
    written = 0
    for i in range(files):
        size = rng.randint(mean // 5, mean * 9 // 5)
        name = f"bench_{i:05d}_{rng.randrange(16**6):06x}.{exts[i % len(exts)]}"
        (folder / name).write_bytes(rng.randbytes(size))
        written += size
    return {"files": files, "bytes": written}


def ensure_cache(profile: Profile, cache_root: Path, log: Log) -> tuple[Path, dict]:
    """The cached workload folder for this profile, building it when missing."""
    final = cache_root / profile.cache_key()
    manifest = final / "workload.json"
    if manifest.exists():
        log(f"workloads: cached in {final}")
        return final, json.loads(manifest.read_text())
    tmp = cache_root / (profile.cache_key() + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"workloads: building {profile.name} profile in {tmp} (cached for later runs)")
    t0 = time.monotonic()
    info: dict = {"profile": profile.name}
    info["big"] = build_collection(tmp / "big" / "collection.anki2", profile.big_notes, profile.big_target_bytes, profile.big_min_revlog, 1, log)
    info["small"] = build_collection(tmp / "small" / "collection.anki2", profile.user_notes, profile.user_target_bytes, profile.user_min_revlog, 2, log)
    info["crowd"] = build_collection(tmp / "crowd" / "collection.anki2", profile.crowd_notes, profile.crowd_target_bytes, profile.crowd_min_revlog, 4, log)
    log("  media files ...")
    info["media"] = build_media(tmp / "media", profile.media_files, profile.media_total_bytes, 3)
    log(f"  media: {info['media']}")
    info["build_seconds"] = round(time.monotonic() - t0, 1)
    for sub in ("big", "small", "crowd"):
        # keep only the closed collection file
        for p in (tmp / sub).iterdir():
            if p.name != "collection.anki2":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    (tmp / "workload.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    log(f"workloads: built in {info['build_seconds']}s")
    return final, info
