"""Config: locations, strict parsing with located errors, interpolation, redaction."""

from __future__ import annotations

import textwrap
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from console import paths
from console.bindings import BINDING_IDS
from console.config import (
    Config,
    ConfigError,
    PostgresConfig,
    RedisConfig,
    TargetConfig,
    find_config_path,
    load_config,
    redact_dsn,
    redacted_dict,
    render_config,
)
from console.config_yaml import Invalid, interpolate

EXAMPLE = Path(__file__).resolve().parent.parent / "console" / "config.example.yaml"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return str(info.value)


# --- paths ---------------------------------------------------------------------------


def test_xdg_dirs_follow_the_environment_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.config_dir() == tmp_path / "cfg" / "ops-console"
    assert paths.default_config_path() == tmp_path / "cfg" / "ops-console" / "config.yaml"
    assert paths.state_dir() == tmp_path / "state" / "ops-console"
    assert paths.default_audit_path() == tmp_path / "state" / "ops-console" / "audit.jsonl"
    assert paths.default_log_path() == tmp_path / "state" / "ops-console" / "ops-console.log"


def test_xdg_defaults_and_relative_values_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # invalid per the XDG spec
    assert paths.config_dir() == tmp_path / ".config" / "ops-console"
    assert paths.state_dir() == tmp_path / ".local" / "state" / "ops-console"


# --- locating the file ---------------------------------------------------------------


def test_find_config_path_precedence_cli_then_env_then_xdg(tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "ops-console").mkdir(parents=True)
    xdg_file = write(xdg / "ops-console", "theme: a\n")
    env_file = write(tmp_path, "theme: b\n", "env.yaml")
    cli_file = write(tmp_path, "theme: c\n", "cli.yaml")
    env = {"XDG_CONFIG_HOME": str(xdg), "OPS_CONSOLE_CONFIG": str(env_file)}

    assert find_config_path(str(cli_file), env=env) == cli_file
    assert find_config_path(None, env=env) == env_file
    del env["OPS_CONSOLE_CONFIG"]
    assert find_config_path(None, env=env) == xdg_file
    xdg_file.unlink()
    assert find_config_path(None, env=env) is None


def test_explicit_paths_that_do_not_exist_are_errors(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found \(from --config\)"):
        find_config_path(str(missing), env={})
    env = {"OPS_CONSOLE_CONFIG": str(missing)}
    with pytest.raises(ConfigError, match=r"not found \(from \$OPS_CONSOLE_CONFIG\)"):
        find_config_path(None, env=env)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(missing)


def test_cli_path_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path, "theme: x\n")
    assert find_config_path("~/config.yaml", env={}) == path


# --- defaults ------------------------------------------------------------------------


def test_no_file_gives_one_local_target_discovering_postgres():
    config = load_config(None)
    assert list(config.targets) == ["local"]
    assert config.targets["local"].postgres == PostgresConfig()
    assert config.targets["local"].postgres.host is None
    assert config.source_path is None
    assert (config.refresh, config.arm_minutes, config.theme) == (2.0, 15.0, "ops-dark")
    assert config.audit_log == paths.default_audit_path()
    assert config.log_file == paths.default_log_path()
    assert config.target().name == "local"


def test_no_file_gives_the_local_target_one_discovered_redis_instance():
    (instance,) = load_config(None).targets["local"].redis
    assert instance == RedisConfig(name="local")
    # every connection setting left to the adapter: $REDIS_URL, else 127.0.0.1:6379
    assert (instance.url, instance.username, instance.password) == (None, None, None)
    assert (instance.db, instance.tls_ca, instance.refresh) == (None, None, None)
    assert (instance.connect_timeout, instance.call_timeout) == (3.0, 2.0)
    assert instance.allow_flushall is False


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_gives_defaults(tmp_path, text):
    path = write(tmp_path, text)
    config = load_config(path, env={})
    assert config == Config(source_path=path)


# --- a full valid file ---------------------------------------------------------------


def test_valid_file_is_typed(tmp_path):
    path = write(
        tmp_path,
        """
        read_only: true
        refresh: 1
        arm_minutes: 5
        theme: ops-light
        audit_log: ~/audit.jsonl
        log_file: logs/console.log
        default_target: prod
        keymap:
          app.refresh: "ctrl+r , f5"
        targets:
          local:
            postgres: {}
          prod:
            production: yes
            arm_minutes: 2.5
            postgres:
              host: db.internal
              port: 6432
              user: ops
              database: app
              sslmode: verify-full
              service: main
              connect_timeout: 2
              statement_timeout: 1.5
              refresh: 10
        """,
    )
    config = load_config(path, env={})
    assert config.read_only is True
    assert config.refresh == 1.0 and isinstance(config.refresh, float)
    assert config.audit_log == Path("~/audit.jsonl").expanduser()
    assert config.log_file == tmp_path / "logs" / "console.log"  # relative to the file
    assert config.keymap == {"app.refresh": "ctrl+r,f5"}
    assert list(config.targets) == ["local", "prod"]
    prod = config.target()
    assert prod == TargetConfig(
        name="prod",
        production=True,
        arm_minutes=2.5,
        postgres=PostgresConfig(
            host="db.internal",
            port=6432,
            user="ops",
            database="app",
            sslmode="verify-full",
            service="main",
            connect_timeout=2.0,
            statement_timeout=1.5,
            refresh=10.0,
        ),
    )
    assert config.postgres_refresh(prod) == 10.0
    assert config.postgres_refresh(config.target("local")) == 1.0
    assert config.arm_minutes_for(prod) == 2.5
    assert config.arm_minutes_for(config.target("local")) == 5.0
    assert config.is_read_only(config.target("local"))


def test_null_sections_are_empty_and_missing_postgres_is_none(tmp_path):
    path = write(
        tmp_path,
        """
        keymap:
        targets:
          local:
            postgres:
          redis_only:
        """,
    )
    config = load_config(path, env={})
    assert config.keymap == {}
    assert config.targets["local"].postgres == PostgresConfig()
    assert config.targets["redis_only"].postgres is None


# --- interpolation -------------------------------------------------------------------


def test_interpolation_set_default_embedded_and_escape(tmp_path):
    path = write(
        tmp_path,
        """
        theme: ${THEME}
        targets:
          prod:
            postgres:
              dsn: "postgresql://app:${PGPASS}@db/app"
              host: ${PGHOST:-db.internal}
              user: ${PGUSER:-ops}
              password: pa$$word$x
              port: ${PGPORT:-5432}
              connect_timeout: "${TIMEOUT:-2.5}"
        """,
    )
    config = load_config(path, env={"THEME": "night", "PGPASS": "s3cret", "PGUSER": ""})
    pg = config.target("prod").postgres
    assert config.theme == "night"
    assert pg.dsn == "postgresql://app:s3cret@db/app"
    assert pg.host == "db.internal"
    assert pg.user == "ops"  # `:-` also covers set-but-empty, as in the shell
    assert pg.password == "pa$word$x"  # `$$` is one `$`; a lone `$` stays as it is
    assert pg.port == 5432 and isinstance(pg.port, int)  # interpolated, then converted
    assert pg.connect_timeout == 2.5

    config = load_config(path, env={"THEME": "t", "PGPASS": "p", "PGPORT": "6000"})
    assert config.target("prod").postgres.port == 6000


def test_substituted_values_are_not_interpolated_again():
    assert interpolate("${A}", {"A": "${B}$$"}) == "${B}$$"


def test_unset_variable_is_an_error_naming_line_key_and_variable(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          prod:
            postgres:
              dsn: postgresql://app:${PROD_PGPASS}@db/app
        """,
    )
    message = error_of(path)
    assert message == (
        f"{path}:4: targets.prod.postgres.dsn: environment variable PROD_PGPASS is not set "
        "(write ${PROD_PGPASS:-default} to give a default)"
    )


def test_malformed_interpolation_is_an_error(tmp_path):
    path = write(tmp_path, "theme: ${NOT CLOSED\nlog_file: ${1BAD}\n")
    message = error_of(path)
    assert f"{path}:1: theme: unterminated '${{'" in message
    assert f"{path}:2: log_file: bad interpolation '${{1BAD}}'" in message


def test_interpolate_raises_invalid_for_unset():
    with pytest.raises(Invalid, match="X is not set"):
        interpolate("a${X}b", {})


def test_interpolated_wrong_type_shows_the_raw_text(tmp_path):
    path = write(tmp_path, "targets:\n  a:\n    postgres:\n      port: ${PGPORT}\n")
    message = error_of(path, {"PGPORT": "fivefour"})
    assert message == (
        f"{path}:4: targets.a.postgres.port: expected an integer, got 'fivefour' "
        "(from '${PGPORT}')"
    )


# --- strictness ----------------------------------------------------------------------


def test_unknown_key_suggests_and_names_the_line(tmp_path):
    path = write(
        tmp_path,
        """
        theme: x
        refesh: 3
        targets:
          a:
            postgres:
              prot: 5432
        """,
    )
    message = error_of(path)
    assert f"{path}:2: refesh: unknown key (did you mean 'refresh'?)" in message
    assert f"{path}:6: targets.a.postgres.prot: unknown key (did you mean 'port'?)" in message


def test_unknown_key_without_close_match_lists_the_valid_ones(tmp_path):
    path = write(tmp_path, "targets:\n  a:\n    zzz: 1\n")
    assert error_of(path) == (
        f"{path}:3: targets.a.zzz: unknown key "
        "(expected one of: arm_minutes, docker, health, postgres, production, read_only, "
        "redis, runbook)"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("refresh: abc", "refresh: expected a number, got 'abc'"),
        ("refresh: 0", "refresh: must be greater than 0, got 0"),
        ("refresh: 3601", "refresh: must be at most 3600, got 3601"),
        ("refresh: .nan", "refresh: expected a number, got '.nan'"),
        ("refresh: true", "refresh: expected a number, got 'true'"),
        ("refresh:", "refresh: expected a number of seconds, got nothing"),
        ("arm_minutes: -1", "arm_minutes: must be greater than 0, got -1"),
        ("read_only: maybe", "read_only: expected true or false, got 'maybe'"),
        ("read_only: [1]", "read_only: expected true or false, got a list"),
        ("theme: {a: 1}", "theme: expected a string, got a mapping"),
        ("theme: ''", "theme: expected a non-empty string, got nothing"),
        ("keymap: [a]", "keymap: expected a mapping of binding ids to keys, got a list"),
        ("targets: 3", "targets: expected a mapping of target names to settings, got '3'"),
    ],
)
def test_wrong_types_say_what_was_expected(tmp_path, line, expected):
    path = write(tmp_path, line + "\n")
    assert error_of(path) == f"{path}:1: {expected}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("port: abc", "port: expected an integer, got 'abc'"),
        ("port: 5432.5", "port: expected an integer, got '5432.5'"),
        ("port: 70000", "port: must be between 1 and 65535, got 70000"),
        ("port: 0", "port: must be between 1 and 65535, got 0"),
        ("sslmode: requre", "sslmode: unknown value 'requre' (did you mean 'require'?)"),
        ("connect_timeout: 0", "connect_timeout: must be greater than 0, got 0"),
        ("statement_timeout: x", "statement_timeout: expected a number, got 'x'"),
        ("refresh: 4000", "refresh: must be at most 3600, got 4000"),
        ("host: [a, b]", "host: expected a string, got a list"),
    ],
)
def test_postgres_wrong_types(tmp_path, line, expected):
    path = write(tmp_path, f"targets:\n  prod:\n    postgres:\n      {line}\n")
    assert error_of(path) == f"{path}:4: targets.prod.postgres.{expected}"


def test_quoted_numbers_and_plain_text_fields(tmp_path):
    path = write(
        tmp_path,
        'targets:\n  a:\n    postgres:\n      port: "5432"\n      database: 123\n      user: yes\n',
    )
    pg = load_config(path, env={}).target("a").postgres
    assert pg.port == 5432
    assert (pg.database, pg.user) == ("123", "yes")  # text fields keep the text as written


def test_malformed_yaml_gives_line_and_column_without_traceback(tmp_path):
    path = write(tmp_path, "theme: x\ntargets:\n  a: [1,\n  b: 2\n")
    message = error_of(path)
    assert message.startswith(f"{path}:")
    assert "invalid YAML" in message
    assert "Traceback" not in message and "\n" not in message
    bad = write(tmp_path, "theme: x\n  refresh: 2\n", "bad.yaml")
    assert error_of(bad) == (f"{bad}:2:10: invalid YAML: mapping values are not allowed here")


def test_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"theme: \xff\n")
    assert "not UTF-8 text" in error_of(path)


def test_duplicate_keys_are_errors(tmp_path):
    path = write(
        tmp_path,
        """
        theme: a
        theme: b
        targets:
          a:
            postgres:
              port: 1
              port: 2
        """,
    )
    message = error_of(path)
    assert f"{path}:2: theme: duplicate key (first set on line 1)" in message
    assert f"{path}:7: targets.a.postgres.port: duplicate key (first set on line 6)" in message


@pytest.mark.parametrize(("text", "got"), [("- a\n", "a list"), ("just text\n", "'just text'")])
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}:1: the top level must be a mapping of settings, got {got}"


def test_all_problems_are_reported_in_file_order(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          a:
            postgres:
              port: x
        refresh: y
        themee: z
        """,
    )
    lines = error_of(path).splitlines()
    assert [line.split(":")[1] for line in lines] == ["4", "5", "6"]


# --- keymap --------------------------------------------------------------------------


def test_keymap_unknown_id_suggests(tmp_path):
    path = write(tmp_path, "keymap:\n  pg.cancl: x\n")
    assert (
        error_of(path)
        == f"{path}:2: keymap.pg.cancl: unknown binding id (did you mean 'pg.cancel'?)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("''", "expected a key, got nothing"),
        ("'a,,b'", "expected comma-separated key names such as 'x' or 'ctrl+r,f5', got 'a,,b'"),
        ("'ctrl r'", "expected comma-separated key names"),
        ("{a: 1}", "expected a string, got a mapping"),
    ],
)
def test_keymap_keys_must_be_non_empty_names(tmp_path, value, expected):
    path = write(tmp_path, f"keymap:\n  app.refresh: {value}\n")
    assert error_of(path).startswith(f"{path}:2: keymap.app.refresh: {expected}")


def test_keymap_keeps_design_safety_rules(tmp_path):
    path = write(tmp_path, "keymap:\n  pg.terminate: ctrl+k\n  app.quit: q,ctrl+c\n")
    message = error_of(path)
    assert f"{path}:2: keymap.pg.terminate: destructive actions must stay on plain keys" in message
    assert f"{path}:3: keymap.app.quit: ctrl+c is reserved" in message


def test_keymap_accepts_every_known_id(tmp_path):
    body = "".join(
        f"  {binding_id}: f{i + 1}\n" for i, binding_id in enumerate(sorted(BINDING_IDS))
    )
    config = load_config(write(tmp_path, "keymap:\n" + body), env={})
    assert set(config.keymap) == BINDING_IDS


# --- targets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad name", "-dash", "_under", "a/b"])
def test_bad_target_name(tmp_path, name):
    path = write(tmp_path, f'targets:\n  "{name}": {{}}\n')
    assert error_of(path) == (
        f"{path}:2: targets.{name}: bad target name: use letters, digits, '_', '.', '-', "
        "starting with a letter or digit"
    )


def test_good_target_names(tmp_path):
    path = write(tmp_path, "targets:\n  eu-west.prod_1: {}\n  2nd: {}\n")
    assert list(load_config(path, env={}).targets) == ["eu-west.prod_1", "2nd"]


@pytest.mark.parametrize("value", ["{}", ""])
def test_empty_targets_is_an_error(tmp_path, value):
    path = write(tmp_path, f"targets: {value}\n")
    assert error_of(path) == (
        f"{path}:1: targets: no targets defined: define at least one, or remove "
        "'targets' to use the built-in 'local' target"
    )


def test_default_target_must_name_a_target(tmp_path):
    path = write(tmp_path, "default_target: prd\ntargets:\n  prod: {}\n  local: {}\n")
    assert (
        error_of(path) == f"{path}:1: default_target: no target named 'prd' (did you mean 'prod'?)"
    )


def test_target_selection(tmp_path):
    path = write(tmp_path, "default_target: b\ntargets:\n  a: {}\n  b: {}\n")
    config = load_config(path, env={})
    assert config.target().name == "b"
    assert config.target("a").name == "a"
    first = load_config(write(tmp_path, "targets:\n  a: {}\n  b: {}\n", "c2.yaml"), env={})
    assert first.target().name == "a"
    with pytest.raises(ConfigError) as info:
        config.target("bb")
    assert str(info.value) == "unknown target 'bb' (did you mean 'b'?); known targets: a, b"


# --- redaction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://app:s3cret@db/app", "postgresql://app:********@db/app"),
        ("postgres://app:p%40ss@h1,h2:5432/app", "postgres://app:********@h1,h2:5432/app"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        (
            "postgresql://db/app?user=a&password=s3cret&x=1",
            "postgresql://db/app?user=a&password=********&x=1",
        ),
        ("host=db password=s3cret dbname=app", "host=db password=******** dbname=app"),
        ("host=db password = 'se cr\\'et' dbname=app", "host=db password = ******** dbname=app"),
        ("host=db sslpassword=k3y", "host=db sslpassword=********"),
    ],
)
def test_redact_dsn(dsn, expected):
    assert redact_dsn(dsn) == expected


def test_render_config_never_shows_secrets(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          prod:
            postgres:
              dsn: postgresql://app:${DSN_SECRET}@db/app?sslpassword=${KEY_SECRET}
              password: ${PW_SECRET}
          kv:
            postgres:
              dsn: "host=db password=kwsecret"
        """,
    )
    env = {"DSN_SECRET": "dsnsecret", "KEY_SECRET": "keysecret", "PW_SECRET": "pwsecret"}
    config = load_config(path, env=env)
    assert config.target("prod").postgres.password == "pwsecret"  # the app still gets it
    rendered = render_config(config)
    for secret in [*env.values(), "kwsecret"]:
        assert secret not in rendered
        assert secret not in repr(config)
    data = yaml.safe_load(rendered)
    assert data["targets"]["prod"]["postgres"]["password"] == "********"
    assert data["targets"]["prod"]["postgres"]["dsn"] == (
        "postgresql://app:********@db/app?sslpassword=********"
    )
    assert data["targets"]["kv"]["postgres"]["dsn"] == "host=db password=********"
    assert redacted_dict(config) == data


def test_rendered_config_loads_back_to_the_same_config(tmp_path):
    path = write(
        tmp_path,
        """
        refresh: 3
        keymap: {app.refresh: f5}
        targets:
          local: {postgres: {}}
          prod: {production: true, postgres: {host: db, port: 5433}}
          kv:
            redis:
              - {name: a, url: "rediss://h:6380/1", tls_ca: ca.pem, refresh: 4}
              - {name: b, db: 3, allow_flushall: true, call_timeout: 0.5}
        """,
    )
    config = load_config(path, env={})
    again = write(tmp_path, render_config(config), "rendered.yaml")
    reloaded = load_config(again, env={})
    assert reloaded == Config(**{**_as_kwargs(config), "source_path": again})
    assert reloaded.target("kv").postgres is None  # not rendered as `postgres: null`


def test_rendered_defaults_load_back_with_the_local_redis_instance(tmp_path):
    config = load_config(None)
    again = write(tmp_path, render_config(config), "rendered.yaml")
    reloaded = load_config(again, env={})
    assert reloaded == Config(**{**_as_kwargs(config), "source_path": again})
    assert reloaded.target("local").redis == (RedisConfig(name="local"),)


def _as_kwargs(config: Config) -> dict[str, object]:
    return {f.name: getattr(config, f.name) for f in fields(config)}


# --- the example ---------------------------------------------------------------------


def test_example_config_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {
        "PROD_PG_DSN": "postgresql://ops:hunter2@db.prod:5432/app",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    config = load_config(EXAMPLE, env=env)
    assert list(config.targets) == ["local", "prod"]
    assert config.target().name == "local"
    assert config.targets["local"].postgres == PostgresConfig()
    prod = config.target("prod")
    assert prod.production is True
    assert prod.postgres.dsn == env["PROD_PG_DSN"]
    assert prod.postgres.password is None  # ${PROD_PGPASSWORD:-} unset -> not set
    assert config.audit_log == tmp_path / "state" / "ops-console" / "audit.jsonl"
    assert "hunter2" not in render_config(config)
    assert config.targets["local"].redis == (RedisConfig(name="local"),)
    cache, sessions = prod.redis
    assert (cache.name, sessions.name) == ("cache", "sessions")
    assert cache.url == "rediss://cache.prod.internal:6380/0"
    assert cache.password is None  # ${PROD_REDIS_PASSWORD:-} unset -> not set
    assert cache.tls_ca == EXAMPLE.parent / "certs" / "prod-ca.pem"
    assert config.redis_refresh(prod, cache) == 5.0
    assert config.redis_refresh(prod, sessions) == config.refresh
    assert sessions.db == 2 and not sessions.allow_flushall

    defaults = load_config(EXAMPLE, env={})  # every variable in it has a default
    assert defaults.target("prod").postgres.dsn == "postgresql://ops@db.prod.internal:5432/app"
    assert defaults.audit_log == tmp_path / ".local" / "state" / "ops-console" / "audit.jsonl"


def test_example_config_mentions_every_setting():
    text = EXAMPLE.read_text(encoding="utf-8")
    classes = (Config, TargetConfig, PostgresConfig, RedisConfig)
    names = {f.name for cls in classes for f in fields(cls)}
    names -= {"name", "source_path", "targets"}
    missing = [name for name in sorted(names) if f"{name}:" not in text]
    assert missing == []


# --- command-line overrides ----------------------------------------------------------


def test_with_overrides_cli_beats_file(tmp_path):
    path = write(
        tmp_path,
        """
        refresh: 5
        targets:
          a: {read_only: true, postgres: {refresh: 30}, redis: [{name: c, refresh: 20}, {name: d}]}
          b: {postgres: {}}
        """,
    )
    config = load_config(path, env={})
    same = config.with_overrides(read_only=None, refresh=None)
    assert same == config

    over = config.with_overrides(read_only=True, refresh=1)
    assert over.read_only is True and over.refresh == 1.0
    assert over.target("a").postgres.refresh is None  # --refresh applies to every source
    assert over.postgres_refresh(over.target("a")) == 1.0
    assert config.target("a").postgres.refresh == 30.0  # the original is untouched
    assert [i.refresh for i in over.target("a").redis] == [None, None]
    assert over.redis_refresh(over.target("a"), "c") == 1.0
    assert config.redis_refresh(config.target("a"), "c") == 20.0
    assert over.target("b") == config.target("b")  # nothing to clear: the same target

    # --read-only false cannot lift a target marked read-only in the file
    relaxed = config.with_overrides(read_only=False, refresh=None)
    assert relaxed.is_read_only(relaxed.target("a"))
    assert not relaxed.is_read_only(relaxed.target("b"))


@pytest.mark.parametrize("refresh", [0, -1, 3601, float("nan")])
def test_with_overrides_validates_refresh(refresh):
    with pytest.raises(ConfigError, match="--refresh: must be greater than 0 and at most 3600"):
        Config().with_overrides(read_only=None, refresh=refresh)


# --- redis ---------------------------------------------------------------------------


def test_redis_full_list_is_typed_and_ordered(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(
        tmp_path,
        """
        refresh: 4
        targets:
          prod:
            redis:
              - name: cache
                url: rediss://cache.internal:6380/0
                username: ops
                password: ${REDIS_PW}
                db: 3
                tls_ca: certs/ca.pem
                connect_timeout: 1.5
                call_timeout: 0.5
                refresh: 10
                allow_flushall: yes
              - name: sessions.eu-1
                url: unix:///run/redis/redis.sock?db=2
                tls_ca:
              - name: queue
                url: "rediss://:${REDIS_PW}@queue:6379"
                tls_ca: ~/ca.pem
                db: 0
        """,
    )
    config = load_config(path, env={"REDIS_PW": "s3cret"})
    prod = config.target("prod")
    assert prod.postgres is None
    assert [i.name for i in prod.redis] == ["cache", "sessions.eu-1", "queue"]
    assert prod.redis[0] == RedisConfig(
        name="cache",
        url="rediss://cache.internal:6380/0",
        username="ops",
        password="s3cret",
        db=3,
        tls_ca=tmp_path / "certs" / "ca.pem",  # relative to the file, like audit_log
        connect_timeout=1.5,
        call_timeout=0.5,
        refresh=10.0,
        allow_flushall=True,
    )
    assert prod.redis[1] == RedisConfig(
        name="sessions.eu-1", url="unix:///run/redis/redis.sock?db=2"
    )
    assert prod.redis[2].url == "rediss://:s3cret@queue:6379"
    assert prod.redis[2].tls_ca == tmp_path / "home" / "ca.pem"
    assert prod.redis[2].db == 0
    assert isinstance(prod.redis[0].connect_timeout, float)
    assert config.redis_refresh(prod, prod.redis[0]) == 10.0
    assert config.redis_refresh(prod, "queue") == 4.0  # the global refresh


def test_redis_defaults_lone_instance_and_absence(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          one:
            redis:
              - url: redis://cache:6379
          discovered:
            redis:
              -
          empty:
            redis: []
          commented_out:
            redis:
          none: {}
        """,
    )
    targets = load_config(path, env={}).targets
    assert targets["one"].redis == (RedisConfig(name="redis", url="redis://cache:6379"),)
    assert targets["discovered"].redis == (RedisConfig(),)  # every setting discovered
    assert RedisConfig().connect_timeout == 3.0 and RedisConfig().call_timeout == 2.0
    assert RedisConfig().allow_flushall is False
    for name in ("empty", "commented_out", "none"):
        assert targets[name].redis == ()  # in a file, no `redis:` means no Redis


def test_redis_mapping_instead_of_list_gives_a_hint(tmp_path):
    path = write(tmp_path, "targets:\n  prod:\n    redis:\n      url: redis://cache\n")
    assert error_of(path) == (
        f"{path}:4: targets.prod.redis: expected a list of instances, "
        "e.g. `redis: [{url: redis://...}]`, got a mapping"
    )


def test_redis_bare_url_item_is_an_error_that_does_not_echo_it(tmp_path):
    path = write(tmp_path, "targets:\n  prod:\n    redis:\n      - redis://:pw123@cache\n")
    message = error_of(path)
    assert message == (
        f"{path}:4: targets.prod.redis[0]: expected a mapping of instance settings, "
        "got a single value (write `- url: redis://...`)"
    )
    assert "pw123" not in message


def test_redis_names_required_when_several_unique_and_well_formed(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          prod:
            redis:
              - name: cache
              - url: redis://b
              - name: cache
              - name: "bad name"
              - name:
          other:
            redis:
              - name: cache
        """,
    )
    message = error_of(path)
    assert message.splitlines() == [
        f"{path}:5: targets.prod.redis[1].name: required when a target lists more than one "
        "Redis instance",
        f"{path}:6: targets.prod.redis[2].name: duplicate instance name 'cache' "
        "(first used on line 4)",
        f"{path}:7: targets.prod.redis[3].name: bad instance name: use letters, digits, "
        "'_', '.', '-', starting with a letter or digit",
        f"{path}:8: targets.prod.redis[4].name: required when a target lists more than one "
        "Redis instance",
    ]  # and the same name in another target is fine


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "url: http://cache:6379",
            "url: unknown scheme 'http' in 'http://cache:6379' "
            "(expected one of: redis, rediss, unix)",
        ),
        (
            "url: reddis://cache",
            "url: unknown scheme 'reddis' in 'reddis://cache' (did you mean 'redis'?)",
        ),
        (
            "url: cache:6379",
            "url: expected a URL starting with redis://, rediss:// or unix://, got 'cache:6379'",
        ),
        (
            "url: redis://cache:port",
            "url: malformed URL 'redis://cache:port': Port could not be cast to integer "
            "value as 'port'",
        ),
        ("url: redis://cache/two", "url: the path of 'redis://cache/two' must be a db number"),
        ("url: unix://", "url: a unix:// URL needs the socket path"),
        ("url: [redis://a]", "url: expected a string, got a list"),
        ("db: -1", "db: must be at least 0, got -1"),
        ("db: one", "db: expected an integer, got 'one'"),
        ("db: 1.5", "db: expected an integer, got '1.5'"),
        ("connect_timeout: 0", "connect_timeout: must be greater than 0, got 0"),
        ("call_timeout:", "call_timeout: expected a number of seconds, got nothing"),
        ("refresh: 4000", "refresh: must be at most 3600, got 4000"),
        ("allow_flushall: sure", "allow_flushall: expected true or false, got 'sure'"),
        ("password: {a: 1}", "password: expected a string, got a mapping"),
    ],
)
def test_redis_wrong_values(tmp_path, line, expected):
    path = write(tmp_path, f"targets:\n  prod:\n    redis:\n      - {line}\n")
    assert error_of(path).startswith(f"{path}:4: targets.prod.redis[0].{expected}")


def test_redis_scheme_is_case_insensitive(tmp_path):
    path = write(tmp_path, "targets:\n  a:\n    redis:\n      - url: REDISS://h\n")
    assert load_config(path, env={}).target("a").redis[0].url == "REDISS://h"


def test_redis_bad_url_error_masks_its_password(tmp_path):
    path = write(tmp_path, "targets:\n  a:\n    redis:\n      - url: http://u:topsecret@h\n")
    message = error_of(path)
    assert "topsecret" not in message
    assert "'http://u:********@h'" in message


def test_redis_tls_ca_needs_a_rediss_url(tmp_path):
    path = write(
        tmp_path,
        "targets:\n  a:\n    redis:\n      - url: redis://h\n        tls_ca: ca.pem\n",
    )
    assert error_of(path) == (
        f"{path}:5: targets.a.redis[0].tls_ca: a CA file is only used over TLS: "
        "the url must start with rediss://"
    )


def test_redis_unknown_key_suggests(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          a:
            redis:
              - name: cache
                passwrd: x
                allow_flushal: true
                zzz: 1
            rediss: []
        """,
    )
    message = error_of(path)
    assert f"{path}:5: targets.a.redis[0].passwrd: unknown key (did you mean 'password'?)" in (
        message
    )
    assert (
        f"{path}:6: targets.a.redis[0].allow_flushal: unknown key "
        "(did you mean 'allow_flushall'?)" in message
    )
    assert f"{path}:7: targets.a.redis[0].zzz: unknown key (expected one of: allow_flushall," in (
        message
    )
    assert f"{path}:8: targets.a.rediss: unknown key (did you mean 'redis'?)" in message


def test_redis_duplicate_key_in_an_instance(tmp_path):
    path = write(tmp_path, "targets:\n  a:\n    redis:\n      - db: 1\n        db: 2\n")
    assert error_of(path) == (
        f"{path}:5: targets.a.redis[0].db: duplicate key (first set on line 4)"
    )


def test_redis_secrets_never_rendered_nor_in_repr(tmp_path):
    path = write(
        tmp_path,
        """
        targets:
          prod:
            redis:
              - name: cache
                url: "rediss://ops:${URL_SECRET}@cache:6380/0?password=${QUERY_SECRET}"
                password: ${PW_SECRET}
              - name: sock
                url: "unix://:${SOCK_SECRET}@/run/redis.sock?db=1"
              - name: plain
                url: redis://cache:6379/2
        """,
    )
    env = {
        "URL_SECRET": "urlsecret",
        "QUERY_SECRET": "querysecret",
        "PW_SECRET": "pwsecret",
        "SOCK_SECRET": "socksecret",
    }
    config = load_config(path, env=env)
    cache = config.target("prod").redis[0]
    assert cache.password == "pwsecret"  # the app still gets them
    assert cache.url == "rediss://ops:urlsecret@cache:6380/0?password=querysecret"
    rendered = render_config(config)
    for secret in env.values():
        assert secret not in rendered
        assert secret not in repr(config)
        assert secret not in repr(cache)
    data = yaml.safe_load(rendered)
    cache_out, sock_out, plain_out = data["targets"]["prod"]["redis"]
    assert cache_out["password"] == "********"
    assert cache_out["url"] == "rediss://ops:********@cache:6380/0?password=********"
    assert sock_out["url"] == "unix://:********@/run/redis.sock?db=1"
    assert plain_out["url"] == "redis://cache:6379/2"  # nothing to hide
    assert plain_out["password"] is None
    assert redacted_dict(config) == data


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://u:p/w?x@h:6379/0", "redis://u:********@h:6379/0"),  # unescaped / ? in it
        ("redis://:a@b@h", "redis://:********@h"),
        ("unix:///tmp/a:b.sock", "unix:///tmp/a:b.sock"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_redact_url_masks_the_whole_userinfo_password(url, expected):
    assert redact_dsn(url) == expected


def test_redis_refresh_by_name_and_unknown_instance(tmp_path):
    path = write(
        tmp_path,
        "refresh: 3\ntargets:\n  a:\n    redis: [{name: cache, refresh: 9}, {name: q}]\n",
    )
    config = load_config(path, env={})
    target = config.target("a")
    assert config.redis_refresh(target, "cache") == 9.0
    assert config.redis_refresh(target, target.redis[1]) == 3.0
    with pytest.raises(ConfigError) as info:
        config.redis_refresh(target, "cach")
    assert str(info.value) == (
        "target 'a' has no Redis instance 'cach' (did you mean 'cache'?); known instances: cache, q"
    )
