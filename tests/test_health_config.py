"""The `health:` section: strict reading, located errors, secrets masked, the example."""

from __future__ import annotations

import re
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from console.config import ConfigError, load_config, render_config
from console.config_health import HealthCheckConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "console" / "config.example.yaml"


def load(tmp_path: Path, body: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    text = "targets:\n  t:\n    health:\n" + textwrap.indent(
        textwrap.dedent(body).strip("\n"), "      "
    )
    path.write_text(text + "\n", encoding="utf-8")
    return load_config(path, env=env or {}).targets["t"].health


def error(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, body, env)
    return str(info.value)


def test_http_and_tcp_checks_with_defaults(tmp_path: Path) -> None:
    api, db = load(
        tmp_path,
        """
        - name: api
          url: https://api.internal/healthz
          headers: {Authorization: "Bearer ${TOKEN}"}
          expect_status: 204
          expect_json: {status: healthy, services.database: connected, build: "2", n: 2}
          verify: false
        - name: db
          host: db.internal
          port: 5432
        """,
        env={"TOKEN": "s3cret"},
    )
    assert api.kind == "http" and api.method == "GET" and api.insecure
    assert api.headers == (("Authorization", "Bearer s3cret"),)
    assert api.expect_status == (204,)
    assert api.expect_json == (
        ("status", "healthy"),
        ("services.database", "connected"),
        ("build", "2"),
        ("n", 2),
    )
    assert (api.timeout, api.interval, api.latency_warn_ms, api.critical_after) == (5, 10, 2000, 3)
    assert (api.cert_warn_days, api.cert_critical_days) == (30, 7)
    assert db.kind == "tcp" and (db.host, db.port) == ("db.internal", 5432)
    assert not db.insecure


def test_header_values_never_printed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "targets:\n  t:\n    health:\n      - name: api\n        url: http://x/\n"
        '        headers: {X-Token: "${TOKEN}"}\n'
    )
    config = load_config(path, env={"TOKEN": "hunter2"})
    rendered = render_config(config)
    assert "hunter2" not in rendered and "X-Token: '********'" in rendered
    # what is printed reads back (apart from the masked secret)
    again = yaml.safe_load(rendered)["targets"]["t"]["health"][0]
    assert again["url"] == "http://x/" and again["version_path"] == "version"


def test_config_check_shows_a_tcp_check_only_its_own_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "targets:\n  t:\n    health:\n"
        "      - {name: db, host: db.internal, port: 5432}\n"
        "      - {name: api, url: https://api.internal/healthz}\n"
    )
    rendered = render_config(load_config(path, env={}))
    db, api = yaml.safe_load(rendered)["targets"]["t"]["health"]
    assert db == {
        "name": "db",
        "host": "db.internal",
        "port": 5432,
        "timeout": 5.0,
        "interval": 10.0,
        "latency_warn_ms": 2000.0,
        "critical_after": 3,
    }
    for http in ("method", "verify", "expect_status", "version_path", "follow_redirects"):
        assert http in api, http
    # What `config check` prints is itself a config that loads (the HTTP-only settings
    # on a TCP check are an error there).
    again = tmp_path / "again.yaml"
    again.write_text(rendered)
    assert (
        load_config(again, env={}).targets["t"].health
        == load_config(path, env={}).targets["t"].health
    )


def test_errors_name_line_and_key_path(tmp_path: Path) -> None:
    message = error(
        tmp_path,
        """
        - name: api
          url: ftp://x/
          timout: 3
        - name: api
          url: http://y/
        - name: tcp
          host: db
          expect_status: 200
        - name: half
          host: db
        - url: http://z/
        - name: bad ca
          url: https://z/
          ca_bundle: nope.pem
          verify: false
        - name: certs
          url: https://z/
          cert_warn_days: 5
          cert_critical_days: 10
        - name: iv
          url: http://z/
          interval: 0.2
          headers: {"Bad Header": x}
          method: TRACE
        """,
    )
    lines = message.splitlines()
    expected = [
        r":5: targets\.t\.health\[0\]\.url: expected an http:// or https:// URL",
        r":6: targets\.t\.health\[0\]\.timout: unknown key \(did you mean 'timeout'\?\)",
        r":7: targets\.t\.health\[1\]\.name: duplicate check name 'api' \(first used on line 4\)",
        r":11: targets\.t\.health\[2\]\.expect_status: only for HTTP checks",
        r"targets\.t\.health\[3\]\.port: a TCP check needs both `host` and `port`",
        r"targets\.t\.health\[4\]\.name: every check needs a name",
        r"targets\.t\.health\[5\]\.name: bad check name",
        r"targets\.t\.health\[5\]\.ca_bundle: a CA bundle with `verify: false` is never used",
        r"targets\.t\.health\[5\]\.ca_bundle: no such file: .*nope\.pem",
        r"targets\.t\.health\[6\]\.cert_critical_days: must not be more than cert_warn_days",
        r"targets\.t\.health\[7\]\.interval: must be at least 1 s",
        r"targets\.t\.health\[7\]\.headers\.Bad Header: not a valid HTTP header name",
        r"targets\.t\.health\[7\]\.method: unknown value 'TRACE'",
    ]
    for pattern in expected:
        assert any(re.search(pattern, line) for line in lines), (pattern, message)
    assert all(line.startswith(str(tmp_path)) for line in lines), message


def test_secrets_stay_out_of_error_messages(tmp_path: Path) -> None:
    message = error(
        tmp_path,
        """
        - name: api
          url: https://user:pw@x/
          headers: {Authorization: "a\\r\\nInjected: ${TOKEN}"}
        """,
        env={"TOKEN": "hunter2"},
    )
    assert "hunter2" not in message and "pw" not in message.replace("password", "")
    assert "no password in the URL" in message
    assert "cannot hold line breaks" in message


def test_ca_bundle_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (check,) = load(tmp_path, "- {name: a, url: 'https://x/', ca_bundle: ca.pem}")
    assert check.ca_bundle == tmp_path / "ca.pem"


def test_example_config_mentions_every_health_setting() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    section = text.split("# --- health", 1)[1].split("# --- end health ---", 1)[0]
    for f in fields(HealthCheckConfig):
        assert re.search(rf"^\s*(- )?{f.name}:", section, re.MULTILINE), f.name


def test_example_health_section_loads(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, env={"HOME": str(tmp_path)})
    api, port = config.targets["local"].health
    assert api.name == "api" and api.headers == (("Authorization", "Bearer none"),)
    assert port.kind == "tcp" and port.port == 5432
