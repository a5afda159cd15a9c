"""Remote Docker engines for real, configured as an operator would configure them.

- tcp:// with TLS: a throwaway second dockerd serving `tcp://127.0.0.1:<port>` with
  `--tlsverify`, its certificates and ours made by trustme; its containers listed and
  streamed stats through a config file's `docker:` host with `tls_ca`/`tls_cert`/
  `tls_key`, and a wrong CA or a missing client certificate said as such.
- ssh:// : a throwaway sshd on a free loopback port (its own config, host key and
  authorized key; root by key only), and the `ssh` the adapter runs made to use a test
  ssh config by a wrapper first on PATH (never ~/.ssh); the machine's engine reached
  through `docker system dial-stdio`: containers, one-shot stats, events and logs, and
  failures (nothing listening, a silent port, a refused key) clear and bounded.

`bash .ci/docker.sh` and `bash .ci/ssh.sh` install what these need. Without it they
skip, unless OPS_REQUIRE_SERVICES=1, in which case they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.docker.client import DockerHost
from adapters.docker.discovery import resolve
from adapters.docker.events import EventWatcher
from adapters.docker.logs import LogFollower
from adapters.docker.models import DockerEvent
from adapters.docker.monitor import DockerMonitor
from adapters.errors import AuthFailed, SourceError, SourceTimeout, Unreachable
from console.config import load_config
from console.config_docker import DockerConfig, DockerHostConfig
from console.docker_source import DockerSource
from tests.docker_situations import (
    BASE_IMAGE,
    Containers,
    Engine,
    EngineTls,
    _unavailable,
    engine_binaries_or_skip,
    wait_until,
)

pytest_plugins = ("tests.docker_situations",)

LOCAL = "unix:///var/run/docker.sock"
SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A temporary directory removed after the test (pytest's tmp_path is kept)."""
    path = Path(tempfile.mkdtemp(prefix="opsc-test-remote-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def one_line(err: BaseException) -> str:
    """The operator's message: typed, one short line, no traceback in it."""
    assert isinstance(err, SourceError), repr(err)
    text = str(err)
    assert "\n" not in text and "Traceback" not in text and len(text) < 400, text
    return text


# -- tcp:// with TLS ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA, the engine's certificate (for 127.0.0.1) signed by it, a client certificate
    signed by it, and another CA that signed nothing of this."""

    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    import trustme

    path = Path(tempfile.mkdtemp(prefix="opsc-test-pki-"))
    try:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("ops-console", common_name="ops-console")
        pki = Pki(
            path,
            path / "ca.pem",
            path / "server-cert.pem",
            path / "server-key.pem",
            path / "cert.pem",
            path / "key.pem",
            path / "other-ca.pem",
        )
        ca.cert_pem.write_to_path(str(pki.ca))
        server.cert_chain_pems[0].write_to_path(str(pki.server_cert))
        server.private_key_pem.write_to_path(str(pki.server_key))
        client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
        client.private_key_pem.write_to_path(str(pki.client_key))
        trustme.CA().cert_pem.write_to_path(str(pki.other_ca))
        yield pki
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_engine(docker_client: Any, pki: Pki) -> Iterator[Engine]:
    """A throwaway dockerd with --tlsverify on tcp://127.0.0.1:<free port>, holding the
    base image. Its own bridge is in TEST-NET-2, so it may run beside the events tests'
    throwaway engine (TEST-NET-1)."""
    engine_binaries_or_skip()
    tls = EngineTls(free_port(), pki.ca, pki.server_cert, pki.server_key)
    engine = Engine(tls=tls, bridge_ip="198.51.100.1/24")
    try:
        engine.start()
        engine.load_base_image()
        yield engine
    finally:
        engine.remove()


def tls_config(workdir: Path, engine: Engine, **tls: Any) -> DockerConfig:
    """The target's `docker:` section read from a config file, as an operator writes it:
    certificate paths relative to the file (copied next to it under certs/)."""
    certs = workdir / "certs"
    certs.mkdir(exist_ok=True)
    host: dict[str, Any] = {"name": "secure", "url": engine.tcp_url}
    for key, value in tls.items():
        if isinstance(value, Path):
            shutil.copy(value, certs / value.name)
            value = f"certs/{value.name}"
        host[key] = value
    path = workdir / "config.yaml"
    path.write_text(
        yaml.safe_dump({"targets": {"t": {"docker": {"hosts": [host], "timeout": 3}}}}),
        encoding="utf-8",
    )
    docker = load_config(path, env={}).target("t").docker
    assert docker is not None
    return docker


@pytest.fixture
def ca_bundle_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like many machines (CI images, Nix, corporate desktops): requests is told to use
    the system's CA bundle. The engine's own `tls_ca` must still be the one used."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())


@pytest.mark.timeout(90)
async def test_tls_engine_lists_containers_and_stats_through_the_config(
    tls_engine: Engine, pki: Pki, workdir: Path, ca_bundle_in_env: None
) -> None:
    name = f"opsc-test-tls-{uuid.uuid4().hex[:6]}"
    config = tls_config(
        workdir, tls_engine, tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key
    )
    assert config.hosts[0].tls_ca == workdir / "certs" / "ca.pem"
    source = DockerSource(config, 1.0)
    try:
        snap = await source.fetch()
        (host,) = snap.hosts
        assert host.error is None and host.containers == ()
        assert host.endpoint == f"{tls_engine.tcp_url} (TLS)"
        assert host.engine_version == tls_engine.docker("version", "-f", "{{.Server.Version}}")
        assert source.describe() == f"secure: {tls_engine.tcp_url} (TLS)"

        cid = tls_engine.docker(
            *("run", "-d", "--network=none", "--label=opsc-test=1", "--cpus=0.1"),
            *(f"--name={name}", BASE_IMAGE, "sh", "-c", "while :; do :; done"),
        )
        deadline = time.monotonic() + 20
        while True:  # stats are streamed over TLS too: the first frames take a second
            snap = await source.fetch()
            row = snap.container(f"secure/{cid}")
            if row is not None and row.stats is not None and row.stats.cpu_percent is not None:
                break
            assert time.monotonic() < deadline, f"no stats over TLS: {snap}"
            await asyncio.sleep(0.3)
        assert [c.name for c in snap.containers] == [name]
        assert row.state == "running" and row.labels.get("opsc-test") == "1"
        stats = row.stats
        assert 0.5 < stats.cpu_percent < 30, stats  # a busy loop held to 0.1 core
        assert stats.mem_used is not None and stats.mem_used > 0 and stats.pids
    finally:
        await source.close()
        with contextlib.suppress(subprocess.CalledProcessError):  # never started: none
            tls_engine.docker("rm", "-f", name)


@pytest.mark.timeout(60)
async def test_tls_wrong_ca_or_no_client_certificate_say_so(
    tls_engine: Engine, pki: Pki, workdir: Path, ca_bundle_in_env: None
) -> None:
    cases = {
        "wrong CA": (
            {"tls_ca": pki.other_ca, "tls_cert": pki.client_cert, "tls_key": pki.client_key},
            ["certificate is not trusted", "other-ca.pem"],
        ),
        "no client certificate": (
            {"tls_ca": pki.ca},
            ["refused", "no client certificate is configured (tls_cert, tls_key)"],
        ),
    }
    for case, (tls, expected) in cases.items():
        source = DockerSource(tls_config(workdir, tls_engine, **tls), 1.0)
        try:
            started = time.monotonic()
            with pytest.raises(Unreachable) as err:
                await source.fetch()
            assert time.monotonic() - started < 5, case
            message = one_line(err.value)
            assert message.startswith(f"TLS handshake with {tls_engine.tcp_url} (TLS) failed")
            assert "certificate" in message and "docker group" not in message, message
            for text in expected:
                assert text in message, (case, message)
            # what the event watcher and the log view use says the same
            with pytest.raises(Unreachable, match="TLS handshake"):
                source.hosts()[0].new_client()
        finally:
            await source.close()


@pytest.mark.timeout(60)
async def test_tls_verify_false_is_honoured_quietly(
    tls_engine: Engine, pki: Pki, workdir: Path, ca_bundle_in_env: None
) -> None:
    # No CA at all, only the client certificate the engine requires: the engine's
    # certificate is not checked, as configured, and that is not logged per request.
    config = tls_config(
        workdir,
        tls_engine,
        tls_cert=pki.client_cert,
        tls_key=pki.client_key,
        tls_verify=False,
    )
    assert config.hosts[0].tls_verify is False and config.hosts[0].tls_ca is None
    source = DockerSource(config, 1.0)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                snap = await source.fetch()
                assert snap.hosts[0].error is None
        unverified = [w for w in caught if "Unverified HTTPS" in str(w.message)]
        assert unverified == []
    finally:
        await source.close()


# -- ssh:// ------------------------------------------------------------------------------


@dataclass
class Sshd:
    """A throwaway sshd on 127.0.0.1:`port`, and a directory `bin` holding an `ssh` that
    runs the real one with this test's ssh config (key, known host: nothing of ~/.ssh)."""

    dir: Path
    port: int
    bin: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def logins(self) -> int:
        """Logins accepted so far (each is one ssh connection made)."""
        log = (self.dir / "sshd.log").read_text(errors="replace")
        return log.count("Accepted publickey for root")

    def clients(self, port: int | None = None) -> list[int]:
        """Pids of the `ssh … dial-stdio` processes to `port` (this sshd's by default)."""
        return ssh_clients(self.port if port is None else port)


def ssh_clients(port: int) -> list[int]:
    """Pids of `ssh … -p <port> … docker system dial-stdio` processes on this machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"ssh")
            and b"docker system dial-stdio" in argv
            and b"-p" in argv
            and argv[argv.index(b"-p") + 1 :][:1] == [str(port).encode()]
        ):
            found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (sshd's per-connection processes)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture(scope="module")
def sshd(docker_client: Any) -> Iterator[Sshd]:
    ssh, keygen = shutil.which("ssh"), shutil.which("ssh-keygen")
    if ssh is None or keygen is None or not os.access(SSHD, os.X_OK):
        _unavailable(f"OpenSSH missing (ssh, ssh-keygen, {SSHD}): run bash .ci/ssh.sh")
    if os.geteuid() != 0:
        pytest.skip("the throwaway sshd logs in as root: run as root")
    path = Path(tempfile.mkdtemp(prefix="opsc-test-ssh-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for key in ("host_key", "client_key"):
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"opsc-test-{key}", "-f", key],
                cwd=path,
                check=True,
                capture_output=True,
            )
        # `restrict`: no forwarding, no pty; running a command (dial-stdio) stays allowed
        client_pub = (path / "client_key.pub").read_text().strip()
        (path / "authorized_keys").write_text(f"restrict {client_pub}\n")
        port = free_port()
        (path / "sshd_config").write_text(
            f"Port {port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {path}/host_key\n"
            f"PidFile {path}/sshd.pid\n"
            f"AuthorizedKeysFile {path}/authorized_keys\n"
            "PermitRootLogin prohibit-password\n"
            "AllowUsers root\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"  # the keys live under /tmp, which is world-writable
            "PrintMotd no\n"
            "LogLevel VERBOSE\n"
        )
        host_pub = (path / "host_key.pub").read_text().split()
        (path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        (path / "ssh_config").write_text(
            "Host *\n"
            f"  IdentityFile {path}/client_key\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            f"  UserKnownHostsFile {path}/known_hosts\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  PasswordAuthentication no\n"
            "  ControlMaster no\n"
            "  ControlPath none\n"
            "  LogLevel ERROR\n"
        )
        (path / "bin").mkdir()
        wrapper = path / "bin" / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec {ssh} -F {path}/ssh_config "$@"\n')
        wrapper.chmod(0o755)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation dir
        with open(path / "sshd.log", "ab") as log:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(path / "sshd_config")], stderr=log)
        server = Sshd(path, port, path / "bin", proc)

        def logs_in() -> bool:
            probe = [str(wrapper), "-o", "BatchMode=yes", "-p", str(port), "root@127.0.0.1", "true"]
            return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

        wait_until(logs_in, timeout=15, what="the throwaway sshd", every=0.1)
        yield server
    finally:
        if proc is not None:
            sessions = _children(proc.pid)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            for pid in sessions:  # sessions of clients still connected outlive the listener
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def remote(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Sshd:
    """`sshd`, with its `ssh` wrapper first on PATH for this test only."""
    monkeypatch.setenv("PATH", f"{sshd.bin}{os.pathsep}{os.environ.get('PATH', '')}")
    return sshd


def no_clients_left(port: int) -> None:
    wait_until(lambda: not ssh_clients(port), timeout=10, what=f"the ssh processes to :{port}")


@pytest.mark.timeout(90)
async def test_ssh_engine_lists_containers_and_stats(
    remote: Sshd, containers: Containers, docker_client: Any
) -> None:
    busy = containers.run(
        command=["sh", "-c", "while :; do :; done"], name="busy", nano_cpus=100_000_000
    )
    idle = containers.run(command="sleep 60", name="idle")
    host = DockerHost(resolve("remote", remote.url), timeout=5)
    monitor = DockerMonitor(host, name_patterns=[containers.prefix + "*"])
    try:
        assert monitor.stats_mode == "one-shot"  # not streamed over ssh
        snap = await monitor.refresh()
        assert snap.endpoint == remote.url and snap.error is None
        assert snap.engine_version == docker_client.version()["Version"]
        assert {c.id for c in snap.containers} == {busy.id, idle.id}
        assert all(c.state == "running" and c.labels["opsc-test"] == "1" for c in snap.containers)

        logins = remote.logins()
        deadline = time.monotonic() + 20
        while True:
            snap = await monitor.refresh()
            rows = {c.id: c for c in snap.containers}
            if all(r.stats is not None and r.stats.cpu_percent is not None for r in rows.values()):
                break
            assert time.monotonic() < deadline, f"no stats over ssh: {snap.containers}"
        assert monitor.stats_failed == 0
        hot, cold = rows[busy.id].stats, rows[idle.id].stats
        assert hot is not None and cold is not None
        assert 0.5 < hot.cpu_percent < 30, hot  # a busy loop held to 0.1 core
        assert cold.cpu_percent < 2, cold
        assert hot.mem_used and cold.mem_used and hot.mem_limit and hot.pids
        # The refreshes after the first reused its ssh connections: no new login at all.
        assert remote.logins() == logins
        assert 0 < len(remote.clients()) <= host.workers + 2
    finally:
        monitor.close()
        host.close()
    no_clients_left(remote.port)


@pytest.mark.timeout(60)
async def test_ssh_failures_are_clear_and_bounded(
    remote: Sshd, capfd: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens: the poll fails at once, in ssh's own words, through the console's
    # source; nothing of ssh's reaches the terminal (the screen).
    port = free_port()
    config = DockerConfig(
        hosts=(DockerHostConfig(name="gone", url=f"ssh://root@127.0.0.1:{port}"),), timeout=3
    )
    source = DockerSource(config, 2.0)
    try:
        started = time.monotonic()
        with pytest.raises(Unreachable) as err:
            await source.fetch()
        assert time.monotonic() - started < 3
        assert one_line(err.value) == (
            f"ssh to root@127.0.0.1:{port} failed: "
            f"ssh: connect to host 127.0.0.1 port {port}: Connection refused"
        )
    finally:
        await source.close()
    out, errors = capfd.readouterr()
    assert "Connection refused" not in out + errors

    # A port that accepts and never says a word (a hung sshd): bounded by the timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_port = silent.getsockname()[1]
        host = DockerHost(resolve("silent", f"ssh://root@127.0.0.1:{silent_port}"), timeout=2)
        try:
            started = time.monotonic()
            with pytest.raises((SourceTimeout, Unreachable)) as err:
                await host.call(lambda c: c.api.ping(), timeout=2)
            assert time.monotonic() - started < 3.5
            one_line(err.value)
        finally:
            host.close()
        no_clients_left(silent_port)

    # A key the server refuses: an auth failure, not retried every refresh (that would
    # hammer the server's login and can get the console's address banned).
    host = DockerHost(resolve("who", f"ssh://nobody@127.0.0.1:{remote.port}"), timeout=3)
    try:
        with pytest.raises(AuthFailed) as err:
            await host.call(lambda c: c.api.ping(), timeout=5)
        assert "Permission denied (publickey)" in one_line(err.value)
        assert err.value.retryable is False
    finally:
        host.close()
    out, errors = capfd.readouterr()
    assert "Permission denied" not in out + errors


@pytest.mark.timeout(90)
async def test_ssh_one_shot_stats_queued_in_the_pool_keep_their_whole_timeout(
    remote: Sshd, containers: Containers
) -> None:
    # One pool thread, four running containers: each one-shot stats call waits about a
    # second for the engine's collector, so the last one spends ~3 s queued behind the
    # others. Its 2.5 s are counted from its start, not from the queue.
    for _ in range(4):
        containers.run(command="sleep 60", name="q")
    host = DockerHost(resolve("remote", remote.url), timeout=2.5, workers=1)
    monitor = DockerMonitor(host, name_patterns=[containers.prefix + "*"])
    try:
        for _ in range(2):
            started = time.monotonic()
            snap = await monitor.refresh()
            assert monitor.stats_failed == 0, f"after {time.monotonic() - started:.1f} s"
        assert len(snap.containers) == 4
        assert all(c.stats is not None and c.stats.cpu_percent is not None for c in snap.containers)
    finally:
        monitor.close()
        host.close()
    no_clients_left(remote.port)


@pytest.mark.timeout(30)
async def test_a_queued_call_still_gives_up_when_the_pool_stays_busy(
    containers: Containers,
) -> None:
    # The queue is bounded too: behind a call that holds the only thread (waiting for a
    # container to exit), a call gives up after one round of the timeout.
    sleeper = containers.run(command="sleep 30", name="hold")
    host = DockerHost(resolve("local", LOCAL), timeout=1.0, workers=1)
    holder = asyncio.ensure_future(host.call(lambda c: c.api.wait(sleeper.id), timeout=60))
    try:
        await asyncio.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(SourceTimeout, match="no free connection within 1 s") as err:
            await host.call(lambda c: c.api.ping(), timeout=0.5)
        assert 0.9 < time.monotonic() - started < 2.5
        one_line(err.value)
    finally:
        holder.cancel()
        host.close()


@pytest.mark.timeout(60)
def test_ssh_events_and_logs_stream_and_stop_at_once(remote: Sshd, containers: Containers) -> None:
    host = DockerHost(resolve("remote", remote.url), timeout=5)
    seen: list[DockerEvent] = []
    watcher = EventWatcher(host, seen.append)
    watcher.start()
    followers: list[LogFollower] = []
    try:
        wait_until(lambda: watcher.connected, what="the event stream over ssh")
        talker = containers.run(
            command=[
                "sh",
                "-c",
                "echo out-1; sleep 0.2; echo err-1 >&2; sleep 0.2; echo out-2; exit 3",
            ],
            name="talk",
        )
        wait_until(
            lambda: any(e.container_id == talker.id and e.action == "die" for e in seen),
            what="the die event over ssh",
        )
        die = next(e for e in seen if e.container_id == talker.id and e.action == "die")
        assert die.exit_code == 3 and die.name == talker.name

        # The whole log of the exited container, stdout and stderr told apart.
        log = LogFollower(lambda: host.new_client(timeout=None), talker.id, follow=False)
        followers.append(log)
        log.start()
        assert log.join(10)
        batch = log.drain()
        assert batch.error is None and batch.ended
        assert [(line.stream, line.text) for line in batch.lines] == [
            ("stdout", "out-1"),
            ("stderr", "err-1"),
            ("stdout", "out-2"),
        ]

        # A followed log of a quiet container blocks in its read: stop() ends it at once.
        quiet = containers.run(command=["sh", "-c", "echo hello; sleep 60"], name="quiet")
        follow = LogFollower(lambda: host.new_client(timeout=None), quiet.id)
        followers.append(follow)
        follow.start()
        wait_until(lambda: follow.lines_read >= 1, what="the followed line")
        started = time.monotonic()
        follow.stop()
        assert follow.join(2.0) and time.monotonic() - started < 2.0
        assert follow.drain().error is None
    finally:
        started = time.monotonic()
        watcher.close()
        assert watcher.join(2.0), "the event watcher did not stop"
        assert time.monotonic() - started < 2.0
        for follower in followers:
            follower.stop()
        host.close()
    no_clients_left(remote.port)


@pytest.mark.timeout(60)
async def test_ssh_a_burst_of_calls_is_never_dropped_by_the_server(remote: Sshd) -> None:
    # A first refresh of many containers asks for many connections at once, and sshd drops
    # new connections at random past 10 unauthenticated ones (MaxStartups): handshakes
    # are let through a few at a time, and the connections are kept for the next burst.
    host = DockerHost(resolve("remote", remote.url), timeout=5, workers=16)
    try:
        assert await host.call(lambda c: c.api.ping(), timeout=5) is True  # the client
        before = remote.logins()
        for _ in range(3):
            results = await asyncio.gather(
                *(host.call(lambda c: c.api.ping(), timeout=5) for _ in range(16)),
                return_exceptions=True,
            )
            assert results == [True] * 16, results
        # 48 calls, at most 16 at a time: never more logins than connections kept
        assert remote.logins() - before <= host.workers + 2
        assert len(remote.clients()) <= host.workers + 2
    finally:
        host.close()
    no_clients_left(remote.port)


@pytest.mark.timeout(60)
def test_a_console_that_exits_leaves_no_ssh_behind(remote: Sshd) -> None:
    # Quitting does not close every host first (a hung one must not hold the exit): the
    # pooled ssh processes see their input end with the process and end too.
    script = f"""
import asyncio
from adapters.docker.client import DockerHost
from adapters.docker.discovery import resolve

async def main():
    host = DockerHost(resolve("remote", {remote.url!r}), timeout=5)
    calls = [host.call(lambda c: c.api.ping(), timeout=5) for _ in range(4)]
    print(sum(await asyncio.gather(*calls)), flush=True)

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.strip() == "4", done.stderr
    no_clients_left(remote.port)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.timeout(90)
async def test_ssh_connections_made_and_dropped_leave_no_descriptors(remote: Sshd) -> None:
    # A flapping host makes and drops connections over and over: each one's pipes must
    # be freed when it is dropped, not whenever the cycle collector happens to run.
    import gc

    before = open_fds()
    gc.disable()
    try:
        for _ in range(6):
            host = DockerHost(resolve("remote", remote.url), timeout=5, workers=4)
            results = await asyncio.gather(
                *(host.call(lambda c: c.api.ping(), timeout=5) for _ in range(4))
            )
            assert results == [True] * 4
            host.close()
        no_clients_left(remote.port)
        deadline = time.monotonic() + 10
        while open_fds() > before + 2:  # the reapers end within a moment of their ssh
            assert time.monotonic() < deadline, f"{open_fds() - before} descriptors left open"
            await asyncio.sleep(0.1)
    finally:
        gc.enable()


def slow_ssh(remote: Sshd, work: Path, delay: float) -> Path:
    """A directory holding an `ssh` that waits `delay` s (a slow link's handshake) as a
    shell named `slow-ssh-handshake`, then runs the test's real ssh."""
    bin_dir = work / "slow-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(
        f'#!/bin/sh\n# slow-ssh-handshake\nsleep {delay}\nexec {remote.bin}/ssh "$@"\n'
    )
    wrapper.chmod(0o755)
    return bin_dir


def handshakes_now(bin_dir: Path) -> int:
    """ssh processes still in their (slow) handshake: the wrapper shell, not yet ssh."""
    marker = str(bin_dir / "ssh").encode()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                count += len(argv) > 1 and argv[0].endswith(b"sh") and argv[1] == marker
    return count


@pytest.mark.timeout(90)
async def test_ssh_handshakes_in_flight_stay_under_the_servers_limit(
    remote: Sshd, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handshakes slower than the wait for a free slot (a link this slow fails every
    # call): the calls that get no slot fail clearly instead of starting ssh anyway, past
    # sshd's MaxStartups (10 by default), where it drops logins at random, the
    # operator's own included.
    bin_dir = slow_ssh(remote, workdir, delay=4.0)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    host = DockerHost(resolve("remote", remote.url), timeout=2, workers=16)
    peak = 0
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, handshakes_now(bin_dir))
            time.sleep(0.05)

    sampler = asyncio.get_running_loop().run_in_executor(None, sample)
    try:
        results = await asyncio.gather(
            *(host.call(lambda c: c.api.ping(), timeout=10) for _ in range(16)),
            return_exceptions=True,
        )
    finally:
        sampling = False
        await sampler
        host.close()
    assert 1 <= peak <= 6, f"{peak} ssh handshakes in flight at once"
    # Those that waited for a slot say why; the others ran out of their own time.
    assert all(isinstance(r, SourceError) for r in results), results
    assert any("ssh logins" in str(r) and "already in progress" in str(r) for r in results)
    no_clients_left(remote.port)
