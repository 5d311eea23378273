"""Workload sizes. `full` is what the issue asks for; `quick` is a smoke test."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

# Bump when the generator changes in a way that changes the cached files.
GENERATOR_VERSION = 4


@dataclass(frozen=True)
class Profile:
    name: str
    # the big collection (full upload / download, normal sync base)
    big_notes: int
    big_target_bytes: int  # revlog rows are added until the file reaches this size
    big_min_revlog: int
    # one normal sync on top of the big collection
    pending_reviews: int
    pending_notes: int
    # media
    media_files: int
    media_total_bytes: int
    # many users at once
    users: int
    user_notes: int
    user_target_bytes: int
    user_min_revlog: int
    user_pending_reviews: int
    user_pending_notes: int
    # a crowd of users at once, each with a small collection
    crowd_users: int
    crowd_notes: int
    crowd_target_bytes: int
    crowd_min_revlog: int
    crowd_pending_reviews: int
    crowd_pending_notes: int
    # repetitions of every scenario on every server
    reps: int

    def cache_key(self) -> str:
        d = asdict(self)
        d.pop("reps")
        d["generator"] = GENERATOR_VERSION
        digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{digest}"


FULL = Profile(
    name="full",
    big_notes=50_000,
    big_target_bytes=100 * 1000 * 1000,
    big_min_revlog=500_000,
    pending_reviews=10_000,
    pending_notes=2_000,
    media_files=1_000,
    media_total_bytes=100 * 1000 * 1000,
    users=16,
    user_notes=5_000,
    user_target_bytes=10 * 1000 * 1000,
    user_min_revlog=50_000,
    user_pending_reviews=1_000,
    user_pending_notes=200,
    crowd_users=64,
    crowd_notes=1_000,
    crowd_target_bytes=2 * 1000 * 1000,
    crowd_min_revlog=10_000,
    crowd_pending_reviews=200,
    crowd_pending_notes=40,
    reps=5,
)

QUICK = Profile(
    name="quick",
    big_notes=2_000,
    big_target_bytes=3 * 1000 * 1000,
    big_min_revlog=10_000,
    pending_reviews=300,
    pending_notes=60,
    media_files=40,
    media_total_bytes=2 * 1000 * 1000,
    users=16,
    user_notes=200,
    user_target_bytes=400 * 1000,
    user_min_revlog=1_000,
    user_pending_reviews=40,
    user_pending_notes=10,
    crowd_users=64,
    crowd_notes=100,
    crowd_target_bytes=300 * 1000,
    crowd_min_revlog=500,
    crowd_pending_reviews=20,
    crowd_pending_notes=5,
    reps=1,
)

PROFILES = {p.name: p for p in (FULL, QUICK)}
