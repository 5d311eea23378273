#!/usr/bin/env python3
"""Compatibility matrix: every Anki release in versions.txt against our sync server
(and, for reference, against the official server from that release's own wheel).

Each release gets its own cached venv (COMPAT_VENV_DIR, default .cache/compat-venvs/<version>)
holding only `anki==<version>` and its dependencies. For every release and server
kind a fresh server is started and scenarios.py runs in the release's python.
The mixed-release scenario alternates steps between an older release (flag
`mixed` in versions.txt) and the newest one on one account; its official
reference server is the newest release's.

Prints the matrix (release x scenario, "ours/official") and exits non-zero when
any scenario fails on either server. Releases whose wheel does not install or
import on this Python are reported as "not installable here", not failed.

Usage (from the repository root; scripts/test-compat.sh builds dist/ first):
    python3 test/compat/run_matrix.py                       # everything
    python3 test/compat/run_matrix.py --quick               # the CI set
    python3 test/compat/run_matrix.py --versions 2.1.66,newest --scenarios login,media
    python3 test/compat/run_matrix.py --server ours --jobs 3 --report out.md
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import subprocess
import threading
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VERSIONS_FILE = HERE / "versions.txt"
SCENARIO_SCRIPT = HERE / "scenarios.py"

sys.path.insert(0, str(ROOT / "test" / "support"))
from server_process import OURS_ENTRY, ProcessStartError, SyncServerProcess, free_port  # noqa: E402

SCENARIOS = ["login", "empty_first_sync", "full_up_down", "normal_sync", "media"]
MIXED = "mixed_newest"
# --quick: what CI runs on every release (see docs/compat.md for the measurements)
QUICK_SCENARIOS = ["login", "empty_first_sync", "full_up_down", "normal_sync", "media", "mixed_newest"]
QUICK_SERVERS = ("ours",)

# The mixed-release plan: (role, step). "old" is the older release, "new" the newest.
MIXED_PLAN = [
    ("old", "mixed_create"),
    ("new", "mixed_join"),
    ("new", "mixed_edit"),
    ("old", "mixed_edit"),
    ("new", "mixed_settle"),
    ("old", "mixed_check"),
    ("old", "mixed_edit"),
    ("new", "mixed_edit"),
    ("old", "mixed_settle"),
    ("new", "mixed_check"),
    ("new", "mixed_full_upload"),
    ("old", "mixed_full_download"),
    ("old", "mixed_edit"),
    ("new", "mixed_settle"),
    ("old", "mixed_check"),
]

ACCOUNTS = SCENARIOS + ["mixed"]
READY_TIMEOUT = 30.0
SCENARIO_TIMEOUT = 900.0
STEP_TIMEOUT = 300.0

_print_lock = threading.Lock()


def log(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def account(name: str) -> tuple[str, str]:
    # must match scenarios.account()
    return f"compat-{name}", f"pass-{name}"


# ---------------------------------------------------------------------------
# versions and venvs
# ---------------------------------------------------------------------------


@dataclass
class Release:
    version: str
    flags: set[str]


def read_versions(path: Path = VERSIONS_FILE) -> list[Release]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            version, *flags = line.split()
            out.append(Release(version, set(flags)))
    return out


@dataclass
class Venv:
    version: str
    path: Path
    ok: bool = False
    detail: str = ""
    secs: float = 0.0
    cached: bool = False

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


class VenvFactory:
    """Creates one venv per release, with uv when it can be had (fast, shared
    download cache), else with venv + pip. A venv is reused while its marker file
    says it was set up for that release; failures are cached too (--refresh-venvs)."""

    MARKER = ".compat-venv.json"

    def __init__(self, root: Path, python: str, refresh: bool) -> None:
        self.root = root
        self.python = python
        self.refresh = refresh
        self.root.mkdir(parents=True, exist_ok=True)
        # keep the venvs out of git wherever they are (as .pytest_cache does)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by test/compat/run_matrix.py\n*\n")
        self._uv: str | None | bool = False  # False = not looked up yet
        self._uv_lock = threading.Lock()

    def uv(self) -> str | None:
        with self._uv_lock:
            if self._uv is False:
                self._uv = self._find_or_install_uv()
            return self._uv  # type: ignore[return-value]

    def _find_or_install_uv(self) -> str | None:
        if os.environ.get("COMPAT_NO_UV"):
            return None
        found = shutil.which("uv")
        if found:
            return found
        tools = self.root / "_tools"
        uv = tools / "bin" / "uv"
        if uv.exists():
            return str(uv)
        log(f"venvs: installing uv into {tools}")
        try:
            subprocess.run([self.python, "-m", "venv", str(tools)], check=True, capture_output=True, timeout=300)
            subprocess.run(
                [str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", "uv"],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            log(f"venvs: could not install uv ({err}); using venv + pip")
            return None
        return str(uv) if uv.exists() else None

    def ensure(self, version: str) -> Venv:
        v = Venv(version, self.root / version)
        marker = v.path / self.MARKER
        if not self.refresh and marker.exists():
            try:
                info = json.loads(marker.read_text())
                if info.get("version") == version and (not info.get("ok") or v.python.exists()):
                    v.ok, v.detail, v.secs, v.cached = bool(info["ok"]), info.get("detail", ""), info.get("secs", 0), True
                    return v
            except (ValueError, KeyError):
                pass
        started = time.monotonic()
        v.ok, v.detail = self._create(v)
        v.secs = round(time.monotonic() - started, 1)
        v.path.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"version": version, "ok": v.ok, "detail": v.detail, "secs": v.secs}))
        log(f"venvs: {version}: {'ok' if v.ok else 'NOT INSTALLABLE: ' + v.detail} ({v.secs}s)")
        return v

    def _create(self, v: Venv) -> tuple[bool, str]:
        shutil.rmtree(v.path, ignore_errors=True)
        uv = self.uv()
        try:
            if uv:
                cmds = [
                    [uv, "venv", "--quiet", "--python", self.python, str(v.path)],
                    [uv, "pip", "install", "--quiet", "--python", str(v.python), f"anki=={v.version}"],
                ]
            else:
                cmds = [
                    [self.python, "-m", "venv", str(v.path)],
                    [str(v.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"anki=={v.version}"],
                ]
            for cmd in cmds:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                if p.returncode != 0:
                    return False, "install failed: " + _last_lines(p.stderr or p.stdout)
            # the wheel must import (client and official server) on this Python
            p = subprocess.run(
                [
                    str(v.python),
                    "-c",
                    "import anki.collection, anki.sync, anki.syncserver, anki.buildinfo as b; print(b.version)",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if p.returncode != 0:
                return False, "import failed: " + _last_lines(p.stderr)
            # buildinfo pads months ("24.06.1" for PyPI's 24.6.1)
            if _numeric(p.stdout.strip()) != _numeric(v.version):
                return False, f"installed anki reports version {p.stdout.strip()!r}"
        except subprocess.TimeoutExpired as err:
            return False, f"timed out: {err}"
        return True, ""


def _last_lines(text: str, n: int = 2, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-limit:]


def _numeric(version: str) -> tuple:
    return tuple(int(x) if x.isdigit() else x for x in version.split("."))


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------


ServerError = ProcessStartError


class Server(SyncServerProcess):
    """One sync server process with the compat accounts, its data and log in
    `workdir`. The official server before 23.10 has no /health, so any HTTP
    answer from it means it is listening."""

    def __init__(self, kind: str, workdir: Path, official_python: Path | None = None) -> None:
        self.workdir = workdir
        super().__init__(
            kind,
            base=workdir / f"data-{kind}",
            log_path=workdir / f"server-{kind}.log",
            users=[account(name) for name in ACCOUNTS],
            node=os.environ.get("COMPAT_NODE", "node"),
            python=str(official_python) if official_python is not None else None,
            cwd=workdir,
            port=free_port(),
            ready_timeout=READY_TIMEOUT,
            any_http_answer_is_ready=(kind == "official"),
        )

    def start(self) -> "Server":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "official":
            assert self.python is not None, "the official server runs from a release's venv"
        super().start()
        return self

    def log_tail(self, lines: int = 12) -> str:
        return super().log_tail(lines)


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    secs: float = 0.0
    error: str = ""
    detail: str = ""  # traceback / logs, shown for failures


@dataclass
class Run:
    """One (release, server kind) job: several scenarios, or the mixed plan."""

    version: str
    kind: str
    scenarios: list[str]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    secs: float = 0.0


def run_scenarios(run: Run, venv: Venv, workroot: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"{run.version}-{run.kind}-", dir=workroot))
    started = time.monotonic()
    server = Server(run.kind, workdir, venv.python if run.kind == "official" else None)
    try:
        server.start()
    except ServerError as err:
        for s in run.scenarios:
            run.outcomes[s] = Outcome(False, error=f"server did not start: {err}")
        return
    results_path = workdir / "results.json"
    out_path = workdir / "scenarios.out"
    try:
        with open(out_path, "wb") as out:
            cmd = [
                str(venv.python),
                str(SCENARIO_SCRIPT),
                "run",
                "--endpoint",
                server.endpoint,
                "--workdir",
                str(workdir / "devices"),
                "--scenarios",
                ",".join(run.scenarios),
                "--results",
                str(results_path),
            ]
            try:
                subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=SCENARIO_TIMEOUT, cwd=str(workdir))
                crash = ""
            except subprocess.TimeoutExpired:
                crash = f"timed out after {SCENARIO_TIMEOUT}s"
    finally:
        server.stop()
    run.secs = round(time.monotonic() - started, 1)
    results = {}
    if results_path.exists():
        for r in json.loads(results_path.read_text())["results"]:
            results[r["scenario"]] = r
    tail = out_path.read_text(errors="replace")[-3000:] if out_path.exists() else ""
    for s in run.scenarios:
        r = results.get(s)
        if r is None:
            run.outcomes[s] = Outcome(False, error=crash or "scenario process ended without a result", detail=tail)
        elif r["ok"]:
            run.outcomes[s] = Outcome(True, r["secs"])
        else:
            run.outcomes[s] = Outcome(
                False, r["secs"], r.get("error", "?"), r.get("traceback", "") + "\n--- server log ---\n" + server.log_tail()
            )


def run_mixed(run: Run, old: Venv, new: Venv, workroot: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"mixed-{run.version}-{run.kind}-", dir=workroot))
    started = time.monotonic()
    server = Server(run.kind, workdir, new.python if run.kind == "official" else None)
    venvs = {"old": old, "new": new}
    try:
        server.start()
    except ServerError as err:
        run.outcomes[MIXED] = Outcome(False, error=f"server did not start: {err}")
        return
    outcome = Outcome(True)
    try:
        for i, (role, step) in enumerate(MIXED_PLAN, start=1):
            res_path = workdir / f"step-{i:02d}.json"
            cmd = [
                str(venvs[role].python),
                str(SCENARIO_SCRIPT),
                "step",
                step,
                "--role",
                role,
                "--device",
                str(workdir / "devices" / role),
                "--endpoint",
                server.endpoint,
                "--state",
                str(workdir / "state.json"),
                "--results",
                str(res_path),
            ]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT, cwd=str(workdir))
            except subprocess.TimeoutExpired:
                outcome = Outcome(False, error=f"step {i} {role}:{step} timed out")
                break
            res = json.loads(res_path.read_text()) if res_path.exists() else None
            if res is None or not res["ok"]:
                err = res["error"] if res else f"no result (exit {p.returncode})"
                outcome = Outcome(
                    False,
                    error=f"step {i} ({role} {venvs[role].version}: {step}): {err}",
                    detail=(res or {}).get("traceback", "") + p.stdout[-1500:] + p.stderr[-1500:]
                    + "\n--- server log ---\n" + server.log_tail(),
                )
                break
    finally:
        server.stop()
    run.secs = outcome.secs = round(time.monotonic() - started, 1)
    run.outcomes[MIXED] = outcome


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------

SYMBOL = {True: "ok", False: "FAIL", None: "-"}


def cell(runs: dict[tuple[str, str, bool], Run], version: str, scenario: str, kinds: list[str]) -> str:
    parts = []
    for kind in kinds:
        run = runs.get((version, kind, scenario == MIXED))
        o = run.outcomes.get(scenario) if run else None
        parts.append(SYMBOL[o.ok] if o else "-")
    return "/".join(parts)


def render_matrix(
    releases: list[Release], venvs: dict[str, Venv], runs: dict, scenarios: list[str], kinds: list[str], markdown: bool
) -> str:
    cols = scenarios + ["setup s", "run s (" + "/".join(kinds) + ")"]
    rows = []
    for rel in releases:
        v = venvs[rel.version]
        if not v.ok:
            rows.append([rel.version] + ["not installable here"] + [""] * (len(cols) - 1))
            continue
        cells = [cell(runs, rel.version, s, kinds) for s in scenarios]
        setup = f"{v.secs:.0f}" + (" (cached)" if v.cached else "")
        secs = []
        for kind in kinds:
            r1 = runs.get((rel.version, kind, False))
            r2 = runs.get((rel.version, kind, True))
            total = (r1.secs if r1 else 0) + (r2.secs if r2 else 0)
            secs.append(f"{total:.0f}" if (r1 or r2) else "-")
        rows.append([rel.version] + cells + [setup, "/".join(secs)])
    header = ["release"] + cols
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r + [""] * (len(header) - len(r))) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *[r + [""] * (len(header) - len(r)) for r in rows])]
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r + [""] * (len(header) - len(r)), widths))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def select_versions(spec: str | None, releases: list[Release]) -> list[Release]:
    if not spec or spec == "all":
        return releases
    by_version = {r.version: r for r in releases}
    out = []
    for item in spec.split(","):
        item = item.strip()
        if item == "newest":
            item = releases[-1].version
        elif item == "oldest":
            item = releases[0].version
        if item not in by_version:
            sys.exit(f"unknown release {item!r}: not in the versions list")
        if by_version[item] not in out:
            out.append(by_version[item])
    return sorted(out, key=releases.index)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions-file", default=str(VERSIONS_FILE), help=argparse.SUPPRESS)
    ap.add_argument("--versions", help="comma list of releases (or oldest/newest); default: all in versions.txt")
    ap.add_argument(
        "--scenarios", help=f"comma list of {','.join(SCENARIOS + [MIXED])}; default: all (mixed for flagged releases)"
    )
    ap.add_argument("--server", choices=["ours", "official", "both"], default=None, help="default: both")
    ap.add_argument("--quick", action="store_true", help="the CI set: all releases, scenarios/servers reduced")
    ap.add_argument("--mixed", help="comma list of releases paired with the newest (default: flagged `mixed`)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("COMPAT_JOBS", "4")))
    ap.add_argument(
        "--venv-dir", default=os.environ.get("COMPAT_VENV_DIR", str(ROOT / ".cache" / "compat-venvs"))
    )
    ap.add_argument("--python", default=os.environ.get("COMPAT_PYTHON") or shutil.which("python3") or sys.executable)
    ap.add_argument("--refresh-venvs", action="store_true", help="recreate venvs (and retry uninstallable ones)")
    ap.add_argument(
        "--strict-install", action="store_true", help="count a release that does not install/import as a failure"
    )
    ap.add_argument("--setup-only", action="store_true", help="only create the venvs")
    ap.add_argument("--repeat", type=int, default=1, help="run every job this many times (hunting flaky failures)")
    ap.add_argument("--keep", action="store_true", help="keep the work directories (servers' data, devices)")
    ap.add_argument("--report", help="also write the matrix as Markdown to this file")
    ap.add_argument("--json", dest="json_out", help="also write all outcomes as JSON to this file")
    args = ap.parse_args()

    all_releases = read_versions(Path(args.versions_file))
    releases = select_versions(args.versions, all_releases)
    newest = all_releases[-1]
    if args.quick:
        scenarios = [s for s in QUICK_SCENARIOS if s != MIXED]
        kinds = list(QUICK_SERVERS)
        want_mixed = MIXED in QUICK_SCENARIOS
    else:
        scenarios = SCENARIOS.copy()
        kinds = ["ours", "official"]
        want_mixed = True
    if args.scenarios:
        chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        bad = [s for s in chosen if s not in SCENARIOS + [MIXED]]
        if bad:
            sys.exit(f"unknown scenarios {bad}; known: {SCENARIOS + [MIXED]}")
        want_mixed = MIXED in chosen
        scenarios = [s for s in chosen if s != MIXED]
    if args.server:
        kinds = ["ours", "official"] if args.server == "both" else [args.server]
    if args.mixed:
        mixed_versions = [r.version for r in select_versions(args.mixed, all_releases)]
    else:
        mixed_versions = [r.version for r in releases if "mixed" in r.flags]
    mixed_versions = [v for v in mixed_versions if v != newest.version] if want_mixed else []

    if "ours" in kinds and not OURS_ENTRY.exists() and not args.setup_only:
        sys.exit(f"{OURS_ENTRY.relative_to(ROOT)} is missing: run `npm run build` (scripts/test-compat.sh does)")

    t0 = time.monotonic()
    factory = VenvFactory(Path(args.venv_dir), args.python, args.refresh_venvs)
    needed = {r.version for r in releases} | ({newest.version} if mixed_versions else set()) | set(mixed_versions)
    log(f"compat: {len(needed)} releases, venvs in {args.venv_dir}")
    venvs: dict[str, Venv] = {}
    factory.uv()
    with cf.ThreadPoolExecutor(max_workers=max(1, min(args.jobs, 4))) as pool:
        for v in pool.map(factory.ensure, sorted(needed, key=lambda x: [r.version for r in all_releases].index(x))):
            venvs[v.version] = v
    setup_secs = time.monotonic() - t0
    created = [v for v in venvs.values() if not v.cached]
    log(
        f"compat: venvs ready in {setup_secs:.0f}s ({len(created)} created"
        + (f", {sum(v.secs for v in created):.0f}s summed" if created else "")
        + ")"
    )
    if args.setup_only:
        bad = [v for v in venvs.values() if not v.ok]
        for v in bad:
            log(f"  not installable here: {v.version}: {v.detail}")
        return 0

    workroot = Path(tempfile.mkdtemp(prefix="anki-compat-"))
    runs: dict[tuple[str, str, bool], Run] = {}
    jobs = []
    extra_runs: list[Run] = []  # --repeat: further runs of the same job (reported as failures only)
    for i in range(max(1, args.repeat)):
        for rel in releases:
            if not venvs[rel.version].ok:
                continue
            for kind in kinds:
                if scenarios:
                    run = Run(rel.version, kind, scenarios)
                    runs.setdefault((rel.version, kind, False), run)
                    jobs.append(("run", run))
        if venvs.get(newest.version) and venvs[newest.version].ok:
            for version in mixed_versions:
                if venvs[version].ok:
                    for kind in kinds:
                        run = Run(version, kind, [MIXED])
                        runs.setdefault((version, kind, True), run)
                        jobs.append(("mixed", run))
    firsts = {id(r) for r in runs.values()}
    extra_runs = [run for _, run in jobs if id(run) not in firsts]

    def execute(job: tuple[str, Run]) -> Run:
        what, run = job
        if what == "run":
            run_scenarios(run, venvs[run.version], workroot)
        else:
            run_mixed(run, venvs[run.version], venvs[newest.version], workroot)
        fails = [s for s, o in run.outcomes.items() if not o.ok]
        label = "mixed with newest" if what == "mixed" else f"{len(run.scenarios)} scenarios"
        log(
            f"  {run.version:<8} {run.kind:<8} {label}: "
            + ("ok" if not fails else "FAILED " + ", ".join(fails))
            + f" ({run.secs:.0f}s)"
        )
        return run

    t1 = time.monotonic()
    log(f"compat: {len(jobs)} jobs on {args.jobs} workers; servers: {', '.join(kinds)}")
    with cf.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(execute, jobs))
    run_secs = time.monotonic() - t1

    all_runs = list(runs.values()) + extra_runs
    failures = [(run, s, o) for run in all_runs for s, o in run.outcomes.items() if not o.ok]
    # the matrix shows a scenario as failed when any repetition of it failed
    display = {k: Run(r.version, r.kind, r.scenarios, dict(r.outcomes), r.secs) for k, r in runs.items()}
    for run in extra_runs:
        first = display[(run.version, run.kind, run.scenarios == [MIXED])]
        for s, o in run.outcomes.items():
            if not o.ok:
                first.outcomes[s] = o
    shown = scenarios + ([MIXED] if mixed_versions else [])
    print()
    print(f"Compatibility matrix (cells: {'/'.join(kinds)}; ok, FAIL, - = not run)")
    print(render_matrix(releases, venvs, display, shown, kinds, markdown=False))
    if failures:
        print("\nFailures:")
        for run, s, o in failures:
            print(f"\n=== {run.version} {run.kind} {s}: {o.error}")
            if o.detail:
                print(o.detail.strip()[-2500:])
    uninstallable = [v for v in venvs.values() if not v.ok]
    if uninstallable:
        print("\nNot installable here (not counted as failures):")
        for v in uninstallable:
            print(f"  {v.version}: {v.detail}")
    print(
        f"\ncompat: setup {setup_secs:.0f}s, runs {run_secs:.0f}s, total {time.monotonic() - t0:.0f}s; "
        f"{len(uninstallable)} releases not installable here"
    )
    # the plain closing line CI reads
    print(f"compat: {sum(len(r.outcomes) for r in all_runs) - len(failures)} passed, {len(failures)} failed")
    if args.report:
        Path(args.report).write_text(render_matrix(releases, venvs, display, shown, kinds, markdown=True) + "\n")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "kinds": kinds,
                    "setup_secs": round(setup_secs, 1),
                    "run_secs": round(run_secs, 1),
                    "venvs": {k: vars(v) | {"path": str(v.path)} for k, v in venvs.items()},
                    "runs": [
                        {
                            "version": r.version,
                            "kind": r.kind,
                            "secs": r.secs,
                            "outcomes": {s: vars(o) for s, o in r.outcomes.items()},
                        }
                        for r in all_runs
                    ],
                },
                indent=1,
            )
        )
    if not args.keep and not failures:
        shutil.rmtree(workroot, ignore_errors=True)
    elif failures:
        print(f"work directories kept in {workroot}")
    if args.strict_install and uninstallable:
        print(f"compat: --strict-install: {len(uninstallable)} releases not installable")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
