"""A second, well-behaved user syncing with the real Anki client in a loop.

Run by the hostile-client suite (run.py) as its own process while the probes
attack the server. Each sync adds a note and runs a normal sync (media off);
one JSON line per sync goes to stdout: {"start", "end", "ok", "error"} with
time.time() stamps. Stops when the file named by --stop exists, or after
--max-seconds, whichever comes first (the loop is bounded either way).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from harness.client import Client  # noqa: E402  (the interop suite's wrapper of the real client)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--folder", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--max-seconds", type=float, default=900)
    args = ap.parse_args()

    client = Client(Path(args.folder), name=args.user)
    col = client.col
    assert col is not None
    client.login(args.endpoint, args.user, args.password)
    notetype = col.models.by_name("Basic")
    deadline = time.monotonic() + args.max_seconds
    n = 0
    while time.monotonic() < deadline and not Path(args.stop).exists():
        n += 1
        start = time.time()
        try:
            note = col.new_note(notetype)
            note["Front"] = f"other user note {n}"
            note["Back"] = "x" * 200
            col.add_note(note, col.decks.id("Default"))
            client.sync_resolving_full(prefer="upload")
            row = {"start": start, "end": time.time(), "ok": True, "error": None}
        except Exception as err:  # any failure is what the suite reports
            row = {"start": start, "end": time.time(), "ok": False, "error": f"{type(err).__name__}: {err}"[:300]}
        print(json.dumps(row), flush=True)
        time.sleep(0.2)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
