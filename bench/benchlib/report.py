"""Medians, ratios, the Markdown table, the machine description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from importlib.metadata import version
from pathlib import Path

from .servers import REPO_ROOT

METRICS = [
    ("wall_s", "wall time (s)"),
    ("cpu_s", "server CPU (s)"),
    ("peak_rss_mb", "server peak RSS (MB)"),
]

# (scenario, metric) -> max ratio ours/official; from issue 16
TARGETS = {
    ("full_upload", "wall_s"): 0.6,
    ("full_upload", "peak_rss_mb"): 0.5,
    ("full_download", "wall_s"): 0.9,
    ("full_download", "peak_rss_mb"): 0.6,
    ("normal_sync", "wall_s"): 0.9,
    ("normal_sync", "cpu_s"): 1.0,
    ("media_upload", "wall_s"): 0.9,
    ("media_upload", "cpu_s"): 1.5,
    ("media_download", "wall_s"): 0.9,
    ("media_download", "cpu_s"): 1.5,
    ("multi_user", "wall_s"): 0.5,
    ("multi_user_64", "wall_s"): 0.5,
}
IDLE_TARGET_MB = 55.0
MULTI_KEYS = ("multi_user", "multi_user_64")
# Not a server figure: CPU the rest of the machine used during the measurement.
OTHER_LOAD = ("other_load_cores", "other load on the machine (cores)")


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=REPO_ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict:
    cpu = "?"
    mem_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    commit = _run(["git", "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "status", "--porcelain", "--", "src"])
    return {
        "nproc": _run(["nproc"]) or str(os.cpu_count()),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "node": _run([os.environ.get("BENCH_NODE", "node"), "--version"]),
        "python": platform.python_version(),
        "anki": version("anki"),
        "commit": commit + (" (src/ has uncommitted changes)" if dirty else ""),
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# The multi-user scenarios run every client on this machine too: their CPU and
# the server's, spread over every core, is a floor under the wall time that no
# server can beat here (what bounds a missed 0.5x target).
CLIENT_CPU = ("client_cpu_s", "clients' CPU (s)")
FLOOR = ("cpu_floor_s", "floor: (server + clients' CPU) / nproc (s)")


def _with_floor(rec: dict, nproc: int) -> dict:
    if rec.get("ok") and "cpu_s" in rec and "client_cpu_s" in rec and nproc > 0:
        return {**rec, FLOOR[0]: (rec["cpu_s"] + rec["client_cpu_s"]) / nproc}
    return rec


def summarize(records: list[dict], scenarios: list, kinds: list[str], nproc: int) -> dict:
    records = [_with_floor(r, nproc) for r in records]
    out: dict = {"scenarios": {}, "idle_rss_mb": {}, "nproc": nproc}
    for scen in scenarios:
        entry: dict = {"label": scen.label, "kinds": {}}
        for kind in kinds:
            recs = [r for r in records if r["scenario"] == scen.key and r["kind"] == kind]
            ok = [r for r in recs if r["ok"]]
            k: dict = {"runs": len(recs), "ok": len(ok), "errors": sorted({r["error"] for r in recs if not r["ok"]})}
            for metric, _ in METRICS + [("per_user_median_s", ""), ("per_user_max_s", ""), CLIENT_CPU, FLOOR, OTHER_LOAD]:
                vals = [r[metric] for r in ok if metric in r]
                if vals:
                    k[metric] = {"median": _median(vals), "min": min(vals), "max": max(vals), "values": vals}
            entry["kinds"][kind] = k
        out["scenarios"][scen.key] = entry
    loads = [r["other_load_cores"] for r in records if "other_load_cores" in r]
    waits = [r["quiet_wait_s"] for r in records if "quiet_wait_s" in r]
    out["other_load_cores"] = {"median": _median(loads), "max": max(loads) if loads else None, "n": len(loads),
                               "quiet_wait_total_s": round(sum(waits), 1)}
    for kind in kinds:
        vals = [r["idle_rss_mb"] for r in records if r["kind"] == kind and "idle_rss_mb" in r]
        out["idle_rss_mb"][kind] = {"median": _median(vals), "min": min(vals) if vals else None,
                                    "max": max(vals) if vals else None, "n": len(vals)}
    return out


def _fmt(metric: str, v: float) -> str:
    if metric.endswith("_mb"):
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _cell(summary_kind: dict, metric: str, kind: str) -> str:
    m = summary_kind.get(metric)
    if m is not None:
        return _fmt(metric, m["median"])
    if summary_kind.get("ok", 0) == 0 and summary_kind.get("errors"):
        reason = summary_kind["errors"][0].replace("|", "/")
        return f"n/a ({kind} failed: {reason})"
    return "n/a"


def _beyond_machine(entry: dict, key: str, metric: str, target: float, nproc: int) -> str:
    """For a multi-user wall time: whether the clients' own CPU already rules the target out on this machine."""
    if key not in MULTI_KEYS or metric != "wall_s" or nproc <= 0:
        return ""
    ours, official = entry["kinds"]["ours"], entry["kinds"]["official"]
    clients = ours.get(CLIENT_CPU[0])
    if not clients or not official.get("wall_s"):
        return ""
    floor = clients["median"] / nproc
    goal = target * official["wall_s"]["median"]
    if floor <= goal:
        return ""
    return f" (unreachable here: the clients alone need {floor:.2f} s of {nproc} cores, the target {goal:.2f} s)"


def table(summary: dict, kinds: list[str]) -> str:
    have_both = "ours" in kinds and "official" in kinds
    lines = [
        "| scenario | metric | ours | official | ours/official | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for key, entry in summary["scenarios"].items():
        first = True
        multi = [("per_user_max_s", "slowest user's sync (s)"), CLIENT_CPU, FLOOR] if key in MULTI_KEYS else []
        metrics = METRICS + multi + [OTHER_LOAD]
        for metric, name in metrics:
            cells = {}
            for kind in ("ours", "official"):
                k = entry["kinds"].get(kind)
                cells[kind] = _cell(k, metric, kind) if k else "not run"
                if k and first and 0 < k["ok"] < k["runs"]:
                    cells[kind] += f" ({k['ok']} of {k['runs']} runs ok)"
            ratio = "n/a"
            target = TARGETS.get((key, metric))
            verdict = f"≤ {target}×" if target else ""
            if have_both and metric != OTHER_LOAD[0]:
                a = entry["kinds"]["ours"].get(metric)
                b = entry["kinds"]["official"].get(metric)
                if a and b and b["median"] > 0:
                    r = a["median"] / b["median"]
                    ratio = f"{r:.2f}"
                    if target:
                        verdict += " ✓" if r <= target else " ✗ missed"
                        verdict += _beyond_machine(entry, key, metric, target, summary.get("nproc", 0))
            lines.append(f"| {entry['label'] if first else ''} | {name} | {cells['ours']} | {cells['official']} | {ratio} | {verdict} |")
            first = False
    idle = summary["idle_rss_mb"]
    o, f = idle.get("ours", {}).get("median"), idle.get("official", {}).get("median")
    ratio = f"{o / f:.2f}" if o and f else "n/a"
    verdict = f"ours ≤ {IDLE_TARGET_MB:.0f} MB"
    if o:
        verdict += " ✓" if o <= IDLE_TARGET_MB else " ✗ missed"
    lines.append(
        f"| idle server | RSS after start (MB) | {_fmt('x_mb', o) if o else 'n/a'} | {_fmt('x_mb', f) if f else 'n/a'} | {ratio} | {verdict} |"
    )
    return "\n".join(lines)


def machine_lines(m: dict) -> str:
    return (
        f"- CPU: {m['cpu_model']} — `nproc` = {m['nproc']}\n"
        f"- memory: {m['memory_gib']} GiB; kernel {m['kernel']}\n"
        f"- node {m['node']}, python {m['python']}, anki {m['anki']} (client and official server)\n"
        f"- our server at commit {m['commit']}"
    )


def load_note(summary: dict) -> str:
    load = summary.get("other_load_cores", {})
    if not load.get("n"):
        return ""
    text = (f"Other load on the machine during the measurements (CPU not used by the server or the clients): "
            f"median {load['median']:.2f} cores, max {load['max']:.2f} cores")
    if load["median"] > 0.2:
        text += " — the machine was shared; treat the wall times with care"
    return text + "."


def failures_note(summary: dict) -> str:
    lines = []
    for key, entry in summary["scenarios"].items():
        for kind, k in entry["kinds"].items():
            if k.get("errors"):
                lines.append(f"- {key}, {kind}: {k['runs'] - k['ok']} of {k['runs']} runs not counted: " + "; ".join(k["errors"]))
    return ("Failed runs (not in the medians):\n" + "\n".join(lines)) if lines else ""
