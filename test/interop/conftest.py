"""Fixtures for the real-client interoperability suite.

Every test that uses `server`, `start_server` or `server_kind` runs once per
selected server kind: "official" (python -m anki.syncserver from the same venv)
and/or "ours" (node dist/cli/main.js serve). Select with --server=ours|official|both
or the INTEROP_SERVER environment variable (default: both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import pytest

from harness import builders
from harness.client import Client
from harness.server import DEFAULT_USERS, KINDS, SyncServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server",
        action="store",
        default=os.environ.get("INTEROP_SERVER", "both"),
        choices=("ours", "official", "both"),
        help="which sync server(s) to run the interop suite against (default: both; env INTEROP_SERVER)",
    )


def selected_kinds(config: pytest.Config) -> list[str]:
    choice = config.getoption("--server")
    return list(KINDS) if choice == "both" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_kind" in metafunc.fixturenames:
        # module scope: tests are grouped per server kind, so module-scoped
        # servers (shared_server) are started once per kind
        metafunc.parametrize("server_kind", selected_kinds(metafunc.config), scope="module")


def pytest_report_header(config: pytest.Config) -> str:
    return f"interop sync servers: {', '.join(selected_kinds(config))}"


# -- servers -----------------------------------------------------------------

StartServer = Callable[..., SyncServer]


@pytest.fixture
def start_server(server_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StartServer]:
    """Factory: start_server(users=[(name, password), ...], env={...}) -> running SyncServer."""
    servers: list[SyncServer] = []
    request.node._interop_servers = servers  # for the failure report hook below

    def _start(
        users: Sequence[tuple[str, str]] = DEFAULT_USERS,
        env: Mapping[str, str] | None = None,
    ) -> SyncServer:
        srv = SyncServer(server_kind, tmp_path / f"server{len(servers) + 1}", users=users, env=env)
        servers.append(srv)
        srv.start()
        return srv

    yield _start
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(start_server: StartServer) -> SyncServer:
    """A running server with users alice:alicepass and bob:bobpass."""
    return start_server()


@pytest.fixture(scope="module")
def _module_server(server_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SyncServer]:
    env = getattr(request.module, "SHARED_SERVER_ENV", None)
    srv = SyncServer(server_kind, tmp_path_factory.mktemp(f"shared-{server_kind}"), env=env)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def shared_server(_module_server: SyncServer, request: pytest.FixtureRequest) -> SyncServer:
    """One server per module and kind (users alice/bob, env = the module's
    SHARED_SERVER_ENV), for tests that leave no state behind. Restarted if a
    previous test killed it (that test fails on its own)."""
    request.node._interop_servers = [_module_server]
    if not _module_server.is_running():
        _module_server.restart()
    return _module_server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in getattr(item, "_interop_servers", []):
            rep.sections.append(
                (f"sync server log ({srv.kind}, {srv.log_path})", srv.log_tail(80) or "<empty>")
            )


# -- clients -----------------------------------------------------------------


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., Client]]:
    """Factory: make_client(name, from_file=None) -> a device with its own collection folder."""
    clients: list[Client] = []

    def _make(name: str = "client", from_file: Path | None = None) -> Client:
        folder = tmp_path / f"client-{name}-{len(clients)}"
        c = Client.from_file(folder, from_file, name) if from_file else Client(folder, name)
        clients.append(c)
        return c

    yield _make
    for c in clients:
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def rich_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, builders.RichCollectionInfo]:
    """A closed collection file with 1,000 notes etc., built once per session; copy it, never modify it."""
    folder = tmp_path_factory.mktemp("rich-template")
    c = Client(folder, "template")
    info = builders.build_rich_collection(c.col, note_count=1000)
    c.close()
    for extra in ("collection.anki2-wal", "collection.anki2-shm"):
        assert not (folder / extra).exists(), "template collection was not closed cleanly"
    return folder / "collection.anki2", info
