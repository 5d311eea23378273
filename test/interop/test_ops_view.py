"""The operator's view, against our server with real clients: --version,
GET /, the version in /health and /metrics, `user list` showing each user's
last sync, backup freshness, and the --accept-derived-host-keys switch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness.client import NO_CHANGES
from harness.server import OURS_ENTRY, REPO_ROOT, SyncServer


@pytest.fixture(autouse=True)
def _ours_only(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("server_kind") == "official":
        pytest.skip("these are features of our server only")


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNC_")}
    node = os.environ.get("INTEROP_NODE", "node")
    return subprocess.run([node, str(OURS_ENTRY), *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def package_version() -> str:
    return json.loads((REPO_ROOT / "package.json").read_text())["version"]


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode()


def test_version_flag() -> None:
    for flag in ("--version", "-V"):
        proc = cli(flag)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"anki-sync-server-ts {package_version()}"


def test_root_health_and_metrics_name_the_version(shared_server: SyncServer) -> None:
    status, ctype, body = get(shared_server.url + "/")
    assert status == 200 and ctype.startswith("text/plain")
    assert body.count("\n") == 1
    assert f"anki-sync-server-ts {package_version()}" in body
    # points the client at this very address
    assert f"http://127.0.0.1:{shared_server.port}/" in body

    status, _, body = get(shared_server.url + "/health")
    assert status == 200 and json.loads(body)["version"] == package_version()

    status, _, body = get(shared_server.url + "/metrics")
    assert status == 200
    assert re.search(r'^anki_sync_build_info\{version="' + re.escape(package_version()) + r'",nodejs="v[\d.]+"\} 1$', body, re.M), body


def user_list(srv: SyncServer) -> dict[str, str]:
    proc = cli("user", "list", "--base", srv.base)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "LAST SYNC" in lines[0]
    col = lines[0].index("LAST SYNC")
    end = lines[0].index("SOURCE")
    return {line.split()[0]: line[col:end].strip() for line in lines[1:] if line and not line.startswith("(")}


def test_user_list_shows_last_sync(server: SyncServer, make_client) -> None:
    before = user_list(server)
    assert before == {"alice": "-", "bob": "-"}

    client = make_client("alice-desktop")
    client.login(server.endpoint, "alice", "alicepass")
    client.col.add_note(_basic_note(client.col, "first"), client.col.decks.id("Default"))
    assert client.sync_resolving_full()[1] == "upload"
    # a normal sync on top: the newest outcome is a normal one
    client.col.add_note(_basic_note(client.col, "second"), client.col.decks.id("Default"))
    assert client.sync().required == NO_CHANGES

    after = user_list(server)
    assert after["bob"] == "-"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d normal ok", after["alice"]), after

    listed = json.loads(cli("user", "list", "--json", "--base", server.base).stdout)
    alice = next(u for u in listed["users"] if u["name"] == "alice")
    assert alice["lastSync"]["kind"] == "normal" and alice["lastSync"]["ok"] is True
    assert alice["lastSync"]["clientVersion"].endswith(",linux")


def _basic_note(col, front: str):
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = front
    note["Back"] = "back"
    return note


# -- --accept-derived-host-keys ---------------------------------------------------


def _moved_from_official(tmp_path: Path, make_client) -> tuple[Path, object, str]:
    """A device that synced with the official server; returns (its data folder, the client, its host key)."""
    official = SyncServer("official", tmp_path / "official", users=[("alice", "alicepass")])
    official.start()
    try:
        client = make_client("moving")
        auth = client.login(official.endpoint, "alice", "alicepass")
        client.col.add_note(_basic_note(client.col, "from the official server"), client.col.decks.id("Default"))
        assert client.sync_resolving_full()[1] == "upload"
    finally:
        official.stop()
    return official.base, client, auth.hkey


def _ours_on(data: Path, tmp_path: Path, name: str, env: dict[str, str]) -> SyncServer:
    srv = SyncServer("ours", tmp_path / name, users=[("alice", "alicepass")], env=env)
    shutil.copytree(data, srv.base, dirs_exist_ok=True)
    return srv.start()


def test_derived_host_keys_keep_a_moved_device_syncing(tmp_path: Path, make_client) -> None:
    import hashlib

    data, client, hkey = _moved_from_official(tmp_path, make_client)
    assert hkey == hashlib.sha1(b"alice:alicepass").hexdigest()

    # Off (the default): the official key is refused, the device must log in again.
    plain = _ours_on(data, tmp_path, "ours-default", {})
    try:
        client.use_auth(hkey, plain.endpoint)
        with pytest.raises(Exception, match="(?i)password was incorrect"):
            client.sync()
    finally:
        plain.stop()

    # On: the same device keeps syncing with its old key, changes go both ways.
    srv = _ours_on(data, tmp_path, "ours-derived", {"SYNC_ACCEPT_DERIVED_HOST_KEYS": "1"})
    try:
        client.use_auth(hkey, srv.endpoint)
        client.col.add_note(_basic_note(client.col, "after the move"), client.col.decks.id("Default"))
        assert client.sync().required == NO_CHANGES
        other = make_client("second-device")
        other.login(srv.endpoint, "alice", "alicepass")
        assert other.sync_resolving_full()[1] == "download"
        fronts = sorted(other.col.get_note(n)["Front"] for n in other.col.find_notes(""))
        assert fronts == ["after the move", "from the official server"]
    finally:
        srv.stop()
