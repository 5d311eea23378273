"""Server processes for the Python harnesses: one place that starts a sync
server (ours or the official one) or any other helper process on loopback,
waits until it answers, keeps its output in a log file and stops it.

Used by the interop suite (test/interop/harness/server.py and the Cognito
emulator in test_cognito.py), the compatibility driver (test/compat/run_matrix.py)
and the benchmark (bench/benchlib/servers.py). It needs only the standard
library and runs on Python 3.8 and later, so any release's venv can import it
(the compatibility venvs use the `python3` they are created with; 3.11 today).

Import it by path:
    sys.path.insert(0, str(<repository>/"test"/"support"))
    import server_process

A sync server gets its configuration the way the official server reads it:
SYNC_BASE, SYNC_HOST=127.0.0.1, SYNC_PORT, SYNC_USER1..N (+ extra variables);
server variables of the calling environment are never inherited. It is ready
when GET /health answers 200 (the official server before 23.10 has no /health:
with `any_http_answer_is_ready` an HTTP error answer counts as listening).
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS_ENTRY = REPO_ROOT / "dist" / "cli" / "main.js"
KINDS = ("official", "ours")

# Variables that configure a sync server: never inherited from the caller.
SCRUB_PREFIXES = ("SYNC_",)
SCRUB_NAMES = ("MAX_SYNC_PAYLOAD_MEGS", "PASSWORDS_HASHED", "TRACESQL")


class ProcessStartError(RuntimeError):
    """The process exited before it was ready, or was not ready in time."""


_LIVE: "Set[ManagedProcess]" = set()
_LIVE_LOCK = threading.Lock()
_PORTS_GIVEN: "Set[int]" = set()
_PORT_LOCK = threading.Lock()


@atexit.register
def _stop_leftovers() -> None:
    """Never leave a process behind, even when a run is interrupted."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        try:
            proc.stop()
        except Exception:
            pass


def free_port() -> int:
    """A free loopback port that no other process of this run was given (the
    kernel may hand a released port out again, and a server that then fails to
    bind would leave its clients talking to another run's server)."""
    with _PORT_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _PORTS_GIVEN:
                _PORTS_GIVEN.add(port)
                return port


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ManagedProcess:
    """One child process whose output goes to `log_path`, ready once
    `ready_url` answers 200 (and the answer came while this process is alive)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        ready_url: str,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[Path] = None,
        ready_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        any_http_answer_is_ready: bool = False,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = Path(log_path)
        self.ready_url = ready_url
        self.env = dict(env) if env is not None else None
        self.cwd = Path(cwd) if cwd is not None else REPO_ROOT
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.any_http_answer_is_ready = any_http_answer_is_ready
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "ManagedProcess":
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command)} =====\n".encode())
            log.flush()
            # The child keeps its own copy of the descriptor.
            self.proc = subprocess.Popen(
                self.command,
                cwd=str(self.cwd),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                self._forget()
                raise ProcessStartError(f"{self.name} exited with code {code} before it was ready; log tail:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as resp:
                    if resp.status == 200 and self.proc.poll() is None:
                        return
            except urllib.error.HTTPError as err:
                err.close()
                if self.any_http_answer_is_ready and self.proc.poll() is None:
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessStartError(f"{self.name} not ready after {self.ready_timeout}s; log tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within the stop timeout."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(self.stop_timeout)
        self.proc = None
        self._forget()

    def _forget(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(_ANSI.sub("", self.log_text()).splitlines()[-lines:])


def sync_server_command(
    kind: str,
    node: str = "node",
    node_args: Sequence[str] = (),
    args: Sequence[str] = (),
    python: Optional[str] = None,
) -> List[str]:
    """How each kind is run: ours from dist/ (built beforehand), the official
    one as `python -m anki.syncserver` of the given interpreter."""
    if kind == "official":
        return [python or sys.executable, "-m", "anki.syncserver"]
    if kind == "ours":
        if not OURS_ENTRY.exists():
            raise ProcessStartError(f"{OURS_ENTRY} does not exist; build it first (npm run build)")
        return [node, *node_args, str(OURS_ENTRY), "serve", *args]
    raise ValueError(f"unknown server kind {kind!r}")


def sync_server_env(
    kind: str,
    base: Path,
    port: int,
    users: Sequence[Tuple[str, str]],
    extra: Optional[Mapping[str, str]] = None,
    scrub: Sequence[str] = (),
) -> Dict[str, str]:
    """The caller's environment without server settings (and without `scrub`),
    plus this server's base, loopback address, port and users."""
    drop = set(SCRUB_NAMES) | set(scrub)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUB_PREFIXES) and k not in drop}
    env["SYNC_BASE"] = str(base)
    env["SYNC_HOST"] = "127.0.0.1"
    env["SYNC_PORT"] = str(port)
    for i, (user, password) in enumerate(users, start=1):
        env[f"SYNC_USER{i}"] = f"{user}:{password}"
    if kind == "official" and "RUST_LOG" not in drop:
        env.setdefault("RUST_LOG", "anki=info")
    env.update(extra or {})
    return env


class SyncServerProcess(ManagedProcess):
    """A sync server on 127.0.0.1. Its port is kept across restarts, so
    clients keep their endpoint; a restart retries while the old socket lingers."""

    def __init__(
        self,
        kind: str,
        base: Path,
        log_path: Path,
        users: Sequence[Tuple[str, str]] = (),
        env: Optional[Mapping[str, str]] = None,
        scrub: Sequence[str] = (),
        node: str = "node",
        node_args: Sequence[str] = (),
        args: Sequence[str] = (),
        python: Optional[str] = None,
        cwd: Optional[Path] = None,
        port: Optional[int] = None,
        ready_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        any_http_answer_is_ready: bool = False,
    ) -> None:
        super().__init__(
            name=f"{kind} server",
            command=[],
            log_path=log_path,
            ready_url="",
            cwd=cwd,
            ready_timeout=ready_timeout,
            stop_timeout=stop_timeout,
            any_http_answer_is_ready=any_http_answer_is_ready,
        )
        self.kind = kind
        self.base = Path(base)
        self.users = list(users)
        self.extra_env = dict(env or {})
        self.scrub = list(scrub)
        self.node = node
        self.node_args = list(node_args)
        self.args = list(args)
        self.python = python
        self.port = port

    @property
    def endpoint(self) -> str:
        assert self.port is not None, "server was never started"
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The endpoint without its trailing slash, for building raw URLs."""
        return self.endpoint.rstrip("/")

    def start(self) -> "SyncServerProcess":
        self.base.mkdir(parents=True, exist_ok=True)
        restart = self.port is not None
        if self.port is None:
            self.port = free_port()
        self.command = sync_server_command(self.kind, self.node, self.node_args, self.args, self.python)
        self.env = sync_server_env(self.kind, self.base, self.port, self.users, self.extra_env, self.scrub)
        self.ready_url = self.endpoint + "health"
        attempts = 20 if restart else 1
        for attempt in range(attempts):
            try:
                super().start()
                return self
            except ProcessStartError:
                if attempt == attempts - 1 or self.alive():
                    raise
                time.sleep(0.25)
        return self

    def restart(self) -> "SyncServerProcess":
        self.stop()
        return self.start()

    def __repr__(self) -> str:
        return f"<{self.kind} sync server port={self.port} base={self.base}>"
