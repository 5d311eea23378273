"""Accounts and login security (issue 6), with Anki's real sync client.

User store, sessions, throttling and trusted proxies have no official
equivalent and run against our server only. The password-hash scenarios run
against both: ours reads them from password files (and SYNC_USERn), the
official server from SYNC_USERn with PASSWORDS_HASHED.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Mapping

import pytest
from anki.errors import NetworkError, SyncError, SyncErrorKind

from harness import builders, raw
from harness.client import FULL_UPLOAD, NO_CHANGES, required_name
from harness.server import OURS_ENTRY, REPO_ROOT, ServerStartError, SyncServer

AUTH_FAILED_TEXT = "Email or password was incorrect; please try again."

# The fail2ban failregex from docs/accounts.md, with <ADDR> as a named group.
FAIL2BAN = re.compile(r'^(?:<\d>)?warn "login failed" address=(?P<addr>[0-9a-fA-F.:]+) user=')


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def ours(server_kind: str) -> None:
    if server_kind != "ours":
        pytest.skip("user store, sessions, throttling and proxies are ours only (no official equivalent)")


def _cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNC_")}


def cli(srv: SyncServer, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`anki-sync-server user ...` against the server's data folder."""
    node = os.environ.get("INTEROP_NODE", "node")
    return subprocess.run(
        [node, str(OURS_ENTRY), "user", *args, "--base", str(srv.base)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=str(REPO_ROOT),
        env=_cli_env(),
        timeout=60,
    )


def cli_ok(srv: SyncServer, *args: str, stdin: str | None = None) -> str:
    r = cli(srv, *args, stdin=stdin)
    assert r.returncode == 0, f"user {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}"
    return r.stdout


def login_from(
    srv: SyncServer,
    user: str,
    password: str,
    source: str = "127.0.0.2",
    headers: Mapping[str, str] | None = None,
) -> raw.RawResponse:
    """A raw hostKey request from another loopback address (127.0.0.0/8 is all ours on Linux)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60, source_address=(source, 0))
    try:
        hdrs = {"Content-Type": "application/octet-stream", "anki-sync": raw.sync_header("")}
        hdrs.update(headers or {})
        conn.request("POST", "/sync/hostKey", body=raw.zstd_compress(raw.to_bytes({"u": user, "p": password})), headers=hdrs)
        resp = conn.getresponse()
        body = resp.read()
        return raw.RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, "POST", "/sync/hostKey")
    finally:
        conn.close()


def login_failed_lines(srv: SyncServer) -> list[str]:
    return [line for line in srv.log_text().splitlines() if FAIL2BAN.match(line)]


def wait_for_log(srv: SyncServer, pattern: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        for line in srv.log_text().splitlines():
            if rx.search(line):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line matching {pattern!r}; log tail:\n{srv.log_tail()}")


def assert_auth_error(excinfo: pytest.ExceptionInfo) -> None:
    assert isinstance(excinfo.value, SyncError), repr(excinfo.value)
    assert excinfo.value.kind == SyncErrorKind.AUTH, repr(excinfo.value)
    assert str(excinfo.value) == AUTH_FAILED_TEXT


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def pbkdf2_phc(password: str, rounds: int = 100_000) -> str:
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, 32)
    return f"$pbkdf2-sha256$i={rounds},l=32${_b64(salt)}${_b64(dk)}"


def argon2id_phc(password: str) -> str:
    script = "import('argon2').then(a => a.default.hash(process.argv[1], {type: a.default.argon2id})).then(h => process.stdout.write(h))"
    out = subprocess.run(["node", "-e", script, password], cwd=str(REPO_ROOT), capture_output=True, text=True, check=True)
    assert out.stdout.startswith("$argon2id$"), out
    return out.stdout


def tree(root: Path) -> set[str]:
    """Every path under root except logs (which grow) and SQLite side files."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if not p.name.endswith(".log") and not re.search(r"\.sqlite3-(wal|shm|journal)$", p.name)
    }


# ---------------------------------------------------------------------------
# 1. the user store, live
# ---------------------------------------------------------------------------


def test_user_added_while_running_logs_in_and_syncs_at_once(ours, start_server, make_client):
    srv = start_server()
    out = cli_ok(srv, "add", "carol", "--password-stdin", stdin="carol-store-pass\n")
    assert "Added user carol." in out
    assert "The running server" in out and "picked up the change" in out

    c = make_client("carol")
    builders.add_basic_notes(c.col, ["carol-1", "carol-2"])
    c.login(srv.endpoint, "carol", "carol-store-pass")
    required, action = c.sync_resolving_full()
    assert (required, action) == (FULL_UPLOAD, "upload"), required_name(required)
    assert c.pending() == "no_changes"
    assert (srv.user_dir("carol") / "collection.anki2").exists()

    listed = json.loads(cli_ok(srv, "list", "--json"))
    assert listed["serverRunning"] is True
    sources = {u["name"]: u["source"] for u in listed["users"]}
    assert sources == {"alice": "SYNC_USER1", "bob": "SYNC_USER2", "carol": "user store"}

    # the password is stored as argon2id, not as given
    con = sqlite3.connect(f"file:{srv.base / '.anki-sync-server.sqlite3'}?mode=ro", uri=True)
    try:
        (phc,) = con.execute("select phc from users where name = 'carol'").fetchone()
    finally:
        con.close()
    assert phc.startswith("$argon2id$") and "carol-store-pass" not in phc


def test_user_added_while_stopped_is_loaded_at_start(ours, start_server, make_client):
    srv = start_server()
    srv.stop()
    out = cli_ok(srv, "add", "dave", "--password-stdin", stdin="dave-pass\n")
    assert "No server is running" in out
    # a server with no SYNC_USERn at all, only the store
    srv.users = []
    srv.start()
    c = make_client("dave")
    c.login(srv.endpoint, "dave", "dave-pass")
    assert c.sync().required == NO_CHANGES


def test_passwd_refuses_old_password_and_old_device_key(ours, start_server, make_client):
    srv = start_server()
    cli_ok(srv, "add", "carol", "--password-stdin", stdin="old-pass\n")
    phone = make_client("phone")
    phone.login(srv.endpoint, "carol", "old-pass")
    assert phone.sync().required == NO_CHANGES
    old_key = phone.auth.hkey

    out = cli_ok(srv, "passwd", "carol", "--password-stdin", stdin="new-pass\n")
    assert "1 session revoked" in out
    assert "picked up the change" in out

    # the device's stored key is refused: the client reports an auth failure (and asks to log in again)
    with pytest.raises(SyncError) as excinfo:
        phone.sync()
    assert_auth_error(excinfo)
    assert raw.meta(srv.endpoint, old_key).status == 403
    # the old password fails, the new one works
    with pytest.raises(SyncError) as excinfo:
        make_client("other").col.sync_login("carol", "old-pass", srv.endpoint)
    assert_auth_error(excinfo)
    phone.login(srv.endpoint, "carol", "new-pass")
    assert phone.sync().required == NO_CHANGES


def test_sessions_and_revoke_only_that_device(ours, start_server, make_client):
    srv = start_server()
    phone = make_client("phone")
    phone.login(srv.endpoint, "alice", "alicepass")
    laptop = make_client("laptop")
    laptop.login(srv.endpoint, "alice", "alicepass")
    for device in (phone, laptop):
        assert device.sync().required == NO_CHANGES

    sessions = json.loads(cli_ok(srv, "sessions", "alice", "--json"))
    assert len(sessions) == 2
    for s in sessions:
        assert s["user"] == "alice"
        assert s["address"] == "127.0.0.1"
        assert s["clientVersion"]  # what the client sent in the anki-sync header
        assert s["created"] <= s["lastUsed"]
        assert re.fullmatch(r"[0-9a-f]{12}", s["id"])
    # neither key appears in the listing
    listing = cli_ok(srv, "sessions", "alice")
    assert phone.auth.hkey not in listing and laptop.auth.hkey not in listing
    assert sessions[0]["id"] in listing

    # revoke the phone (logged in first) by a prefix of its id
    out = cli_ok(srv, "revoke", "alice", sessions[0]["id"][:8])
    assert "Revoked 1 session of alice" in out
    with pytest.raises(SyncError) as excinfo:
        phone.sync()
    assert_auth_error(excinfo)
    assert laptop.sync().required == NO_CHANGES
    assert [s["id"] for s in json.loads(cli_ok(srv, "sessions", "alice", "--json"))] == [sessions[1]["id"]]

    # the phone logs in again: a new session; then --all ends every one
    phone.login(srv.endpoint, "alice", "alicepass")
    assert phone.sync().required == NO_CHANGES
    assert "Revoked 2 sessions of alice" in cli_ok(srv, "revoke", "alice", "--all")
    for device in (phone, laptop):
        with pytest.raises(SyncError) as excinfo:
            device.sync()
        assert_auth_error(excinfo)

    # bad requests are refused without touching anything
    assert cli(srv, "revoke", "alice").returncode == 1
    assert cli(srv, "revoke", "alice", "zz").returncode == 1


def test_remove_user_ends_sessions_and_keeps_data(ours, start_server, make_client):
    srv = start_server()
    cli_ok(srv, "add", "carol", "--password-stdin", stdin="carol-pass\n")
    c = make_client("carol")
    builders.add_basic_notes(c.col, ["kept"])
    c.login(srv.endpoint, "carol", "carol-pass")
    c.sync_resolving_full()
    out = cli_ok(srv, "remove", "carol")
    assert "1 session revoked" in out and "picked up the change" in out
    with pytest.raises(SyncError) as excinfo:
        c.sync()
    assert_auth_error(excinfo)
    assert raw.host_key(srv.endpoint, "carol", "carol-pass").status == 403
    assert (srv.user_dir("carol") / "collection.anki2").exists()
    # users from the environment are not the store's to remove
    r = cli(srv, "remove", "alice")
    assert r.returncode == 1 and "SYNC_USER1" in r.stderr


def test_cli_refuses_passwords_it_cannot_read_safely(ours, start_server):
    srv = start_server()
    # no terminal and no explicit source: refuses instead of hanging or reading argv
    r = cli(srv, "add", "carol", stdin="")
    assert r.returncode == 1 and "--password-stdin" in r.stderr
    r = cli(srv, "add", "carol", "--password-stdin", stdin="\n")
    assert r.returncode == 1 and "empty" in r.stderr
    r = cli(srv, "add", "alice", "--password-stdin", stdin="x\n")
    assert r.returncode == 1 and "SYNC_USER1" in r.stderr
    # the explicit flag works, with a warning
    r = cli(srv, "add", "carol", "--password", "on-the-command-line")
    assert r.returncode == 0 and "shell history" in r.stderr


# ---------------------------------------------------------------------------
# 2. password files and hashes
# ---------------------------------------------------------------------------

PASSWORD_CASES = [
    ("file", "plain"),
    ("file", "argon2id"),
    ("file", "pbkdf2"),
    ("env", "pbkdf2"),
    ("env", "argon2id"),
]


@pytest.mark.parametrize("delivery,form", PASSWORD_CASES, ids=[f"{d}-{f}" for d, f in PASSWORD_CASES])
def test_password_forms_log_in(start_server, server_kind, make_client, tmp_path, delivery, form):
    if server_kind == "official" and (delivery, form) != ("env", "pbkdf2"):
        pytest.skip("the official server reads only SYNC_USERn, and hashes only as pbkdf2")
    password = "file-pass-Xy7"
    secret = {"plain": lambda: password, "argon2id": lambda: argon2id_phc(password), "pbkdf2": lambda: pbkdf2_phc(password)}[form]()
    if delivery == "file":
        # as systemd's LoadCredential delivers them: relative names under $CREDENTIALS_DIRECTORY,
        # with the trailing newline editors and `echo` leave
        creds = tmp_path / "credentials"
        creds.mkdir()
        (creds / "carol-password").write_text(secret + "\n")
        absolute = tmp_path / "erin-password"
        absolute.write_text("erin-pass\n")
        srv = start_server(
            users=[],
            env={"CREDENTIALS_DIRECTORY": str(creds), "SYNC_USER_FILES": f"carol=carol-password erin={absolute}"},
        )
    else:
        srv = start_server(users=[("carol", secret)], env={"PASSWORDS_HASHED": "1"})

    c = make_client("carol")
    c.login(srv.endpoint, "carol", password)
    assert c.sync().required == NO_CHANGES
    with pytest.raises(SyncError) as excinfo:
        make_client("wrong").col.sync_login("carol", password + "!", srv.endpoint)
    assert_auth_error(excinfo)
    if delivery == "file":
        assert raw.host_key(srv.endpoint, "erin", "erin-pass").status == 200
    log = srv.log_text()
    assert password not in log and secret not in log and c.auth.hkey not in log


BAD_FILES = {
    "empty": (lambda p: p.write_text(""), "is empty"),
    "only-newline": (lambda p: p.write_text("\n"), "is empty"),
    "missing": (lambda p: None, "does not exist"),
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "two-lines": (lambda p: p.write_text("first-line-secret\nsecond-line-secret\n"), "more than one line"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_password_file_is_a_startup_error_naming_the_file(ours, start_server, tmp_path, case):
    make, why = BAD_FILES[case]
    path = tmp_path / f"bob-{case}"
    make(path)
    with pytest.raises(ServerStartError) as excinfo:
        start_server(env={"SYNC_USER_FILES": f"bob={path}"})
    message = str(excinfo.value)
    assert "exited with code 2" in message
    assert str(path) in message and why in message
    assert "secret" not in message


@pytest.mark.skipif(hasattr(os, "getuid") and os.getuid() == 0, reason="root reads any file")
def test_unreadable_password_file_is_a_startup_error(ours, start_server, tmp_path):
    path = tmp_path / "bob-locked"
    path.write_text("pw\n")
    path.chmod(0)
    with pytest.raises(ServerStartError) as excinfo:
        start_server(env={"SYNC_USER_FILES": f"bob={path}"})
    assert str(path) in str(excinfo.value) and "not readable" in str(excinfo.value)


def test_user_file_flag_error_names_the_file(ours, tmp_path):
    """`serve --user-file NAME=PATH` (the NixOS module's form) fails clearly, before listening."""
    missing = tmp_path / "nope" / "carol"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNC_")}
    env.update({"SYNC_BASE": str(tmp_path / "data"), "SYNC_HOST": "127.0.0.1", "SYNC_PORT": "0"})
    r = subprocess.run(
        ["node", str(OURS_ENTRY), "serve", "--user-file", f"carol={missing}"],
        capture_output=True, text=True, cwd=str(REPO_ROOT), env=env, timeout=30,
    )
    assert r.returncode == 2, r
    assert str(missing) in r.stderr and "does not exist" in r.stderr


def test_password_file_change_and_sighup_apply_without_restart(ours, start_server, make_client, tmp_path):
    path = tmp_path / "carol-password"
    path.write_text("first-pass\n")
    srv = start_server(env={"SYNC_USER_FILES": f"carol={path}"})
    c = make_client("carol")
    c.login(srv.endpoint, "carol", "first-pass")
    assert c.sync().required == NO_CHANGES

    # agenix replaces the file; the server notices by itself
    tmp = tmp_path / "carol-password.new"
    tmp.write_text("second-pass\n")
    tmp.replace(path)
    wait_for_log(srv, r'"users reloaded" trigger="password file changed".*changed=carol')
    with pytest.raises(SyncError) as excinfo:
        c.sync()
    assert_auth_error(excinfo)
    assert raw.host_key(srv.endpoint, "carol", "first-pass").status == 403
    c.login(srv.endpoint, "carol", "second-pass")
    assert c.sync().required == NO_CHANGES

    # a file that breaks keeps the old users, and says so
    path.write_text("")
    wait_for_log(srv, r'"users not reloaded, keeping the previous ones".*carol-password \(user carol, SYNC_USER_FILES\) is empty')
    assert c.sync().required == NO_CHANGES

    # SIGHUP reloads on demand
    path.write_text("third-pass\n")
    srv.proc.send_signal(signal.SIGHUP)
    wait_for_log(srv, r'"users reloaded" trigger=SIGHUP')
    assert srv.is_running()
    assert raw.host_key(srv.endpoint, "carol", "third-pass").status == 200
    assert "first-pass" not in srv.log_text() and "second-pass" not in srv.log_text()


# ---------------------------------------------------------------------------
# 3. brute force
# ---------------------------------------------------------------------------


def test_password_guessing_is_throttled_and_logged_for_fail2ban(ours, start_server, make_client):
    limit = 5
    srv = start_server(env={"SYNC_LOGIN_FAILURES_PER_ADDRESS": str(limit)})
    guesses = [f"guess-{i:03d}-Qz" for i in range(200)]
    started = time.monotonic()
    statuses = []
    for guess in guesses:
        r = login_from(srv, "alice", guess, source="127.0.0.2")
        statuses.append(r.status)
        if r.status == 429:
            assert int(r.headers["retry-after"]) > 0
    assert time.monotonic() - started < 60
    assert statuses == [403] * limit + [429] * (200 - limit)

    # the right password from another address still works, and syncs
    c = make_client("alice")
    c.login(srv.endpoint, "alice", "alicepass")
    assert c.sync().required == NO_CHANGES

    # the real client's view of a throttled address: a network error naming 429, not "wrong password"
    other = make_client("alice-typo")
    for _ in range(limit):
        with pytest.raises(SyncError) as excinfo:
            other.col.sync_login("alice", "typo", srv.endpoint)
        assert_auth_error(excinfo)
    with pytest.raises(NetworkError) as excinfo:
        other.col.sync_login("alice", "alicepass", srv.endpoint)
    assert "429" in str(excinfo.value)

    lines = login_failed_lines(srv)
    assert len(lines) == 200 + limit + 1  # every failure exactly once
    attacker = [line for line in lines if FAIL2BAN.match(line).group("addr") == "127.0.0.2"]
    assert len(attacker) == 200
    assert all(re.match(r'^(<\d>)?warn "login failed" address=127\.0\.0\.2 user=alice reason=', line) for line in attacker)
    assert sum("reason=wrong-password" in line for line in attacker) == limit
    assert sum("reason=throttled-address" in line for line in attacker) == 200 - limit
    assert [FAIL2BAN.match(line).group("addr") for line in lines[200:]] == ["127.0.0.1"] * (limit + 1)

    log = srv.log_text()
    for secret in [*guesses, "alicepass", "typo", c.auth.hkey]:
        assert secret not in log


def test_user_name_attacked_from_many_addresses_keeps_its_right_password(ours, start_server, make_client):
    """The per-user limit counts per (name, address): guesses from many addresses
    never lock the name for the user's own devices (issue 18); one address that
    keeps failing for the name is throttled and logged for fail2ban."""
    srv = start_server(env={"SYNC_LOGIN_FAILURES_PER_ADDRESS": "10", "SYNC_LOGIN_FAILURES_PER_USER": "3"})
    statuses = [login_from(srv, "bob", f"g{i}", source=f"127.0.1.{1 + i // 2}").status for i in range(40)]
    assert statuses == [403] * 40
    assert login_from(srv, "bob", "bobpass", source="127.0.1.200").status == 200
    # one address: 3 failures for bob, then that pair is throttled (even the right password), other names are not
    noisy = [login_from(srv, "bob", f"n{i}", source="127.0.2.1").status for i in range(5)]
    assert noisy == [403] * 3 + [429] * 2
    assert "reason=throttled-user" in login_failed_lines(srv)[-1]
    assert login_from(srv, "bob", "bobpass", source="127.0.2.1").status == 429
    assert login_from(srv, "alice", "alicepass", source="127.0.2.1").status == 200
    # the user's own device logs in and syncs
    c = make_client("bob")
    c.login(srv.endpoint, "bob", "bobpass")
    assert c.sync().required == NO_CHANGES


def test_login_flood_cannot_stall_syncs(ours, start_server, make_client):
    """Hash checks are bounded: a flood of logins against a slow hash gets quick 503s
    beyond the queue, and a device that is already logged in keeps syncing."""
    slow = pbkdf2_phc("alicepass", rounds=300_000)
    srv = start_server(
        users=[("alice", slow)],
        env={
            "PASSWORDS_HASHED": "1",
            "SYNC_LOGIN_FAILURES_PER_ADDRESS": "0",
            "SYNC_LOGIN_FAILURES_PER_USER": "0",
            "SYNC_MAX_CONCURRENT_LOGINS": "1",
        },
    )
    device = make_client("device")
    device.login(srv.endpoint, "alice", "alicepass")
    assert device.sync().required == NO_CHANGES

    results: list[int] = []
    lock = threading.Lock()

    def attack(i: int) -> None:
        status = login_from(srv, "alice", f"flood-{i}", source=f"127.0.2.{i % 250 + 1}").status
        with lock:
            results.append(status)

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(120)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    builders.add_basic_notes(device.col, ["during-the-flood"])
    device.sync_resolving_full()
    sync_secs = time.monotonic() - t0
    for t in threads:
        t.join(120)
    assert sync_secs < 5, f"sync took {sync_secs:.1f}s during the login flood"
    assert device.pending() == "no_changes"
    assert set(results) <= {403, 503}
    assert results.count(503) > 0, "the queue of hash checks should have overflowed"
    assert results.count(403) > 0
    assert "login refused, server busy" in srv.log_text()


# ---------------------------------------------------------------------------
# 4. behind a reverse proxy
# ---------------------------------------------------------------------------


def test_forwarded_address_only_from_trusted_proxy(ours, start_server):
    srv = start_server(env={"SYNC_TRUSTED_PROXIES": "127.0.0.1", "SYNC_LOGIN_FAILURES_PER_ADDRESS": "3"})
    via_proxy = lambda client, pw: login_from(srv, "alice", pw, source="127.0.0.1", headers={"X-Forwarded-For": client})  # noqa: E731

    # the client's own (leftmost) entry is not believed; the one the proxy appended is
    assert [via_proxy("6.6.6.6, 198.51.100.7", f"w{i}").status for i in range(4)] == [403, 403, 403, 429]
    assert via_proxy("198.51.100.8", "w").status == 403  # another client behind the same proxy
    # from an untrusted peer the header is ignored
    assert login_from(srv, "alice", "w", source="127.0.0.2", headers={"X-Forwarded-For": "198.51.100.7"}).status == 403

    addrs = [FAIL2BAN.match(line).group("addr") for line in login_failed_lines(srv)]
    assert addrs == ["198.51.100.7"] * 4 + ["198.51.100.8", "127.0.0.2"]

    # sessions record the forwarded address too
    ok = via_proxy("198.51.100.9", "alicepass")
    assert ok.status == 200
    sessions = json.loads(cli_ok(srv, "sessions", "alice", "--json"))
    assert [s["address"] for s in sessions] == ["198.51.100.9"]


# ---------------------------------------------------------------------------
# 5. hostile user names
# ---------------------------------------------------------------------------

HOSTILE_NAMES = ["../evil", "..", ".", ".hidden", "a/b", "/tmp/abs-evil", "a\\b", "evil\nname", " lead", "x:y", ""]


def test_hostile_names_at_user_add_touch_nothing(ours, start_server, tmp_path):
    srv = start_server()
    before = tree(tmp_path)
    for name in HOSTILE_NAMES:
        r = cli(srv, "add", name, "--password-stdin", stdin="pw\n")
        assert r.returncode == 1, (name, r)
        assert "invalid user name" in r.stderr, (name, r.stderr)
    assert tree(tmp_path) == before
    assert not Path("/tmp/abs-evil").exists()
    names = {u["name"] for u in json.loads(cli_ok(srv, "list", "--json"))["users"]}
    assert names == {"alice", "bob"}


def test_hostile_names_in_login_requests_touch_nothing(start_server, tmp_path):
    srv = start_server(env={"SYNC_LOGIN_FAILURES_PER_ADDRESS": "0", "SYNC_LOGIN_FAILURES_PER_USER": "0"})
    before = tree(tmp_path)
    for name in [*HOSTILE_NAMES, "../alice", "alice/../bob", "alice\u0000"]:
        for password in ("pw", "alicepass"):
            r = raw.host_key(srv.endpoint, name, password)
            assert r.status == 403, (name, r.describe())
    assert tree(tmp_path) == before
    assert not Path("/tmp/abs-evil").exists()
