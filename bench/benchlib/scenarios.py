"""Per-server preparation and the timed scenarios.

Every measurement is one fresh server process: restore its data folder from a
snapshot, start it, let it idle, read VmRSS (idle RSS), log the clients in
(untimed), read CPU, run the timed client operation, read CPU and VmHWM, check
the outcome (untimed), stop it. So peak RSS is the peak of that scenario alone.
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .clients import FULL_KINDS, NO_CHANGES, Device, required_name
from .machine_load import busy_seconds, own_cpu_seconds, wait_for_quiet
from .profiles import Profile
from .servers import Server, ServerError
from .workloads import apply_pending

Log = Callable[[str], None]

IDLE_SETTLE = 1.5  # seconds between "ready" and the idle RSS reading
AFTER_SETTLE = 0.3  # seconds after the client returned, before reading CPU/HWM

BIG_USER = ("bench", "bench-pass")


def multi_users(n: int) -> list[tuple[str, str]]:
    return [(f"user{i:02d}", f"pass-{i:02d}") for i in range(1, n + 1)]


def crowd_users(n: int) -> list[tuple[str, str]]:
    return [(f"crowd{i:02d}", f"crowd-pass-{i:02d}") for i in range(1, n + 1)]


@dataclass
class Scenario:
    key: str
    label: str
    state: str  # server snapshot to start from: "empty", "synced" or "media"
    needs_media: bool = False


def scenario_list(profile: Profile, work_info: dict) -> list[Scenario]:
    big_mb = work_info["big"]["bytes"] / 1e6
    media_mb = work_info["media"]["bytes"] / 1e6
    crowd_mb = work_info.get("crowd", {}).get("bytes", profile.crowd_target_bytes) / 1e6
    return [
        Scenario("full_upload", f"full upload ({big_mb:.0f} MB collection)", "empty"),
        Scenario("full_download", f"full download ({big_mb:.0f} MB collection)", "synced"),
        Scenario("normal_sync", f"normal sync ({profile.pending_reviews} reviews + {profile.pending_notes} notes)", "synced"),
        Scenario("media_upload", f"media upload ({profile.media_files} files, {media_mb:.0f} MB)", "empty", True),
        Scenario("media_download", f"media download ({profile.media_files} files, {media_mb:.0f} MB)", "media", True),
        Scenario("multi_user", f"{profile.users} users syncing at once", "synced"),
        Scenario("multi_user_64", f"{profile.crowd_users} users syncing at once ({crowd_mb:.1f} MB collections)", "crowd"),
    ]

MULTI_KEYS = ("multi_user", "multi_user_64")


@dataclass
class KindState:
    kind: str
    dir: Path
    states: dict[str, Path] = field(default_factory=dict)
    pending_big: Path | None = None
    pending_small: list[Path] = field(default_factory=list)
    pending_crowd: list[Path] = field(default_factory=list)
    prep_error: str | None = None
    media_error: str | None = None
    prep_info: dict = field(default_factory=dict)


def _copy_state(src: Path | None, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    if src is None:
        dest.mkdir(parents=True)
    else:
        shutil.copytree(src, dest)


def _short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


class Bench:
    def __init__(self, profile: Profile, cache: Path, work_info: dict, work: Path, log: Log,
                 node_args: list[str], quiet_wait: float = 0.0) -> None:
        self.quiet_wait = quiet_wait
        self.profile = profile
        self.cache = cache
        self.work_info = work_info
        self.work = work
        self.log = log
        self.node_args = node_args
        self.users = [BIG_USER] + multi_users(profile.users)
        # The crowd scenario's servers know only its users (plain passwords cost
        # both servers time at start-up; the other scenarios' starts stay as they were).
        self.crowd = [BIG_USER] + crowd_users(profile.crowd_users)

    def server(self, kind: str, base: Path, users: list[tuple[str, str]] | None = None) -> Server:
        # The crowd's clients all connect from 127.0.0.1, where 64 real devices
        # would come from 64 addresses (Tailscale): our per-address connection
        # cap (default 32, a defence against one hostile address) would refuse
        # them, so it is lifted for that scenario only. Every other limit stays.
        env = {"SYNC_MAX_CONNECTIONS_PER_ADDRESS": "0"} if kind == "ours" and users is self.crowd and users is not None else None
        return Server(kind, base, users or self.users, self.work / kind / "server.log",
                      self.node_args if kind == "ours" else (), env=env)

    # -- preparation (untimed, once per server kind and run) -------------

    def prepare(self, kind: str, scenarios: list[Scenario]) -> KindState:
        """Only what the selected scenarios need: the synced collections (and the
        pending changes on top) and/or the server holding the media files."""
        keys = {s.key for s in scenarios}
        need_big = bool(keys & {"full_download", "normal_sync"})
        need_users = "multi_user" in keys
        need_media = "media_download" in keys
        need_crowd = "multi_user_64" in keys
        ks = KindState(kind, self.work / kind)
        shutil.rmtree(ks.dir, ignore_errors=True)
        ks.dir.mkdir(parents=True)
        t0 = time.monotonic()
        try:
            if need_big or need_users:
                self._prepare_collections(ks, need_big, need_users)
            if need_crowd:
                self._prepare_crowd(ks)
        except Exception as e:  # noqa: BLE001 - reported in the table
            ks.prep_error = _short(e)
            self.log(f"  {kind}: preparation failed: {ks.prep_error}")
            self.log(traceback.format_exc())
            return ks
        try:
            if need_media:
                self._prepare_media(ks)
        except Exception as e:  # noqa: BLE001
            ks.media_error = _short(e)
            self.log(f"  {kind}: media preparation failed: {ks.media_error}")
        self.log(f"  {kind}: prepared in {time.monotonic() - t0:.1f}s")
        return ks

    def _prepare_collections(self, ks: KindState, need_big: bool, need_users: bool) -> None:
        base = ks.dir / "prep-base"
        _copy_state(None, base)
        clients = ks.dir / "prep-clients"
        synced_big = ks.dir / "synced-big.anki2"
        synced_small: list[Path] = []
        with self.server(ks.kind, base) as srv:
            if need_big:
                dev = Device(clients / "big", self.cache / "big" / "collection.anki2")
                try:
                    dev.login(srv.endpoint, *BIG_USER)
                    dev.full_upload()
                    req = dev.status_required()
                    if req in FULL_KINDS:
                        raise RuntimeError(f"after the prep upload the client still sees {required_name(req)}")
                finally:
                    dev.close()
                shutil.copyfile(dev.path, synced_big)
            for i, (user, password) in enumerate(multi_users(self.profile.users) if need_users else []):
                dev = Device(clients / user, self.cache / "small" / "collection.anki2")
                try:
                    dev.login(srv.endpoint, user, password)
                    dev.full_upload()
                finally:
                    dev.close()
                dest = ks.dir / f"synced-{user}.anki2"
                shutil.copyfile(dev.path, dest)
                synced_small.append(dest)
        ks.states["synced"] = ks.dir / "state-synced"
        shutil.copytree(base, ks.states["synced"])
        shutil.rmtree(base)
        shutil.rmtree(clients)

        # the pending changes of the normal syncs, on top of what this server holds
        if need_big:
            ks.pending_big = ks.dir / "pending-big.anki2"
            shutil.copyfile(synced_big, ks.pending_big)
            ks.prep_info["pending_big"] = apply_pending(ks.pending_big, self.profile.pending_reviews, self.profile.pending_notes, seed=10)
            self.log(f"  {ks.kind}: pending normal sync: {ks.prep_info['pending_big']}")
        for i, src in enumerate(synced_small):
            dest = ks.dir / src.name.replace("synced-", "pending-")
            shutil.copyfile(src, dest)
            info = apply_pending(dest, self.profile.user_pending_reviews, self.profile.user_pending_notes, seed=100 + i)
            ks.prep_info.setdefault("pending_user", info)
            ks.pending_small.append(dest)

    def _prepare_crowd(self, ks: KindState) -> None:
        """The crowd's users each full-upload a small collection; their pending
        normal syncs are made on top of what the uploads left on the clients."""
        base = ks.dir / "prep-crowd-base"
        _copy_state(None, base)
        clients = ks.dir / "prep-crowd-clients"
        synced: list[Path] = []
        with self.server(ks.kind, base, self.crowd) as srv:
            for user, password in crowd_users(self.profile.crowd_users):
                dev = Device(clients / user, self.cache / "crowd" / "collection.anki2")
                try:
                    dev.login(srv.endpoint, user, password)
                    dev.full_upload()
                finally:
                    dev.close()
                dest = ks.dir / f"synced-{user}.anki2"
                shutil.copyfile(dev.path, dest)
                synced.append(dest)
        ks.states["crowd"] = ks.dir / "state-crowd"
        shutil.copytree(base, ks.states["crowd"])
        shutil.rmtree(base)
        shutil.rmtree(clients)
        for i, src in enumerate(synced):
            dest = ks.dir / src.name.replace("synced-", "pending-")
            shutil.copyfile(src, dest)
            info = apply_pending(dest, self.profile.crowd_pending_reviews, self.profile.crowd_pending_notes, seed=1000 + i)
            ks.prep_info.setdefault("pending_crowd", info)
            ks.pending_crowd.append(dest)

    def _prepare_media(self, ks: KindState) -> None:
        base = ks.dir / "prep-media-base"
        _copy_state(None, base)
        dev = Device(ks.dir / "prep-media-client", media_from=self.cache / "media")
        try:
            with self.server(ks.kind, base) as srv:
                dev.login(srv.endpoint, *BIG_USER)
                dev.media_sync()
            self._check_server_media(base)
        finally:
            dev.close()
            shutil.rmtree(dev.folder, ignore_errors=True)
        ks.states["media"] = ks.dir / "state-media"
        shutil.copytree(base, ks.states["media"])
        shutil.rmtree(base)

    def _check_server_media(self, base: Path) -> None:
        folder = base / BIG_USER[0] / "media"
        n = sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0
        want = self.work_info["media"]["files"]
        if n != want:
            raise RuntimeError(f"server has {n} of {want} media files after the upload")

    # -- one measurement -------------------------------------------------

    def run(self, scen: Scenario, ks: KindState, rep: int) -> dict:
        rec: dict = {"scenario": scen.key, "kind": ks.kind, "rep": rep, "ok": False}
        if ks.prep_error:
            rec["error"] = f"preparation failed: {ks.prep_error}"
            return rec
        if scen.needs_media and ks.media_error:
            rec["error"] = f"media sync failed: {ks.media_error}"
            return rec
        run_dir = ks.dir / "run"
        base = run_dir / "base"
        shutil.rmtree(run_dir, ignore_errors=True)
        _copy_state(ks.states.get(scen.state) if scen.state != "empty" else None, base)
        devices: list[tuple[Device, tuple[str, str]]] = []
        srv = self.server(ks.kind, base, self.crowd if scen.key == "multi_user_64" else None)
        try:
            devices = self._devices(scen, ks, run_dir)
            if self.quiet_wait > 0:
                waited, load = wait_for_quiet(self.quiet_wait)
                rec["quiet_wait_s"] = round(waited, 1)
                rec["load_before_cores"] = round(load, 2)
            srv.start()
            time.sleep(IDLE_SETTLE)
            idle = srv.sample()
            rec["idle_rss_mb"] = round(idle.rss_kb / 1024, 1)
            for dev, (user, password) in devices:
                dev.login(srv.endpoint, user, password)
            before = srv.sample()
            busy0, own0, t0 = busy_seconds(), own_cpu_seconds(), time.monotonic()
            wall, extra = self._timed(scen, devices)
            time.sleep(AFTER_SETTLE)
            after = srv.sample()
            busy1, own1, t1 = busy_seconds(), own_cpu_seconds(), time.monotonic()
            server_cpu = after.cpu_s - before.cpu_s
            rec["client_cpu_s"] = round(own1 - own0, 3)
            # CPU used by everything else on the machine meanwhile, in cores
            rec["other_load_cores"] = round(max(0.0, (busy1 - busy0) - server_cpu - (own1 - own0)) / (t1 - t0), 2)
            rec.update(
                wall_s=round(wall, 4),
                cpu_s=round(server_cpu, 3),
                peak_rss_mb=round(after.hwm_kb / 1024, 1),
                rss_after_mb=round(after.rss_kb / 1024, 1),
                **extra,
            )
            self._verify(scen, devices, base)
            rec["ok"] = True
        except Exception as e:  # noqa: BLE001 - reported in the table
            rec["error"] = _short(e)
            if isinstance(e, ServerError) or not srv.alive():
                rec["error"] += f" (server log: {srv.log_path})"
        finally:
            for dev, _ in devices:
                try:
                    dev.close()
                except Exception:  # noqa: BLE001
                    pass
            srv.stop()
        return rec

    def _devices(self, scen: Scenario, ks: KindState, run_dir: Path) -> list[tuple[Device, tuple[str, str]]]:
        c = run_dir / "clients"
        if scen.key == "full_upload":
            return [(Device(c / "d", self.cache / "big" / "collection.anki2"), BIG_USER)]
        if scen.key == "full_download":
            return [(Device(c / "d"), BIG_USER)]
        if scen.key == "normal_sync":
            return [(Device(c / "d", ks.pending_big), BIG_USER)]
        if scen.key == "media_upload":
            return [(Device(c / "d", media_from=self.cache / "media"), BIG_USER)]
        if scen.key == "media_download":
            return [(Device(c / "d"), BIG_USER)]
        if scen.key == "multi_user":
            return [(Device(c / user, ks.pending_small[i]), (user, pw)) for i, (user, pw) in enumerate(multi_users(self.profile.users))]
        if scen.key == "multi_user_64":
            return [(Device(c / user, ks.pending_crowd[i]), (user, pw)) for i, (user, pw) in enumerate(crowd_users(self.profile.crowd_users))]
        raise ValueError(scen.key)

    def _timed(self, scen: Scenario, devices: list[tuple[Device, tuple[str, str]]]) -> tuple[float, dict]:
        dev = devices[0][0]
        if scen.key == "full_upload":
            return dev.full_upload(), {}
        if scen.key == "full_download":
            return dev.full_download(), {}
        if scen.key == "normal_sync":
            wall, required = dev.normal_sync()
            if required != NO_CHANGES:
                raise RuntimeError(f"normal sync ended with {required_name(required)}")
            return wall, {}
        if scen.key in ("media_upload", "media_download"):
            return dev.media_sync(), {}
        if scen.key in MULTI_KEYS:
            return self._multi(devices)
        raise ValueError(scen.key)

    def _multi(self, devices: list[tuple[Device, tuple[str, str]]]) -> tuple[float, dict]:
        n = len(devices)
        barrier = threading.Barrier(n + 1)
        results: list[tuple[float, int] | BaseException | None] = [None] * n

        def worker(i: int, dev: Device) -> None:
            try:
                barrier.wait(timeout=60)
                results[i] = dev.normal_sync()
            except BaseException as e:  # noqa: BLE001
                results[i] = e

        threads = [threading.Thread(target=worker, args=(i, d), daemon=True) for i, (d, _) in enumerate(devices)]
        for t in threads:
            t.start()
        barrier.wait(timeout=60)
        t0 = time.perf_counter()
        for t in threads:
            t.join(timeout=1800)
        wall = time.perf_counter() - t0
        errors = []
        latencies = []
        for i, r in enumerate(results):
            user = devices[i][1][0]
            if isinstance(r, BaseException):
                errors.append(f"{user}: {_short(r)}")
            elif r is None:
                errors.append(f"{user}: did not finish")
            else:
                latencies.append(r[0])
                if r[1] != NO_CHANGES:
                    errors.append(f"{user}: ended with {required_name(r[1])}")
        if errors:
            # A 5xx or 409 answer makes the client's sync raise: such a run
            # counts as failed, and the table shows the first reason.
            raise RuntimeError(f"{len(errors)} of {n} syncs failed; first: {errors[0]}")
        return wall, {
            "per_user_median_s": round(statistics.median(latencies), 4),
            "per_user_min_s": round(min(latencies), 4),
            "per_user_max_s": round(max(latencies), 4),
        }

    def _verify(self, scen: Scenario, devices: list[tuple[Device, tuple[str, str]]], base: Path) -> None:
        dev = devices[0][0]
        if scen.key in ("full_upload", "normal_sync"):
            # NORMAL_SYNC is fine here: reopening the collection after a full sync
            # on a new scheduler day (rollover at 4:00) changes it locally.
            req = dev.status_required()
            if req in FULL_KINDS:
                raise RuntimeError(f"after the sync the client still sees {required_name(req)}")
        elif scen.key == "full_download":
            want = self.work_info["big"]["notes"]
            got = dev.col.note_count()
            if got != want:
                raise RuntimeError(f"downloaded collection has {got} notes, expected {want}")
        elif scen.key == "media_upload":
            self._check_server_media(base)
        elif scen.key == "media_download":
            got, want = dev.media_files(), self.work_info["media"]["files"]
            if got != want:
                raise RuntimeError(f"client has {got} of {want} media files after the download")
