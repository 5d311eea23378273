"""Measures what the real Anki client (rslib) sends on each route during a
large normal sync, to set the per-route budgets (src/http/budgets.ts).

Not part of CI (it takes a minute or two); run by hand:
  .venv/bin/python test/hostile/measure_chunks.py [--notes 20000] [--field-bytes 1000]

Device A logs in, full-uploads an empty collection, then adds many notes with
large fields, reviews, decks and notetypes and syncs normally through a
recording proxy: every request's decoded payload is measured (bytes and JSON
values as the server's token counter counts them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from anki.collection import AddNoteRequest  # noqa: E402

from harness.client import Client  # noqa: E402
from harness.proxy import RewritingProxy  # noqa: E402
from harness.server import SyncServer  # noqa: E402


def json_tokens(payload: bytes) -> int:
    """Containers and values, counted like src/http/budgets.ts: [ { , outside strings."""
    count, in_string, escaped = 0, False, False
    for c in payload:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B, 0x2C):
            count += 1
    return count


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=20000)
    ap.add_argument("--field-bytes", type=int, default=1000)
    ap.add_argument("--decks", type=int, default=300)
    ap.add_argument("--notetypes", type=int, default=40)
    args = ap.parse_args()

    sizes: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def record(path: str, payload: bytes) -> None:
        sizes[path.rsplit("/", 1)[-1]].append((len(payload), json_tokens(payload)))
        return None

    with tempfile.TemporaryDirectory() as tmp:
        server = SyncServer("ours", Path(tmp) / "server", users=[("alice", "alicepass")])
        server.start()
        try:
            with RewritingProxy(server.port, record) as proxy:
                a = Client(Path(tmp) / "a", "a")
                a.login(proxy.endpoint, "alice", "alicepass")
                col = a.col
                first = col.new_note(col.models.by_name("Basic"))
                first["Front"] = "first"
                col.add_note(first, 1)
                a.sync_resolving_full("upload")
                basic = col.models.by_name("Basic")
                for i in range(args.notetypes):
                    m = col.models.copy(basic)
                    m["name"] = f"Basic copy {i}"
                    col.models.update_dict(m)
                deck_ids = [col.decks.id(f"Deck {i // 30}::Sub {i}") for i in range(args.decks)]
                filler = ("lorem ipsum, dolor sit amet " * (args.field_bytes // 28 + 1))[: args.field_bytes]
                reqs = []
                for i in range(args.notes):
                    note = col.new_note(basic)
                    note["Front"] = f"front {i} {filler}"
                    note["Back"] = f"back {i} {filler}"
                    note.tags = [f"tag{i % 500}"]
                    reqs.append(AddNoteRequest(note=note, deck_id=deck_ids[i % len(deck_ids)]))
                col.add_notes(reqs)
                out = a.sync()
                print(f"normal sync: required={out.required} (0 = done as a normal sync)")
                a.close()
        finally:
            server.stop()

    print(f"{'route':14} {'requests':>8} {'max bytes':>12} {'max values':>11}")
    for route, rows in sorted(sizes.items()):
        print(f"{route:14} {len(rows):8} {max(b for b, _ in rows):12} {max(t for _, t in rows):11}")
    print(json.dumps({k: [max(b for b, _ in v), max(t for _, t in v)] for k, v in sizes.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
