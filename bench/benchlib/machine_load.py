"""Other load on the machine: the benchmark shares it, so it waits for quiet and
records how much CPU others used during each measurement."""

from __future__ import annotations

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds spent non-idle by all cores since boot."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_cpu_seconds() -> float:
    """CPU of this process (all threads: the rslib clients run here) and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_for_quiet(max_wait: float, threshold_cores: float = 0.3, window: float = 1.0) -> tuple[float, float]:
    """Wait (at most max_wait seconds) until the machine's busy CPU over `window`
    is below threshold_cores. Returns (seconds waited, last load in cores)."""
    start = time.monotonic()
    load = 0.0
    while True:
        b0, t0 = busy_seconds(), time.monotonic()
        time.sleep(window)
        load = (busy_seconds() - b0) / (time.monotonic() - t0)
        waited = time.monotonic() - start
        if load < threshold_cores or waited >= max_wait:
            return waited, load
