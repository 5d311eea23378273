"""Start / stop / restart a sync server (official or ours) as a real process.

Contract shared by both kinds:
  env SYNC_BASE, SYNC_HOST=127.0.0.1, SYNC_PORT, SYNC_USER1..N (+ extra env),
  readiness = GET /health answers 200, client endpoint = http://127.0.0.1:<port>/
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[3]
OURS_ENTRY = REPO_ROOT / "dist" / "cli" / "main.js"

KINDS = ("official", "ours")

DEFAULT_USERS: tuple[tuple[str, str], ...] = (("alice", "alicepass"), ("bob", "bobpass"))

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

# Variables that configure a sync server; never inherit them from the
# environment running the tests, so every server sees exactly what a test asks for.
_SCRUB_PREFIXES = ("SYNC_",)
_SCRUB_NAMES = {"MAX_SYNC_PAYLOAD_MEGS", "PASSWORDS_HASHED", "TRACESQL"}


class ServerStartError(RuntimeError):
    pass


_LIVE: set["SyncServer"] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Never leave server processes behind, even if a test run is interrupted."""
    for srv in list(_LIVE):
        try:
            srv.stop()
        except Exception:
            pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(kind: str) -> list[str]:
    if kind == "official":
        return [sys.executable, "-m", "anki.syncserver"]
    if kind == "ours":
        if not OURS_ENTRY.exists():
            raise ServerStartError(
                f"{OURS_ENTRY} does not exist; build it first (npm run build, "
                "or use scripts/test-interop.sh which builds when needed)"
            )
        node = os.environ.get("INTEROP_NODE", "node")
        return [node, str(OURS_ENTRY), "serve"]
    raise ValueError(f"unknown server kind {kind!r}")


class SyncServer:
    """One sync server process. Same data dir, users and port across restarts."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        users: Sequence[tuple[str, str]] = DEFAULT_USERS,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.workdir = Path(workdir)
        self.base = self.workdir / "data"
        self.base.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"server-{kind}.log"
        self.users = list(users)
        self.extra_env = dict(env or {})
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self.starts = 0

    # -- public API -----------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self.port is not None, "server was never started"
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """Endpoint without the trailing slash, for building raw URLs."""
        return self.endpoint.rstrip("/")

    def start(self) -> "SyncServer":
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("server already running")
        if self.port is None:
            self.port = free_port()
            self._spawn_and_wait()
        else:
            # Restart on the same port (clients keep their endpoint). The old
            # socket may linger briefly; retry a few times.
            last: Exception | None = None
            for _ in range(20):
                try:
                    self._spawn_and_wait()
                    return self
                except ServerStartError as e:
                    last = e
                    if self.proc is not None and self.proc.poll() is None:
                        raise
                    time.sleep(0.25)
            assert last is not None
            raise last
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        self.proc = None
        _LIVE.discard(self)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> "SyncServer":
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def user_dir(self, username: str) -> Path:
        return self.base / username

    # -- internals ------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES
        }
        env["SYNC_BASE"] = str(self.base)
        env["SYNC_HOST"] = "127.0.0.1"
        env["SYNC_PORT"] = str(self.port)
        for i, (user, password) in enumerate(self.users, start=1):
            env[f"SYNC_USER{i}"] = f"{user}:{password}"
        if self.kind == "official":
            env.setdefault("RUST_LOG", "anki=info")
        env.update(self.extra_env)
        return env

    def _spawn_and_wait(self) -> None:
        cmd = server_command(self.kind)
        self.starts += 1
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"\n===== start #{self.starts}: {' '.join(cmd)} port={self.port} =====\n".encode()
        )
        self._log_file.flush()
        self.proc = subprocess.Popen(
            cmd,
            cwd=str(REPO_ROOT),
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        _LIVE.add(self)
        deadline = time.monotonic() + READY_TIMEOUT
        health = f"http://127.0.0.1:{self.port}/health"
        while True:
            code = self.proc.poll()
            if code is not None:
                self._log_file.close()
                self._log_file = None
                raise ServerStartError(
                    f"{self.kind} server exited with code {code} before becoming ready; log tail:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(health, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.kind} server not ready after {READY_TIMEOUT}s; log tail:\n"
                    + self.log_tail()
                )
            time.sleep(0.05)

    def __repr__(self) -> str:
        return f"<SyncServer {self.kind} port={self.port} base={self.base}>"
