"""The optional Cognito login backend (issue 7), with Anki's real sync client.

Cognito is moto's server mode (a Cognito emulator from PyPI, started as a
process on loopback); the pool, its app client (with a secret) and the users
are created through the AWS API with boto3, as an admin would. Our server runs
with `--auth cognito` and the COGNITO_* variables the NixOS module sets, and no
local users. Ours only: the official server has no such backend.

Needs `moto[server,cognitoidp]` in the venv; without it these tests are skipped
(scripts/setup-venv.sh installs it).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from anki.errors import NetworkError, SyncError, SyncErrorKind

from harness import builders
from harness.client import FULL_UPLOAD, NO_CHANGES, required_name
from harness.server import ManagedProcess, SyncServer, free_port

pytest.importorskip("moto.server", reason="moto[server,cognitoidp] is not installed in the venv (scripts/setup-venv.sh)")
boto3 = pytest.importorskip("boto3")

AUTH_FAILED_TEXT = "Email or password was incorrect; please try again."
SERVER_ERROR_TEXT = "AnkiWeb encountered a problem. Please try again in a few minutes."
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _ours_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--server") == "official":
        pytest.skip("Cognito login is ours only (the official server has no such backend)")


# ---------------------------------------------------------------------------
# the emulator
# ---------------------------------------------------------------------------


class Moto(ManagedProcess):
    """moto's server mode as a process: a Cognito user pool API on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        super().__init__(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            workdir / "moto.log",
            ready_url=f"{self.url}/moto-api/",
            env=env,
            ready_timeout=30,
        )

    def idp(self):
        return boto3.client(
            "cognito-idp", endpoint_url=self.url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )


class Pool:
    """A user pool with one app client, set up through the AWS API."""

    def __init__(self, moto: Moto, secret: bool = True) -> None:
        self.idp = moto.idp()
        self.id = self.idp.create_user_pool(PoolName="anki")["UserPool"]["Id"]
        client = self.idp.create_user_pool_client(
            UserPoolId=self.id, ClientName="anki-sync-server", GenerateSecret=secret,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        self.client_id: str = client["ClientId"]
        self.client_secret: str | None = client.get("ClientSecret")

    def add_user(self, name: str, password: str, email: str | None = None, permanent: bool = True) -> str:
        """Creates a user (confirmed, or still on its temporary password); returns its sub."""
        attrs = [{"Name": "email", "Value": email}] if email else []
        user = self.idp.admin_create_user(
            UserPoolId=self.id, Username=name, TemporaryPassword=password if not permanent else "Temp-0-pass",
            MessageAction="SUPPRESS", UserAttributes=attrs,
        )["User"]
        if permanent:
            self.idp.admin_set_user_password(UserPoolId=self.id, Username=name, Password=password, Permanent=True)
        return next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")

    def disable(self, name: str) -> None:
        self.idp.admin_disable_user(UserPoolId=self.id, Username=name)


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[Moto]:
    m = Moto(tmp_path).start()
    yield m
    m.stop()


# ---------------------------------------------------------------------------
# our server with --auth cognito
# ---------------------------------------------------------------------------


def ours_with_args(workdir: Path, env: dict[str, str], args: Sequence[str], node_args: Sequence[str] = ()) -> SyncServer:
    """Our server with extra command-line arguments (and node options) and no SYNC_USERn."""
    return SyncServer("ours", workdir, users=[], env=env, args=args, node_args=node_args)


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[list[SyncServer]]:
    started: list[SyncServer] = []
    request.node._interop_servers = started  # conftest prints their logs on failure
    yield started
    for srv in started:
        srv.stop()


def start_cognito_server(
    servers: list[SyncServer], tmp_path: Path, pool: Pool, moto: Moto, *,
    interval: int = 900, grace: int | None = None, folder: str = "username", node_args: Sequence[str] = (),
    extra_env: dict[str, str] | None = None,
) -> SyncServer:
    """Our server set up the way the NixOS module does it: --auth cognito, COGNITO_*,
    the client secret as a systemd-style credential under $CREDENTIALS_DIRECTORY."""
    workdir = tmp_path / f"server{len(servers) + 1}"
    creds = workdir / "credentials"
    creds.mkdir(parents=True)
    env = {
        "COGNITO_USER_POOL_ID": pool.id,
        "COGNITO_CLIENT_ID": pool.client_id,
        "COGNITO_REGION": REGION,
        "COGNITO_USER_FOLDER": folder,
        "COGNITO_ENDPOINT": moto.url,
        "COGNITO_REVALIDATE_INTERVAL": str(interval),
        **(extra_env or {}),
    }
    if pool.client_secret is not None:
        (creds / "cognito-client-secret").write_text(pool.client_secret + "\n")
        env["COGNITO_CLIENT_SECRET_FILE"] = "cognito-client-secret"
        env["CREDENTIALS_DIRECTORY"] = str(creds)
    args = ["--auth", "cognito"]
    if grace is not None:
        args += ["--cognito-grace-period", str(grace)]
    srv = ours_with_args(workdir, env, args, node_args)
    servers.append(srv)
    return srv.start()


def assert_auth_error(excinfo: pytest.ExceptionInfo) -> None:
    assert isinstance(excinfo.value, SyncError), repr(excinfo.value)
    assert excinfo.value.kind == SyncErrorKind.AUTH, repr(excinfo.value)
    assert str(excinfo.value) == AUTH_FAILED_TEXT


def assert_server_error(excinfo: pytest.ExceptionInfo) -> None:
    assert isinstance(excinfo.value, SyncError), repr(excinfo.value)
    assert excinfo.value.kind != SyncErrorKind.AUTH, repr(excinfo.value)
    assert str(excinfo.value) == SERVER_ERROR_TEXT


def log_lines(srv: SyncServer, pattern: str, wait: float = 5.0) -> list[str]:
    """Lines matching pattern, waiting up to `wait` seconds for one (request lines
    are written just after the reply); no waiting with wait=0."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + wait
    while True:
        lines = [line for line in srv.log_text().splitlines() if rx.search(line)]
        if lines or time.monotonic() >= deadline:
            return lines
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


def test_cognito_user_logs_in_and_syncs_between_devices(moto, servers, tmp_path, make_client):
    pool = Pool(moto, secret=True)
    pool.add_user("alice", "Alice-pass-1")
    srv = start_cognito_server(servers, tmp_path, pool, moto, interval=2)
    assert log_lines(srv, r'info "Cognito login backend on" .*client_secret="from file" user_folder=username')

    laptop = make_client("laptop")
    builders.add_basic_notes(laptop.col, ["cognito-1", "cognito-2"])
    laptop.login(srv.endpoint, "alice", "Alice-pass-1")
    required, action = laptop.sync_resolving_full()
    assert (required, action) == (FULL_UPLOAD, "upload"), required_name(required)
    assert (srv.user_dir("alice") / "collection.anki2").exists()

    # A second device: another host key for the same folder.
    phone = make_client("phone")
    phone.login(srv.endpoint, "alice", "Alice-pass-1")
    phone.sync_resolving_full(prefer="download")
    assert builders.fronts(phone.col) == {"cognito-1", "cognito-2"}

    # Past the re-validation interval the keys are refreshed against Cognito
    # (REFRESH_TOKEN_AUTH with the SECRET_HASH moto checks) and keep working.
    time.sleep(2.5)
    builders.add_basic_notes(phone.col, ["from-phone"])
    assert phone.sync().required == NO_CHANGES  # a normal sync, done
    assert laptop.sync().required == NO_CHANGES
    assert "from-phone" in builders.fronts(laptop.col)
    assert laptop.pending() == "no_changes"
    assert not log_lines(srv, r"Cognito host key revoked|re-validation failed", wait=0)

    log = srv.log_text()
    for secret in ["Alice-pass-1", pool.client_secret, laptop.auth.hkey, phone.auth.hkey]:
        assert secret not in log
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}", log), "a JWT in the log"


def test_wrong_password_unknown_user_and_challenges(moto, servers, tmp_path, make_client):
    pool = Pool(moto, secret=True)
    pool.add_user("alice", "Alice-pass-1")
    pool.add_user("newbie", "Temporary-pass-1", permanent=False)  # NEW_PASSWORD_REQUIRED
    srv = start_cognito_server(servers, tmp_path, pool, moto)
    c = make_client()

    for user, password in [("alice", "wrong-Pass-1"), ("nobody", "Whatever-1")]:
        with pytest.raises(SyncError) as excinfo:
            c.col.sync_login(user, password, srv.endpoint)
        assert_auth_error(excinfo)
    assert len(log_lines(srv, r'^(<\d>)?warn "login failed" address=127\.0\.0\.1 user=(alice|nobody) reason=')) == 2

    # The password is right, but Cognito wants a new one: not "wrong password"
    # (428: the client shows a network error naming it), and the log says what to do.
    with pytest.raises(NetworkError) as excinfo:
        c.col.sync_login("newbie", "Temporary-pass-1", srv.endpoint)
    assert "428" in str(excinfo.value)
    [line] = log_lines(srv, r'"login refused" .*user=newbie status=428')
    assert "NEW_PASSWORD_REQUIRED" in line and "set a new password" in line
    assert not srv.user_dir("newbie").exists()

    log = srv.log_text()
    for secret in ["Alice-pass-1", "wrong-Pass-1", "Whatever-1", "Temporary-pass-1", pool.client_secret]:
        assert secret not in log


def test_disabled_user_loses_sync_after_the_interval(moto, servers, tmp_path, make_client):
    pool = Pool(moto, secret=True)
    pool.add_user("alice", "Alice-pass-1")
    interval = 3
    srv = start_cognito_server(servers, tmp_path, pool, moto, interval=interval)
    c = make_client()
    builders.add_basic_notes(c.col, ["one"])
    c.login(srv.endpoint, "alice", "Alice-pass-1")
    logged_in = time.monotonic()
    c.sync_resolving_full()

    pool.disable("alice")
    # Within the interval the key is not checked again: the sync still goes through.
    builders.add_basic_notes(c.col, ["two"])
    assert c.sync().required == NO_CHANGES
    assert time.monotonic() - logged_in < interval, "test machine too slow for the interval"

    time.sleep(interval + 0.5)
    builders.add_basic_notes(c.col, ["three"])
    with pytest.raises(SyncError) as excinfo:
        c.sync()
    assert_auth_error(excinfo)
    assert log_lines(srv, r'info "Cognito host key revoked" user=alice why=')
    # ... and Cognito refuses a new login.
    with pytest.raises(SyncError) as excinfo:
        c.col.sync_login("alice", "Alice-pass-1", srv.endpoint)
    assert_auth_error(excinfo)


def test_emulator_stopped_new_logins_fail_running_keys_work_within_grace(moto, servers, tmp_path, make_client):
    pool = Pool(moto, secret=True)
    pool.add_user("alice", "Alice-pass-1")
    interval, grace = 1, 6
    srv = start_cognito_server(servers, tmp_path, pool, moto, interval=interval, grace=grace)
    c = make_client()
    builders.add_basic_notes(c.col, ["before"])
    c.login(srv.endpoint, "alice", "Alice-pass-1")
    c.sync_resolving_full()
    validated = time.monotonic()

    moto.stop()

    # New logins fail with the clear message (client: "AnkiWeb encountered a problem").
    other = make_client("other")
    with pytest.raises(SyncError) as excinfo:
        other.col.sync_login("alice", "Alice-pass-1", srv.endpoint)
    assert_server_error(excinfo)
    assert log_lines(srv, r'error "login refused" .*status=503 why="Cognito unavailable, new logins fail until it answers: Cognito could not be reached')

    # The running key, past the interval: re-validation fails, the grace period carries it.
    time.sleep(interval + 0.2)
    builders.add_basic_notes(c.col, ["during outage"])
    assert c.sync().required == NO_CHANGES
    assert time.monotonic() - validated < grace, "test machine too slow for the grace period"
    assert log_lines(srv, r'warn "Cognito re-validation failed; host key accepted within the grace period" user=alice')

    # Past the grace period: refused as "try again later" (503), the key is not revoked.
    time.sleep(max(0.0, grace - (time.monotonic() - validated)) + 0.5)
    builders.add_basic_notes(c.col, ["after grace"])
    with pytest.raises(SyncError) as excinfo:
        c.sync()
    assert_server_error(excinfo)
    assert log_lines(srv, r"status=503 .*grace period")
    assert not log_lines(srv, r"Cognito host key revoked", wait=0)


def test_folder_by_sub(moto, servers, tmp_path, make_client):
    pool = Pool(moto, secret=False)
    sub = pool.add_user("alice", "Alice-pass-1")
    srv = start_cognito_server(servers, tmp_path, pool, moto, folder="sub")
    c = make_client()
    builders.add_basic_notes(c.col, ["by-sub"])
    c.login(srv.endpoint, "alice", "Alice-pass-1")
    c.sync_resolving_full()
    assert (srv.user_dir(sub) / "collection.anki2").exists()
    assert not srv.user_dir("alice").exists()


HOOKS = """
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (specifier.startsWith("@aws-sdk/") || result.url.includes("/@aws-sdk/")) appendFileSync(process.env.SDK_IMPORT_LOG, result.url + "\\n");
  return result;
}
"""

REGISTER = """
import { register } from "node:module";
register("./hooks.mjs", import.meta.url);
"""


def test_default_server_never_loads_the_aws_sdk(moto, servers, tmp_path, make_client):
    """A module-resolution hook records every @aws-sdk import of the server process."""
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    (hooks_dir / "hooks.mjs").write_text(HOOKS)
    (hooks_dir / "register.mjs").write_text(REGISTER)
    node_args = ["--import", (hooks_dir / "register.mjs").as_uri()]

    local_log = tmp_path / "local-imports.txt"
    local = ours_with_args(tmp_path / "local", {"SYNC_USER1": "alice:alicepass", "SDK_IMPORT_LOG": str(local_log)}, [], node_args)
    servers.append(local)
    local.start()
    c = make_client()
    c.login(local.endpoint, "alice", "alicepass")
    c.sync_resolving_full()
    local.stop()
    assert log_lines(local, r'info listening ') and not log_lines(local, "Cognito", wait=0)
    assert not local_log.exists(), local_log.read_text()

    # Control: with --auth cognito the hook does see the SDK.
    pool = Pool(moto, secret=False)
    cognito_log = tmp_path / "cognito-imports.txt"
    start_cognito_server(servers, tmp_path, pool, moto, node_args=node_args, extra_env={"SDK_IMPORT_LOG": str(cognito_log)})
    assert "@aws-sdk/client-cognito-identity-provider" in cognito_log.read_text()
