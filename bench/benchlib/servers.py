"""Start/stop one sync server process on loopback and read its /proc counters."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS_ENTRY = REPO_ROOT / "dist" / "cli" / "main.js"
KINDS = ("ours", "official")

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(kind: str, node_args: Sequence[str] = ()) -> list[str]:
    if kind == "official":
        return [sys.executable, "-m", "anki.syncserver"]
    if kind == "ours":
        if not OURS_ENTRY.exists():
            raise ServerError(f"{OURS_ENTRY} is missing: run `npm run build` (bench/run.sh does)")
        return [os.environ.get("BENCH_NODE", "node"), *node_args, str(OURS_ENTRY), "serve"]
    raise ValueError(kind)


@dataclass
class ProcSample:
    cpu_s: float  # utime + stime (+ waited-for children) of the server process
    rss_kb: int  # VmRSS
    hwm_kb: int  # VmHWM (peak RSS since the process started)


def sample(pid: int) -> ProcSample:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime/stime/cutime/cstime are fields 14-17
    ticks = sum(int(x) for x in fields[11:15])
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return ProcSample(cpu_s=ticks / CLK_TCK, rss_kb=rss, hwm_kb=hwm)


class Server:
    """One server process. Both kinds get the same configuration through the
    official environment variables."""

    def __init__(self, kind: str, base: Path, users: Sequence[tuple[str, str]], log_path: Path,
                 node_args: Sequence[str] = ()) -> None:
        self.kind = kind
        self.base = Path(base)
        self.users = list(users)
        self.log_path = Path(log_path)
        self.node_args = list(node_args)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SYNC_") and k not in ("MAX_SYNC_PAYLOAD_MEGS", "PASSWORDS_HASHED", "TRACESQL", "RUST_LOG")}
        env["SYNC_BASE"] = str(self.base)
        env["SYNC_HOST"] = "127.0.0.1"
        env["SYNC_PORT"] = str(self.port)
        for i, (user, password) in enumerate(self.users, start=1):
            env[f"SYNC_USER{i}"] = f"{user}:{password}"
        return env

    def start(self) -> "Server":
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = command(self.kind, self.node_args)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== {shlex.join(cmd)} port={self.port} base={self.base} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=self.env(), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        health = f"http://127.0.0.1:{self.port}/health"
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._close_log()
                self.proc = None
                raise ServerError(f"{self.kind} exited with code {code} at start-up; see {self.log_path}")
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"{self.kind} not ready after {READY_TIMEOUT}s; see {self.log_path}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample(self) -> ProcSample:
        if not self.alive():
            raise ServerError(f"{self.kind} server died (exit code {self.proc.returncode if self.proc else '?'}); see {self.log_path}")
        return sample(self.pid)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        self.proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
