"""End to end: a database client running in a container shows as that container.

A throwaway PostgreSQL cluster listens on the Docker bridge address, a busybox container
opens a real session to it (a hand-written startup packet through `nc`: busybox has no
psql), and the Postgres screen names the client by its container instead of its address.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from screens.postgres import PostgresScreen
from tests.pg_situations import wait_until
from tests.ui_helpers import make_app
from widgets.activity_table import CONTAINER_MARK, ActivityTable

pytest_plugins = ("tests.docker_situations",)

PG_BIN = Path("/usr/lib/postgresql")
# StartupMessage: length 41, protocol 3.0, user=postgres database=postgres (octal escapes
# for busybox printf). With trust auth the session then sits idle, as a real client does.
STARTUP = r"\000\000\000\051\000\003\000\000user\000postgres\000database\000postgres\000\000"


def _bridge_address(client) -> str:
    """The host's address on the default bridge: where a container reaches the host."""
    ipam = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    # The engine leaves Gateway out when it adopted an existing docker0: then it is the
    # subnet's first address, which is what docker0 is given.
    return ipam.get("Gateway") or str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def bridge_pg(docker_client) -> Iterator[tuple[str, int]]:
    """A throwaway cluster on the bridge gateway address, trusting container clients."""
    versions = sorted(PG_BIN.iterdir()) if PG_BIN.exists() else []
    if not versions or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs the PostgreSQL server binaries and root (to run as postgres)")
    bindir = versions[-1] / "bin"
    address = _bridge_address(docker_client)
    port = _free_port(address)
    root = Path(tempfile.mkdtemp(prefix="opsc-test-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True)

    as_postgres(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    with (data / "pg_hba.conf").open("a") as hba:
        # Throwaway and reachable only on the bridge: trust whoever reaches it (the host's
        # own connection may come from any of its addresses).
        hba.write("host all all 0.0.0.0/0 trust\n")
    options = f"-c listen_addresses={address} -p {port} -k {root}"
    # -l: the server must not inherit our pipes, or `run` waits for it to exit.
    log = str(root / "server.log")
    as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-l", log, "-o", options, "-w", "start")
    try:
        yield address, port
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(["runuser", "-u", "postgres", "--", *stop], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(90)
async def test_postgres_client_in_a_container_is_named(tmp_path, containers, bridge_pg) -> None:
    address, port = bridge_pg
    client = containers.run(
        image="opsc-test/base:1",
        command=["sh", "-c", f"(printf '{STARTUP}'; sleep 300) | nc {address} {port}"],
        name="pgclient",
    )
    app = make_app(
        tmp_path,
        f"postgresql://postgres@{address}:{port}/postgres",
        docker={"name_patterns": [containers.prefix + "*"]},
    )
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.press("2", "i")  # the client's session is idle: show idle sessions

        def client_row() -> str | None:
            if not isinstance(app.screen, PostgresScreen):
                return None
            table = app.screen.query_one(ActivityTable)
            text = "\n".join(table.render_line(y).text for y in range(table.size.height))
            return text if CONTAINER_MARK + client.name[:8] in text else None

        async def named() -> bool:
            await pilot.pause()
            return client_row() is not None

        try:
            await wait_until(named, timeout=30, what="the client named by its container")
        except AssertionError:
            pg, dk = app.states.get("postgres"), app.states.get("docker")
            clients = [b.client_addr for b in pg.snapshot.backends] if pg and pg.snapshot else pg
            ips = (
                [(c.name, c.ip_addresses) for c in dk.snapshot.containers]
                if dk and dk.snapshot
                else dk
            )
            raise AssertionError(f"clients {clients}; containers {ips}") from None
        snapshot = app.states["docker"].snapshot
        ip = next(c.ip_addresses[0] for c in snapshot.containers if c.name == client.name)
        backends = app.states["postgres"].snapshot.backends
        assert any(b.client_addr == ip for b in backends), "the session really comes from it"
        assert ip not in (client_row() or "")
        assert app.internal_errors == []
