"""Start / stop / restart a sync server (official or ours) as a real process.

The process handling is the shared one of test/support/server_process.py
(also used by the compatibility driver and the benchmark); this adds the
interop suite's layout: a work folder with data/ and server-<kind>.log, the
default users, and INTEROP_NODE for our server's node.

Contract shared by both kinds:
  env SYNC_BASE, SYNC_HOST=127.0.0.1, SYNC_PORT, SYNC_USER1..N (+ extra env),
  readiness = GET /health answers 200, client endpoint = http://127.0.0.1:<port>/
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))

from server_process import (  # noqa: E402
    KINDS,
    OURS_ENTRY,
    ManagedProcess,
    REPO_ROOT,
    ProcessStartError,
    SyncServerProcess,
    free_port,
)

__all__ = ["KINDS", "OURS_ENTRY", "ManagedProcess", "REPO_ROOT", "DEFAULT_USERS", "ServerStartError", "SyncServer", "free_port"]

DEFAULT_USERS: tuple[tuple[str, str], ...] = (("alice", "alicepass"), ("bob", "bobpass"))

ServerStartError = ProcessStartError


class SyncServer(SyncServerProcess):
    """One sync server process. Same data dir, users and port across restarts.
    `args` go to `serve`, `node_args` to node (ours only)."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        users: Sequence[tuple[str, str]] = DEFAULT_USERS,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        node_args: Sequence[str] = (),
    ) -> None:
        self.workdir = Path(workdir)
        super().__init__(
            kind,
            base=self.workdir / "data",
            log_path=self.workdir / f"server-{kind}.log",
            users=users,
            env=env,
            node=os.environ.get("INTEROP_NODE", "node"),
            node_args=node_args,
            args=args,
        )
        self.base.mkdir(parents=True, exist_ok=True)

    def is_running(self) -> bool:
        return self.alive()

    def user_dir(self, username: str) -> Path:
        return self.base / username
