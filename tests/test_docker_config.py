"""The `docker:` section of a target: read strictly, errors naming file, line and path."""

from __future__ import annotations

import textwrap
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from adapters.docker.discovery import resolve
from console.config import ConfigError, load_config, render_config
from console.config_docker import DockerConfig, DockerHostConfig
from console.config_yaml import redact_dsn

EXAMPLE = Path(__file__).resolve().parent.parent / "console" / "config.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def docker_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> DockerConfig:
    config = load_config(write(tmp_path, text), env=env or {})
    docker = config.target("t").docker
    assert docker is not None
    return docker


def error_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return list(info.value.problems)


def test_full_section(tmp_path: Path) -> None:
    docker = docker_of(
        tmp_path,
        """
        targets:
          t:
            docker:
              hosts:
                - name: web1
                  url: tcp://10.0.0.5:2376
                  tls_ca: certs/ca.pem
                  tls_cert: /etc/docker/cert.pem
                  tls_key: /etc/docker/key.pem
                - name: db1
                  url: ssh://ops@db1.internal
                - name: here
                  url: unix:///run/user/1000/docker.sock
                  tls_verify: false
              timeout: 3
              name_patterns: ["web-*", "worker-?"]
              compose_projects: [shop]
              refresh: 4
              stats_workers: 32
              log_buffer_lines: 5000
              rollback_wait: 10
              rollback_images: {web-1: "registry/web:1.4.2"}
        """,
    )
    web1, db1, here = docker.hosts
    assert web1 == DockerHostConfig(
        name="web1",
        url="tcp://10.0.0.5:2376",
        tls_ca=tmp_path / "certs" / "ca.pem",
        tls_cert=Path("/etc/docker/cert.pem"),
        tls_key=Path("/etc/docker/key.pem"),
    )
    assert db1.url == "ssh://ops@db1.internal" and not db1.tls
    assert here.tls_verify is False
    assert docker.timeout == 3 and docker.refresh == 4
    assert docker.name_patterns == ("web-*", "worker-?")
    assert docker.compose_projects == ("shop",)
    assert docker.stats_workers == 32 and docker.log_buffer_lines == 5000
    assert docker.rollback_wait == 10
    assert docker.rollback_images == {"web-1": "registry/web:1.4.2"}


def test_defaults_and_empty_section(tmp_path: Path) -> None:
    docker = docker_of(tmp_path, "targets:\n  t:\n    docker:\n")
    assert docker == DockerConfig()
    assert docker.hosts == (DockerHostConfig(name="local", url=None),)
    assert docker.timeout == 5 and docker.stats_workers == 16
    assert docker.log_buffer_lines == 10_000 and docker.rollback_wait == 30
    config = load_config(write(tmp_path, "targets:\n  t: {}\n"), env={})
    assert config.target("t").docker is None
    # the built-in `local` target watches the local engine
    assert load_config(None, env={}).target("local").docker == DockerConfig()


def test_refresh_falls_back_to_global_and_cli(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "refresh: 7\ntargets:\n  t: {docker: {}}\n  u: {docker: {refresh: 3}}\n"),
        env={},
    )
    assert config.docker_refresh(config.target("t")) == 7
    assert config.docker_refresh(config.target("u")) == 3
    over = config.with_overrides(refresh=1)
    assert over.docker_refresh(over.target("u")) == 1


def test_interpolated_url(tmp_path: Path) -> None:
    docker = docker_of(
        tmp_path,
        "targets:\n  t:\n    docker: {hosts: [{url: '${DH:-unix:///x.sock}'}]}\n",
        env={"DH": "tcp://h:2375"},
    )
    assert docker.hosts[0].url == "tcp://h:2375"


@pytest.mark.parametrize(
    ("body", "line", "path", "message"),
    [
        ("docker: {hosts: [{urll: x}]}", 3, "targets.t.docker.hosts[0].urll", "did you mean 'url'"),
        ("docker: {timout: 3}", 3, "targets.t.docker.timout", "did you mean 'timeout'"),
        ("docker: {timeout: soon}", 3, "targets.t.docker.timeout", "expected a number"),
        ("docker: {timeout: 0}", 3, "targets.t.docker.timeout", "greater than 0"),
        ("docker: {stats_workers: 0}", 3, "targets.t.docker.stats_workers", "between 1 and 256"),
        ("docker: {stats_workers: 2.5}", 3, "targets.t.docker.stats_workers", "an integer"),
        ("docker: {name_patterns: web-*}", 3, "targets.t.docker.name_patterns", "a list"),
        ("docker: {name_patterns: [[a]]}", 3, "targets.t.docker.name_patterns[0]", "a string"),
        ("docker: {compose_projects: {a: 1}}", 3, "targets.t.docker.compose_projects", "list"),
        ("docker: {rollback_images: [a]}", 3, "targets.t.docker.rollback_images", "a mapping"),
        ("docker: {rollback_images: {w: }}", 3, "targets.t.docker.rollback_images.w", "nothing"),
        ("docker: {hosts: {url: x}}", 3, "targets.t.docker.hosts", "a list of engines"),
        ("docker: {hosts: [unix:///x]}", 3, "targets.t.docker.hosts[0]", "single value"),
        ("docker: {hosts: [{url: http://h}]}", 3, "hosts[0].url", "unknown scheme 'http'"),
        ("docker: {hosts: [{url: /var/run/d.sock}]}", 3, "hosts[0].url", "starting with unix://"),
        ("docker: {hosts: [{url: 'unix://'}]}", 3, "hosts[0].url", "needs the socket path"),
        ("docker: {hosts: [{url: 'tcp://h:99999'}]}", 3, "hosts[0].url", "malformed URL"),
        ("docker: {hosts: [{url: 'tcp://:2375'}]}", 3, "hosts[0].url", "no host name"),
        ("docker: {hosts: [{tls_verify: maybe}]}", 3, "hosts[0].tls_verify", "true or false"),
        ("docker: {hosts: [{name: 'a b'}]}", 3, "hosts[0].name", "bad host name"),
        (
            "docker: {hosts: [{url: 'unix:///x', tls_ca: c.pem}]}",
            3,
            "hosts[0].tls_ca",
            "only used with a tcp:// url",
        ),
        (
            "docker: {hosts: [{url: 'tcp://h:2376', tls_cert: c.pem}]}",
            3,
            "hosts[0].tls_cert",
            "must be given together",
        ),
    ],
)
def test_bad_values_name_line_and_path(
    tmp_path: Path, body: str, line: int, path: str, message: str
) -> None:
    problems = error_of(tmp_path, f"targets:\n  t:\n    {body}\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'config.yaml'}:{line}: "), problems
    assert path in problems[0] and message in problems[0], problems


def test_duplicate_and_missing_host_names(tmp_path: Path) -> None:
    problems = error_of(
        tmp_path,
        """
        targets:
          t:
            docker:
              hosts:
                - name: a
                  url: unix:///a.sock
                - name: a
                  url: unix:///b.sock
                - url: unix:///c.sock
        """,
    )
    assert len(problems) == 2, problems
    assert problems[0].endswith(
        ":7: targets.t.docker.hosts[1].name: duplicate host name 'a' (first used on line 5)"
    )
    assert ":9: targets.t.docker.hosts[2].name: required when a target lists more" in problems[1]


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    problems = error_of(
        tmp_path,
        "targets:\n  t:\n    docker:\n      timeout: x\n      refresh: -1\n      bogus: 1\n",
    )
    assert [p.split(": ")[1] for p in problems] == [
        "targets.t.docker.timeout",
        "targets.t.docker.refresh",
        "targets.t.docker.bogus",
    ]


def test_password_in_url_never_shown(tmp_path: Path) -> None:
    url = "tcp://ops:s3cret@h:2376"
    assert redact_dsn(url) == "tcp://ops:********@h:2376"
    config = load_config(
        write(tmp_path, f"targets:\n  t:\n    docker: {{hosts: [{{url: '{url}'}}]}}\n"), env={}
    )
    rendered = render_config(config)
    assert "s3cret" not in rendered
    assert yaml.safe_load(rendered)["targets"]["t"]["docker"]["hosts"][0]["url"] == (
        "tcp://ops:********@h:2376"
    )
    problems = error_of(tmp_path, "targets:\n  t:\n    docker: {hosts: [{url: 'tpc://a:pw@h'}]}\n")
    assert "pw" not in problems[0].replace("tpc", "")
    described = resolve("x", url).describe()
    assert "s3cret" not in described and described == "x: tcp://ops@h:2376"


def test_discovery_order() -> None:
    assert resolve("l", None, env={}).url == "unix:///var/run/docker.sock"
    from_env = resolve("l", None, env={"DOCKER_HOST": "tcp://e:2376", "DOCKER_TLS_VERIFY": "1"})
    assert from_env.origin == "DOCKER_HOST" and from_env.tls
    assert from_env.describe() == "l: tcp://e:2376 (TLS) (from DOCKER_HOST)"
    assert from_env.tls_ca is not None and from_env.tls_ca.endswith(".docker/ca.pem")
    configured = resolve("l", "ssh://ops@h", env={"DOCKER_HOST": "tcp://e:2376"})
    assert configured.url == "ssh://ops@h" and configured.describe() == "l: ssh://ops@h"


def test_example_config_mentions_every_docker_setting() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    names = {f.name for cls in (DockerConfig, DockerHostConfig) for f in fields(cls)}
    missing = [name for name in sorted(names) if f"{name}:" not in text]
    assert missing == []
    docker = load_config(EXAMPLE, env={}).target("local").docker
    assert docker is not None and docker.hosts[0].url == "unix:///var/run/docker.sock"
