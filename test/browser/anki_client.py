"""A real Anki client (the `anki` package from PyPI, Anki's own Rust sync
code) for the browser test: one device of alice's that syncs, so the status
page has something true to show, and that is later refused after a revoke.

  anki_client.py first ENDPOINT FOLDER   log in, add notes, full upload, then a normal sync; keeps the host key
  anki_client.py sync ENDPOINT FOLDER    a normal sync with the kept host key;
                                         exit 0 when it syncs, 3 when the server refuses the key
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from harness.client import NO_CHANGES, Client  # noqa: E402


def add_note(client: Client, front: str) -> None:
    col = client.col
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = front
    note["Back"] = "back"
    col.add_note(note, col.decks.id("Default"))


def main() -> int:
    command, endpoint, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    client = Client(folder / "device", "browser-test-device")
    try:
        if command == "first":
            auth = client.login(endpoint, "alice", "alicepass")
            (folder / "hkey").write_text(auth.hkey)
            for i in range(3):
                add_note(client, f"note {i}")
            required, action = client.sync_resolving_full()
            assert action == "upload", (required, action)
            add_note(client, "one more")
            assert client.sync().required == NO_CHANGES
            print("synced")
            return 0
        if command == "sync":
            client.use_auth((folder / "hkey").read_text().strip(), endpoint)
            try:
                client.sync()
            except Exception as e:  # the client raises on a 403
                print(f"refused: {e}")
                return 3
            print("synced")
            return 0
        raise SystemExit(f"unknown command {command}")
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
