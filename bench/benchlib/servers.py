"""Start/stop one sync server process on loopback and read its /proc counters."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "test" / "support"))
from server_process import ProcessStartError, SyncServerProcess  # noqa: E402

KINDS = ("ours", "official")

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


ServerError = ProcessStartError


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


class Server(SyncServerProcess):
    """One server process (test/support/server_process.py). Both kinds get the
    same configuration through the official environment variables; each start
    takes a new port."""

    def __init__(self, kind: str, base: Path, users: Sequence[tuple[str, str]], log_path: Path,
                 node_args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        super().__init__(kind, base, log_path, users=users, scrub=["RUST_LOG"], env=env,
                         node=os.environ.get("BENCH_NODE", "node"), node_args=node_args,
                         ready_timeout=READY_TIMEOUT, stop_timeout=STOP_TIMEOUT)

    def start(self) -> "Server":
        self.port = None
        super().start()
        return self

    def sample(self) -> ProcSample:
        if not self.alive():
            raise ServerError(f"{self.kind} server died (exit code {self.proc.returncode if self.proc else '?'}); see {self.log_path}")
        return sample(self.pid)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
