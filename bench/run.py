"""Side-by-side benchmark: our sync server vs the official one (python -m anki.syncserver).

Run through bench/run.sh (which builds our server first), or directly with the
repo's venv:  .venv/bin/python bench/run.py [--quick] [--reps N] ...
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import report  # noqa: E402
from benchlib.profiles import PROFILES  # noqa: E402
from benchlib.scenarios import Bench, scenario_list  # noqa: E402
from benchlib.servers import KINDS  # noqa: E402
from benchlib.workloads import ensure_cache  # noqa: E402

SCENARIO_KEYS = ["full_upload", "full_download", "normal_sync", "media_upload", "media_download", "multi_user", "multi_user_64"]


def log(msg: str) -> None:
    print(msg, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small workloads, 1 repetition (smoke test)")
    p.add_argument("--reps", type=int, help="repetitions of every scenario on every server (default: 5, quick: 1)")
    p.add_argument("--scenarios", default=",".join(SCENARIO_KEYS), help=f"comma-separated subset of {','.join(SCENARIO_KEYS)}")
    p.add_argument("--servers", default="ours,official", help="comma-separated subset of ours,official")
    p.add_argument("--ours-node-args", default="", help='extra node flags for our server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"')
    p.add_argument("--cache-dir", default=str(HERE / ".cache"), help="where workloads are cached (default bench/.cache)")
    p.add_argument("--keep-work", action="store_true", help="keep the per-run data folders and server logs")
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before each measurement, wait up to this many seconds for other load on the machine to drop "
                        "below 0.3 cores (0 = don't wait; default 30)")
    p.add_argument("--report-only", metavar="RESULTS_JSON",
                   help="print the table of an earlier run again (and rewrite LATEST.md from it if it was a full run)")
    p.add_argument("--build-only", action="store_true", help="only build (or find) the cached workloads")
    p.add_argument("--no-latest", action="store_true", help="do not rewrite bench/LATEST.md")
    a = p.parse_args()
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    a.servers = [s for s in a.servers.split(",") if s]
    for s in a.scenarios:
        if s not in SCENARIO_KEYS:
            p.error(f"unknown scenario {s!r}")
    for s in a.servers:
        if s not in KINDS:
            p.error(f"unknown server {s!r}")
    return a


def clean_stale_work(cache: Path) -> None:
    for d in cache.glob("work-*"):
        try:
            pid = int(d.name.split("-", 1)[1])
        except ValueError:
            continue
        if not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


def report_only(path: Path, no_latest: bool) -> int:
    result = json.loads(path.read_text())
    profile = PROFILES[result["profile"]]
    scenarios = scenario_list(profile, result["workload"])
    keys = {r["scenario"] for r in result["records"]}
    scenarios = [s for s in scenarios if s.key in keys]
    kinds = result["servers"]
    summary = report.summarize(result["records"], scenarios, kinds, int(result["machine"]["nproc"]))
    result["summary"] = summary
    tbl = report.table(summary, kinds)
    started = dt.datetime.fromisoformat(result["timestamp"])
    heading = f"Medians of {result['reps']} run(s) per server, profile `{profile.name}`, {started:%Y-%m-%d %H:%M}"
    print(heading)
    print(report.machine_lines(result["machine"]))
    print()
    print(tbl)
    print()
    print(report.load_note(summary))
    print(report.failures_note(summary))
    full_run = profile.name == "full" and set(kinds) == set(KINDS) and len(scenarios) == len(SCENARIO_KEYS) and not result.get("ours_node_args")
    if full_run and not no_latest:
        write_latest(heading, result["machine"], tbl, path, result["workload"], result, profile.users)
        log(f"table written to {HERE / 'LATEST.md'}")
    return 0


def main() -> int:
    args = parse_args()
    if args.report_only:
        return report_only(Path(args.report_only), args.no_latest)
    profile = PROFILES["quick" if args.quick else "full"]
    reps = args.reps or profile.reps
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    clean_stale_work(cache)
    started = dt.datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    mach = report.machine()
    log(f"bench: profile {profile.name}, {reps} repetition(s), servers {','.join(args.servers)}; {mach['cpu_model']}, nproc {mach['nproc']}")

    cache_dir, work_info = ensure_cache(profile, cache, log)
    if args.build_only:
        return 0
    work = cache / f"work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    node_args = shlex.split(args.ours_node_args)
    bench = Bench(profile, cache_dir, work_info, work, log, node_args, args.quiet_wait)
    scenarios = [s for s in scenario_list(profile, work_info) if s.key in args.scenarios]

    kinds = [k for k in KINDS if k in args.servers]
    states = {}
    t0 = time.monotonic()
    try:
        for kind in kinds:
            log(f"prepare {kind}: server states and pending changes the scenarios start from")
            states[kind] = bench.prepare(kind, scenarios)
        records: list[dict] = []
        total = reps * len(scenarios) * len(kinds)
        done = 0
        for rep in range(reps):
            for si, scen in enumerate(scenarios):
                order = kinds if (rep + si) % 2 == 0 else list(reversed(kinds))
                for kind in order:
                    rec = bench.run(scen, states[kind], rep)
                    records.append(rec)
                    done += 1
                    if rec["ok"]:
                        detail = (f"wall {rec['wall_s']:.3f}s cpu {rec['cpu_s']:.2f}s peak {rec['peak_rss_mb']:.0f}MB "
                                  f"idle {rec['idle_rss_mb']:.0f}MB; other load {rec['other_load_cores']:.2f} cores")
                    else:
                        detail = f"FAILED: {rec['error']}"
                    log(f"[{done}/{total}] rep {rep + 1} {scen.key:<15} {kind:<8} {detail}")
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work folders kept in {work}")

    summary = report.summarize(records, scenarios, kinds, int(mach["nproc"]))
    tbl = report.table(summary, kinds)
    elapsed = time.monotonic() - t0
    result = {
        "timestamp": started.isoformat(timespec="seconds"),
        "profile": profile.name,
        "reps": reps,
        "servers": kinds,
        "machine": mach,
        "workload": work_info,
        "preparation": {k: {"error": v.prep_error, "media_error": v.media_error, **v.prep_info} for k, v in states.items()},
        "ours_node_args": node_args,
        "elapsed_s": round(elapsed, 1),
        "summary": summary,
        "records": records,
    }
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    out = results / f"{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))

    heading = f"Medians of {reps} run(s) per server, profile `{profile.name}`, {started:%Y-%m-%d %H:%M}"
    print()
    print(heading)
    print(report.machine_lines(mach))
    print()
    print(tbl)
    print()
    print(report.load_note(summary))
    print()
    if report.failures_note(summary):
        print(report.failures_note(summary))
        print()
    log(f"results: {out} ({elapsed / 60:.1f} min)")

    full_run = not args.quick and set(kinds) == set(KINDS) and len(scenarios) == len(SCENARIO_KEYS) and not node_args
    if full_run and not args.no_latest:
        write_latest(heading, mach, tbl, out, work_info, result, profile.users)
        log(f"table written to {HERE / 'LATEST.md'}")
    return 0


def write_latest(heading: str, mach: dict, tbl: str, out: Path, work_info: dict, result: dict, users: int) -> None:
    big, small, media = work_info["big"], work_info["small"], work_info["media"]
    crowd = work_info.get("crowd", {})
    crowd_users = PROFILES[result["profile"]].crowd_users
    prep = result["preparation"].get("official") or {}
    pend = prep.get("pending_big", {})
    notes = "\n\n".join(x for x in (report.load_note(result["summary"]), report.failures_note(result["summary"])) if x)
    text = f"""# Latest benchmark: ours vs official

Generated by `bash bench/run.sh` (see [README.md](README.md)); raw numbers in
`bench/results/{out.name}` (not committed). {heading}.

Machine:
{report.machine_lines(mach)}

{tbl}

{notes}

Workloads: full up/download and the normal sync's base is a collection of
{big['notes']:,} notes / {big['cards']:,} cards / {big['revlog']:,} revlog rows
({big['bytes'] / 1e6:.0f} MB); the normal sync sends {pend.get('reviews', '?')} reviews and
{pend.get('new_notes', '?')} new notes; media is {media['files']} files of
{media['bytes'] / 1e6:.0f} MB in all (random bytes); each of the {users} users
has a {small['bytes'] / 1e6:.0f} MB collection ({small['notes']:,} notes) with a
normal sync pending ({prep.get('pending_user', {}).get('reviews', '?')} reviews + {prep.get('pending_user', {}).get('new_notes', '?')} notes); each of the
{crowd_users} crowd users has a {crowd.get('bytes', 0) / 1e6:.1f} MB collection ({crowd.get('notes', 0):,} notes) with
{prep.get('pending_crowd', {}).get('reviews', '?')} reviews + {prep.get('pending_crowd', {}).get('new_notes', '?')} notes pending; a crowd run
counts only if every sync succeeds (no 5xx, no 409).
Wall time is what the real client (rslib from the `anki` package) waits for,
including its own work; server CPU and peak RSS are read from
`/proc/<pid>/stat` and `/proc/<pid>/status` of the server process, each
scenario on a freshly started server.
"""
    (HERE / "LATEST.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
