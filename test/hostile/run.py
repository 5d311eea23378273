"""Hostile-client suite: attacks our sync server the way a broken or malicious
client would, on loopback only, while a second user syncs with the real Anki
client alongside.

Usage: python test/hostile/run.py --work DIR [--tmpfs]
  --tmpfs: DIR/data is a small tmpfs mounted by run.sh (root only); the disk-full
  probes need it and are skipped (and say so) without it.

Every probe is bounded in count and time. The suite prints a table (probe,
expected, status, peak RSS of the server, the other user's syncs during the
probe) and exits 1 when any probe's verdict is FAIL: a status other than the
designed one, server RSS >= 400 MB, the server exiting, or the other user's
sync failing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import zstandard

REPO = Path(__file__).resolve().parents[2]
# HOSTILE_ENTRY: another build of the server (e.g. an older commit, for before/after evidence).
ENTRY = Path(os.environ.get("HOSTILE_ENTRY", REPO / "dist" / "cli" / "main.js"))
PY = sys.executable
RSS_LIMIT_MB = 400
PROBE_TIMEOUT = 45.0
CV = "26.9.3,hostile,linux"

# Limits the suite configures, so that timeouts fit in a CI run. The
# production defaults are documented in the README.
SUITE_ENV = {
    "SYNC_HEADERS_TIMEOUT": "3",
    "SYNC_KEEPALIVE_TIMEOUT": "5",
    "SYNC_BODY_MIN_RATE": "1024",
    "SYNC_BODY_RATE_WINDOW": "3",
    "SYNC_MAX_CONNECTIONS_PER_ADDRESS": "8",
    "SYNC_DISK_RESERVE": "16",
}

USERS = [("alice", "alicepass"), ("bob", "bobpass"), ("mallory", "mallorypass")]
ARGON_USER = ("carol", "carolpass")


# -- small HTTP client over raw sockets (source address chosen per probe) -------


@dataclass
class Reply:
    status: int | None  # None: closed without a reply
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    def short(self) -> str:
        return str(self.status) if self.status is not None else (self.note or "closed")


def _read_reply(sock: socket.socket, deadline: float) -> Reply:
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return Reply(None, note="timeout")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return Reply(None, note="timeout")
        except (ConnectionResetError, BrokenPipeError):
            return Reply(None, note="reset")
        if not data:
            return Reply(None, note="closed")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not data:
            break
        rest += data
    return Reply(status, rest[:length], headers)


def request(
    port: int,
    path: str,
    headers: dict[str, str],
    body: Iterable[bytes] = (),
    *,
    src: str = "127.0.0.1",
    timeout: float = PROBE_TIMEOUT,
    content_length: int | None = None,
    method: str = "POST",
) -> Reply:
    """Sends a request, streaming `body` (chunked unless content_length is given); stops sending when the server answers early."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
    except OSError as err:
        return Reply(None, note=f"connect: {err.strerror or err}")
    try:
        chunked = content_length is None and method == "POST"
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif content_length is not None:
            lines.append(f"Content-Length: {content_length}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
        finished = True
        try:
            for chunk in body:
                if time.monotonic() > deadline:
                    finished = False
                    break
                if not chunk:
                    continue
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if select.select([sock], [], [], 0)[0]:
                    finished = False
                    break  # an early answer (e.g. 413): stop sending
            if chunked and finished:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = _read_reply(sock, deadline)
        reply.seconds = time.monotonic() - started
        return reply
    finally:
        sock.close()


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def unzstd(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def v11_header(key: str = "", session: str = "") -> dict[str, str]:
    return {"anki-sync": json.dumps({"v": 11, "k": key, "c": CV, "s": session}, separators=(",", ":"))}


def v11_login(port: int, user: str, password: str, src: str = "127.0.0.1") -> Reply:
    return request(port, "/sync/hostKey", v11_header(), [zstd(json.dumps({"u": user, "p": password}).encode())], src=src, timeout=20)


def host_key(port: int, user: str, password: str) -> str:
    r = v11_login(port, user, password)
    assert r.status == 200, f"login {user}: {r.short()}"
    return json.loads(unzstd(r.body))["key"]


def zstd_stream(prefix: bytes, unit: bytes, count: int, suffix: bytes) -> bytes:
    """One zstd frame of prefix + unit*count + suffix, built without holding the expansion."""
    c = zstandard.ZstdCompressor(level=3).compressobj()
    out = [c.compress(prefix)]
    block = unit * (1 << 16)
    full, rest = divmod(count, 1 << 16)
    for _ in range(full):
        out.append(c.compress(block))
    out.append(c.compress(unit * rest))
    out.append(c.compress(suffix))
    out.append(c.flush())
    return b"".join(out)


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


BOUNDARY = "hostileboundary1234"


def form_part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disp = f'Content-Disposition: form-data; name="{name}"'
    if filename:
        disp += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'
    return f"--{BOUNDARY}\r\n{disp}\r\n\r\n".encode() + value + b"\r\n"


def legacy_form(parts: list[tuple[str, bytes | Iterable[bytes], str | None]]) -> Iterator[bytes]:
    """A multipart form streamed part by part; a part's value may be an iterable of chunks."""
    for name, value, filename in parts:
        if isinstance(value, bytes):
            yield form_part(name, value, filename)
        else:
            head = form_part(name, b"", filename)[:-2]
            yield head
            yield from value
            yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


LEGACY_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def zeros(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    block = b"\0" * chunk
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        yield block[:n]
        sent += n


# -- the server under test --------------------------------------------------


def rss_kb(pid: int, field_name: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class Server:
    def __init__(self, work: Path, base: Path, port: int, env: dict[str, str], name: str) -> None:
        self.work, self.base, self.port, self.name = work, base, port, name
        self.env = env
        self.log_path = work / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.exits: list[int] = []
        self.peak_kb = 0
        self.min_free = 0
        self._sampler: threading.Thread | None = None
        self._stop_sampling = threading.Event()

    def start(self, wait: bool = True) -> None:
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNC_") and k not in ("MAX_SYNC_PAYLOAD_MEGS", "PASSWORDS_HASHED")}
        env.update(self.env)
        env.update({"SYNC_BASE": str(self.base), "SYNC_HOST": "127.0.0.1", "SYNC_PORT": str(self.port)})
        self.proc = subprocess.Popen(["node", str(ENTRY), "serve"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.umask(0o022))
        log.close()
        if not wait:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    break
            except Exception as err:  # 503 while not ready is also a reply
                if getattr(err, "code", None) == 503:
                    break
            time.sleep(0.1)
        self._stop_sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop_sampling.is_set():
            proc = self.proc
            if proc is not None and proc.poll() is None:
                self.peak_kb = max(self.peak_kb, rss_kb(proc.pid))
            try:
                st = os.statvfs(self.base)
                self.min_free = min(self.min_free, st.f_bavail * st.f_frsize)
            except OSError:
                pass
            time.sleep(0.02)

    def reset_peaks(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # resets VmHWM (the kernel's peak RSS)
            except OSError:
                pass
            self.peak_kb = rss_kb(proc.pid)
        st = os.statvfs(self.base)
        self.min_free = st.f_bavail * st.f_frsize

    def peak_mb(self) -> float:
        proc = self.proc
        hwm = rss_kb(proc.pid, "VmHWM") if proc is not None and proc.poll() is None else 0
        return max(self.peak_kb, hwm) / 1024

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self._stop_sampling.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self.exits.append(self.proc.returncode)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])


# -- the other user ---------------------------------------------------------


class OtherUser:
    def __init__(self, work: Path, port: int, user: str, password: str) -> None:
        self.stop_file = work / "other-user.stop"
        self.out_path = work / "other-user.jsonl"
        self.err_path = work / "other-user.err"
        self.proc = subprocess.Popen(
            [PY, str(Path(__file__).with_name("other_user.py")), "--endpoint", f"http://127.0.0.1:{port}/", "--user", user, "--password", password,
             "--folder", str(work / "other-user"), "--stop", str(self.stop_file), "--max-seconds", "900"],
            stdout=open(self.out_path, "wb"), stderr=open(self.err_path, "wb"), cwd=REPO,
        )

    def rows(self) -> list[dict]:
        if not self.out_path.exists():
            return []
        return [json.loads(line) for line in self.out_path.read_text().splitlines() if line.strip().startswith("{")]

    def wait_for_sync_after(self, t: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r["start"] >= t for r in self.rows()) or self.proc.poll() is not None:
                return
            time.sleep(0.1)

    def during(self, t0: float, t1: float) -> tuple[bool, str]:
        """Syncs overlapping [t0, t1] plus the first one started after t1: all must succeed."""
        rows = self.rows()
        window = [r for r in rows if r["end"] >= t0 and r["start"] <= t1]
        after = [r for r in rows if r["start"] > t1][:1]
        picked = window + after
        if not picked:
            return False, "no sync"
        bad = [r for r in picked if not r["ok"]]
        longest = max(r["end"] - r["start"] for r in picked)
        text = f"{len(picked)} ok, max {longest:.2f}s" if not bad else f"{len(bad)}/{len(picked)} FAILED: {bad[0]['error'][:60]}"
        return not bad, text

    def stop(self) -> None:
        self.stop_file.write_text("stop")
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- probes -----------------------------------------------------------------


@dataclass
class Outcome:
    expected: str
    got: str
    ok: bool
    detail: str = ""


@dataclass
class Row:
    probe: str
    sent: str
    outcome: Outcome
    rss_mb: float
    server_alive: bool
    other: str
    other_ok: bool

    def verdict(self) -> bool:
        return self.outcome.ok and self.rss_mb < RSS_LIMIT_MB and self.server_alive and self.other_ok


class Suite:
    def __init__(self, work: Path, tmpfs: bool) -> None:
        self.work = work
        self.tmpfs = tmpfs
        self.base = work / "data"
        self.base.mkdir(exist_ok=True)
        os.chmod(self.base, 0o755)  # pre-existing and world-readable: the server must warn, and keep its database 0600
        self.port = free_port()
        carol_file = work / "carol.phc"
        carol_file.write_text(argon2_hash(ARGON_USER[1]) + "\n")
        env = dict(SUITE_ENV)
        for i, (u, p) in enumerate(USERS, start=1):
            env[f"SYNC_USER{i}"] = f"{u}:{p}"
        env["SYNC_USER_FILES"] = f"carol={carol_file}"
        self.server = Server(work, self.base, self.port, env, "server")
        self.rows: list[Row] = []
        self.other: OtherUser | None = None
        self.only: set[str] = set()

    def ensure_server(self) -> None:
        """Restart the server if it died or stalls (so every probe is judged on its own)."""
        if self.server.alive():
            h = request(self.port, "/health", {}, [], method="GET", timeout=5)
            if h.status is not None:
                return
            print(f"  (server not answering /health: {h.short()}; killed and restarted)", flush=True)
            self.server.stop(signal.SIGKILL)
        else:
            self.server.stop()
        self.server.start()

    def run(self, name: str, sent: str, probe: Callable[[], Outcome], *, other_expected: bool = True) -> None:
        if self.only and name not in self.only:
            return
        self.ensure_server()
        self.server.reset_peaks()
        t0 = time.time()
        try:
            outcome = probe()
        except Exception as err:
            outcome = Outcome("-", f"error {type(err).__name__}: {err}"[:80], False)
        t1 = time.time()
        rss = self.server.peak_mb()
        alive = self.server.alive()
        if not alive:
            outcome.detail += f" server exited ({self.server.proc.returncode if self.server.proc else '?'}); log: {self.server.log_tail(3)}"
        if self.other is not None and other_expected:
            self.other.wait_for_sync_after(t1)
            other_ok, other = self.other.during(t0, t1)
        else:
            other_ok, other = True, "n/a (separate server)"
        self.rows.append(Row(name, sent, outcome, rss, alive, other, other_ok))
        row = self.rows[-1]
        print(f"  {'ok  ' if row.verdict() else 'FAIL'} {name}: expected {outcome.expected}, got {outcome.got}; rss {rss:.0f} MB; other user: {other} {outcome.detail}", flush=True)

    # the probes themselves ----------------------------------------------

    def key(self, user: str = "mallory") -> str:
        self.ensure_server()
        return host_key(self.port, user, dict(USERS)[user])

    def bomb(self, route: str, prefix: bytes, suffix: bytes, count: int, expect: int = 413, key: bool = True) -> Outcome:
        body = zstd_stream(prefix, b"[1],", count, suffix)
        headers = v11_header(self.key() if key else "", session="s1")
        r = request(self.port, route, headers, pieces(body), src="127.0.0.2")
        ok = r.status == expect and r.seconds < 10
        return Outcome(str(expect), f"{r.short()} in {r.seconds:.1f}s ({len(body) // 1024} KB -> {count * 4 // 2**20} MB)", ok)

    def content_length_over(self) -> Outcome:
        headers = v11_header(self.key(), session="s1")
        # Headers only: the answer must come before any body byte is sent.
        r = request(self.port, "/sync/upload", headers, [], src="127.0.0.2", content_length=10 * 2**30, timeout=5)
        return Outcome("413 at once", f"{r.short()} in {r.seconds:.1f}s", r.status == 413 and r.seconds < 3)

    def slow_bodies(self, route: str, legacy: bool) -> Outcome:
        """Four connections trickling a body at 1 byte/s: each must be cut (408 or closed) within the rate window plus slack."""
        results: list[Reply] = []

        # A well-formed body (a valid zstd frame or multipart start), just slow.
        payload = zstd(json.dumps({"u": "alice", "p": os.urandom(30000).hex()}).encode())
        if legacy:
            payload = form_part("c", b"0") + form_part("data", os.urandom(60000), "data")

        def trickle() -> Iterator[bytes]:
            for i in range(40):
                yield payload[i : i + 1]
                time.sleep(1)

        def one(i: int) -> None:
            headers = LEGACY_HEADERS if legacy else v11_header()
            results.append(request(self.port, route, headers, trickle(), src=f"127.0.0.{10 + i}", content_length=len(payload), timeout=20))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        cut = [r for r in results if r.seconds < 15 and (r.status in (408, None)) and r.note != "timeout"]
        return Outcome("cut < 15s", ", ".join(f"{r.short()}@{r.seconds:.0f}s" for r in results), len(cut) == 4 and len(results) == 4)

    def slow_headers(self) -> Outcome:
        """Headers sent at one byte a second: cut by the header timeout (3 s here)."""
        started = time.monotonic()
        sock = socket.create_connection(("127.0.0.1", self.port), source_address=("127.0.0.20", 0))
        closed_after = None
        try:
            for ch in b"POST /sync/meta HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 30:
                try:
                    sock.sendall(bytes([ch]))
                except (BrokenPipeError, ConnectionResetError):
                    closed_after = time.monotonic() - started
                    break
                if select.select([sock], [], [], 1)[0]:
                    data = sock.recv(100)
                    closed_after = time.monotonic() - started
                    break
                if time.monotonic() - started > 15:
                    break
        finally:
            sock.close()
        got = f"closed after {closed_after:.1f}s" if closed_after is not None else "still open after 15s"
        return Outcome("closed < 8s", got, closed_after is not None and closed_after < 8)

    def connection_cap(self) -> Outcome:
        """40 idle connections from one address: beyond the cap (8 here) they are closed at once."""
        socks = []
        for _ in range(40):
            try:
                socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=2, source_address=("127.0.0.30", 0)))
            except OSError:
                pass
        time.sleep(1.0)
        open_count = 0
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(1)
                if data:
                    open_count += 1
            except BlockingIOError:
                open_count += 1
            except OSError:
                pass
        # Meanwhile another address is served normally.
        h = request(self.port, "/health", {}, [], src="127.0.0.31", method="GET", timeout=5)
        for s in socks:
            s.close()
        return Outcome("<= 8 open, /health 200", f"{open_count} open, /health {h.short()}", open_count <= 8 and h.status == 200)

    def legacy_unauth(self, order: str) -> Outcome:
        """Unauthenticated legacy forms with big data parts: refused, (almost) nothing written, nothing left."""
        spool = self.base / ".legacy-incoming"
        if order == "key-first":
            # A bad key before a 200 MB data part: 403 before the payload touches the disk.
            parts = [("c", b"0", None), ("k", b"0" * 40, None), ("data", zeros(200 * 2**20), "data")]
            before = self.server.min_free
            r = request(self.port, "/sync/upload", LEGACY_HEADERS, legacy_form(parts), src="127.0.0.40", timeout=30)
            used = (before - self.server.min_free) / 2**20
            time.sleep(0.3)
            left = list(spool.iterdir()) if spool.exists() else []
            ok = r.status == 403 and used < 4 and not left
            return Outcome("403, <4 MB disk", f"{r.short()} in {r.seconds:.1f}s, peak disk {used:.0f} MB, {len(left)} spool files left", ok)
        # The 2.1.56 client sends `data` before `k`, so such payloads are spooled before
        # the key is known. Three at once (90 MB each, 270 MB on a 128 MB tmpfs): every
        # one is answered, the disk reserve (16 MiB here) is never crossed, nothing is left.
        replies: list[Reply] = []

        def one(i: int) -> None:
            parts = [("data", zeros(90 * 2**20), "data"), ("c", b"0", None), ("k", b"0" * 40, None)]
            replies.append(request(self.port, "/sync/upload", LEGACY_HEADERS, legacy_form(parts), src=f"127.0.0.{43 + i}", timeout=30))

        start_free = self.server.min_free
        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        time.sleep(0.5)
        left = list(spool.iterdir()) if spool.exists() else []
        lowest = self.server.min_free / 2**20
        answered = len(replies) == 3 and all(r.status in (400, 403, 503, 507) for r in replies)
        reserve_kept = not self.tmpfs or lowest >= 8
        ok = answered and reserve_kept and not left
        got = f"{', '.join(r.short() for r in replies)}; lowest free {lowest:.0f} MB (from {start_free / 2**20:.0f}); {len(left)} spool files left"
        return Outcome("all refused, >=8 MB free, spool removed", got, ok)

    def upload_disk_full(self, legacy: bool) -> Outcome:
        if not self.tmpfs:
            return Outcome("507", "skipped (no tmpfs: not root)", True)
        size = 300 * 2**20 - 1024
        if legacy:
            key = self.key("mallory")
            gz = gzip.compress(b"\0" * size, compresslevel=1)
            parts = [("c", b"1", None), ("k", key.encode(), None), ("s", b"s1", None), ("data", gz, "data")]
            r = request(self.port, "/sync/upload", LEGACY_HEADERS, legacy_form(parts), src="127.0.0.41", timeout=40)
        else:
            body = zstd_stream(b"", b"\0\0\0\0", size // 4, b"")
            r = request(self.port, "/sync/upload", v11_header(self.key("mallory"), "s1"), pieces(body), src="127.0.0.41", timeout=40)
        time.sleep(0.3)
        leftovers = [p.name for p in (self.base / "mallory").iterdir() if p.name.startswith(".incoming-")]
        logged = "disk full" in self.server.log_text().lower()
        ok = r.status == 507 and not leftovers and logged
        return Outcome("507 + 'disk full' log", f"{r.short()} in {r.seconds:.1f}s, temp files left {len(leftovers)}, logged {logged}", ok)

    def health_disk_full(self) -> Outcome:
        if not self.tmpfs:
            return Outcome("503 free_space", "skipped (no tmpfs: not root)", True)
        ballast = self.base / "ballast.bin"
        st = os.statvfs(self.base)
        free = st.f_bavail * st.f_frsize
        # Leave 8 MiB: below the 16 MiB reserve, still room for the other user's small syncs.
        with open(ballast, "wb") as f:
            left = free - 8 * 2**20
            while left > 0:
                n = min(left, 4 * 2**20)
                f.write(b"\0" * n)
                left -= n
        try:
            time.sleep(2.2)  # /health caches for two seconds
            r = request(self.port, "/health", {}, [], method="GET", src="127.0.0.42", timeout=5)
            body = r.body.decode(errors="replace")
            named = "free_space" in body and "fail" in body
            key = self.key("mallory")
            up = request(self.port, "/sync/upload", v11_header(key, "s1"), [zstd(b"\0" * (12 * 2**20))], src="127.0.0.42", timeout=20)
            ok = r.status == 503 and named and up.status == 507
            return Outcome("/health 503 free_space, upload 507", f"/health {r.short()} {body.strip()[:60]}, upload {up.short()}", ok)
        finally:
            ballast.unlink()

    def full_disk_startup(self) -> Outcome:
        """A second server on a full file system (its own 2 MiB tmpfs): one line saying so, no stack trace, no start."""
        if not self.tmpfs:
            return Outcome("exit, one line", "skipped (no tmpfs: not root)", True)
        mount = self.work / "full-disk"
        mount.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "hostile-full", str(mount)], check=True)
        try:
            with open(mount / "ballast.bin", "wb") as f:
                try:
                    for _ in range(64):  # bounded: 2 MiB fill in 64 KiB steps
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            srv = Server(self.work, mount / "data", free_port(), {"SYNC_USER1": "zed:zedpass"}, "full-disk-server")
            srv.start(wait=False)
            try:
                code = srv.proc.wait(20)
            except subprocess.TimeoutExpired:
                srv.stop()
                return Outcome("exit, one line", "still running after 20s", False)
            out = srv.log_text().strip().splitlines()
            stack = any(re.match(r"\s+at ", line) for line in out)
            says = any("disk full" in line.lower() for line in out)
            ok = code != 0 and not stack and says and len(out) == 1
            return Outcome("exit, 1 line 'disk full'", f"exit {code}, {len(out)} lines, stack {stack}: {(out[-1] if out else '')[:70]}", ok)
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)

    def kill9_leftovers(self) -> Outcome:
        """kill -9 with a v11 upload, a legacy upload and media staging in flight; the restart must leave no temp file."""
        base = self.work / "kill9-data"
        if base.exists():
            shutil.rmtree(base)
        srv = Server(self.work, base, free_port(), {"SYNC_USER1": "dave:davepass"}, "kill9-server")
        srv.start()
        try:
            key = host_key(srv.port, "dave", "davepass")
            half = zstd_stream(b"", b"SQLite format 3\0", 2**20, b"")  # 16 MB inflated
            stop = threading.Event()

            def stalled(chunks: Iterable[bytes]) -> Iterator[bytes]:
                yield from chunks
                stop.wait(20)

            def v11() -> None:
                request(srv.port, "/sync/upload", v11_header(key, "s1"), stalled(pieces(half[: len(half) // 2])), timeout=25)

            def legacy() -> None:
                parts = [("data", stalled(zeros(8 * 2**20)), "data")]
                request(srv.port, "/sync/upload", LEGACY_HEADERS, legacy_form(parts), timeout=25)

            threads = [threading.Thread(target=f) for f in (v11, legacy)]
            for t in threads:
                t.start()
            time.sleep(2.0)
            user_dir = base / "dave"
            (user_dir / (".media-upload-" + "ab" * 16 + ".tmp")).write_bytes(b"staged")
            in_flight = sorted(p.name for p in user_dir.iterdir() if p.name.startswith("."))
            spool = base / ".legacy-incoming"
            spooled = len(list(spool.iterdir())) if spool.exists() else 0
            os.kill(srv.proc.pid, signal.SIGKILL)
            srv.proc.wait(10)
            stop.set()
            for t in threads:
                t.join(30)
            srv.start()
            left = [p.name for p in user_dir.iterdir() if re.match(r"^\.(incoming-.*\.tmp|media-upload-.*\.tmp|media-download-.*\.zip)$", p.name)]
            left += [f".legacy-incoming/{p.name}" for p in spool.iterdir()] if spool.exists() else []
            ok = not left
            return Outcome("no temp file after restart", f"before kill: {len(in_flight)} temp + {spooled} spooled; after restart: {left or 'none'}", ok)
        finally:
            srv.stop()
            shutil.rmtree(base, ignore_errors=True)

    def login_timing(self) -> Outcome:
        """Unknown names must cost about as much as an argon2id user's wrong password (the first user is plain)."""
        unknown, known = [], []
        for i in range(6):
            a = v11_login(self.port, f"nobody{i}", "whatever", src=f"127.0.1.{2 * i + 1}")
            b = v11_login(self.port, ARGON_USER[0], "wrong", src=f"127.0.1.{2 * i + 2}")
            if a.status == 403:
                unknown.append(a.seconds)
            if b.status == 403:
                known.append(b.seconds)
        if len(unknown) < 5 or len(known) < 5:
            return Outcome("403s", f"unknown {len(unknown)}, known {len(known)} answered 403", False)
        ratio = statistics.median(unknown) / statistics.median(known)
        return Outcome("ratio >= 0.5", f"unknown {statistics.median(unknown) * 1000:.0f} ms / argon2 {statistics.median(known) * 1000:.0f} ms = {ratio:.2f}", ratio >= 0.5)

    def lockout(self) -> Outcome:
        """31 wrong passwords for alice from 11 addresses, then her right one: never locked out. One noisy address is throttled (429) and logged for fail2ban."""
        statuses = []
        for i in range(31):
            statuses.append(v11_login(self.port, "alice", "wrong", src=f"127.0.2.{1 + i // 3}").status)
        right = v11_login(self.port, "alice", "alicepass", src="127.0.2.99")
        noisy = [v11_login(self.port, "alice", "wrong", src="127.0.2.50").status for _ in range(12)]
        log = self.server.log_text()
        fail2ban = re.search(r'^(?:<\d>)?warn "login failed" address=127\.0\.2\.50 user=alice', log, re.M) is not None
        ok = right.status == 200 and 429 in noisy and fail2ban
        return Outcome("right pw 200; noisy addr 429; f2b line", f"right pw {right.short()}, noisy {noisy.count(403)}x403 {noisy.count(429)}x429, f2b {fail2ban}", ok)

    def file_modes(self) -> Outcome:
        names = [".anki-sync-server.sqlite3", ".anki-sync-server.sqlite3-wal", ".anki-sync-server.sqlite3-shm"]
        modes = {}
        for n in names:
            p = self.base / n
            modes[n.split(".")[-1]] = oct(p.stat().st_mode & 0o777) if p.exists() else "missing"
        warned = re.search(r"(group|world).{0,40}readable", self.server.log_text()) is not None
        ok = all(m == "0o600" for m in modes.values()) and warned
        return Outcome("db/wal/shm 0600, warning", f"{modes}, warned {warned}", ok)

    def fresh_base_mode(self) -> Outcome:
        base = self.work / "fresh" / "data"
        shutil.rmtree(self.work / "fresh", ignore_errors=True)
        srv = Server(self.work, base, free_port(), {"SYNC_USER1": "erin:erinpass"}, "fresh-server")
        srv.start()
        try:
            mode = oct(base.stat().st_mode & 0o777)
            db = oct((base / ".anki-sync-server.sqlite3").stat().st_mode & 0o777)
        finally:
            srv.stop()
            shutil.rmtree(self.work / "fresh", ignore_errors=True)
        return Outcome("base 0700, db 0600", f"base {mode}, db {db}", mode == "0o700" and db == "0o600")


def argon2_hash(password: str) -> str:
    """An argon2id PHC string with the server's own parameters (its argon2 package's defaults)."""
    script = "require('argon2').hash(process.argv[1], { type: 2 }).then((h) => console.log(h))"
    return subprocess.check_output(["node", "-e", script, password], cwd=REPO, text=True).strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--tmpfs", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated probe names")
    args = ap.parse_args()
    work = Path(args.work)
    suite = Suite(work, args.tmpfs)
    suite.only = {n for n in args.only.split(",") if n}
    started = time.monotonic()
    suite.server.start()
    suite.other = OtherUser(work, suite.port, "bob", "bobpass")
    suite.other.wait_for_sync_after(0, timeout=60)
    base_rss = suite.server.peak_mb()
    print(f"server up on {suite.port} (rss {base_rss:.0f} MB); other user syncing", flush=True)
    try:
        s = suite
        s.run("meta-bomb", "zstd 26 KB -> 288 MB of [1], to /sync/meta", lambda: s.bomb("/sync/meta", b'{"v":11,"cv":"x","x":[', b"[1]]}", 72 * 2**20))
        s.run("applyChunk-bomb", "zstd -> 250 MB of [1], to /sync/applyChunk", lambda: s.bomb("/sync/applyChunk", b'{"chunk":{"done":false,"revlog":[', b"[1]]}}", 62 * 2**20 + 2**19))
        s.run("applyChunk-dense-16M", "16 MB of [1], (under the byte budget)", lambda: s.bomb("/sync/applyChunk", b'{"chunk":{"done":false,"revlog":[', b"[1]]}}", 4 * 2**20))
        s.run("hostKey-bomb", "unauthenticated zstd -> 100 MB to /sync/hostKey", lambda: s.bomb("/sync/hostKey", b'{"u":"a","p":"', b'"}', 25 * 2**20, key=False))
        s.run("content-length-10G", "Content-Length: 10 GiB, headers only", s.content_length_over)
        s.run("slow-login-body", "4 x hostKey body at 1 byte/s", lambda: s.slow_bodies("/sync/hostKey", legacy=False))
        s.run("slow-legacy-body", "4 x legacy form at 1 byte/s", lambda: s.slow_bodies("/sync/upload", legacy=True))
        s.run("slow-headers", "headers at 1 byte/s", s.slow_headers)
        s.run("connection-cap", "40 idle connections from one address", s.connection_cap)
        s.run("legacy-unauth-key-first", "bad k, then 200 MB data", lambda: s.legacy_unauth("key-first"))
        s.run("legacy-unauth-data-first", "3 x (90 MB data, then bad k), the 2.1.56 order", lambda: s.legacy_unauth("data-first"))
        s.run("upload-disk-full", "v11 upload inflating to 300 MB on a 128 MB tmpfs", lambda: s.upload_disk_full(legacy=False))
        s.run("legacy-upload-disk-full", "legacy gzip upload inflating to 300 MB", lambda: s.upload_disk_full(legacy=True))
        s.run("health-disk-full", "ballast down to 8 MiB free, /health + upload", s.health_disk_full)
        s.run("full-disk-startup", "start a server on a full tmpfs", s.full_disk_startup)
        s.run("kill9-leftovers", "kill -9 mid-upload (v11 + legacy + media staging), restart", s.kill9_leftovers)
        s.run("login-timing", "6 unknown names vs 6 wrong argon2id passwords", s.login_timing)
        s.run("lockout", "31 wrong pw from 11 addresses, then the right one", s.lockout)
        s.run("file-modes", "pre-existing 0755 base, umask 022", s.file_modes)
        s.run("fresh-base-mode", "server creates its base folder", s.fresh_base_mode)
    finally:
        if suite.other is not None:
            suite.other.stop()
        alive_at_end = suite.server.alive()
        suite.server.stop()

    rows = suite.rows
    w = max(len(r.probe) for r in rows)
    print()
    print(f"{'probe'.ljust(w)} | verdict | {'status (expected -> got)':60} | peak RSS | other user's sync")
    print("-" * (w + 120))
    for r in rows:
        status = f"{r.outcome.expected} -> {r.outcome.got}"
        print(f"{r.probe.ljust(w)} | {'ok  ' if r.verdict() else 'FAIL'}    | {status[:60]:60} | {r.rss_mb:5.0f} MB | {r.other}")
    syncs = suite.other.rows() if suite.other else []
    good = [s for s in syncs if s["ok"]]
    print()
    print(f"other user: {len(good)}/{len(syncs)} syncs succeeded" + (f", median {statistics.median(s['end'] - s['start'] for s in good):.2f}s" if good else ""))
    print(f"server exits during the run: {suite.server.exits[:-1]}, alive at the end: {alive_at_end}")
    print(f"suite took {time.monotonic() - started:.0f}s")
    failed = [r.probe for r in rows if not r.verdict()]
    if not alive_at_end or len(suite.server.exits) > 1:
        failed.append("server-exited")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("all probes as designed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
