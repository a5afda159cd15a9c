"""The console's configuration: typed, frozen, strict, and never printed with its secrets.

Where it comes from (`find_config_path`): `--config PATH`, else `$OPS_CONSOLE_CONFIG`, else
`$XDG_CONFIG_HOME/ops-console/config.yaml` if it exists, else built-in defaults (one target,
`local`, whose PostgreSQL settings are discovered like libpq does: `PG*` variables, socket;
and one Redis instance, `local`: `$REDIS_URL`, else 127.0.0.1:6379).

How values are decided, highest first:

1. command-line flags (`Config.with_overrides`),
2. environment variables, through `${VAR}` / `${VAR:-default}` in the file,
3. the file,
4. the defaults written on the dataclasses below.

Reading is strict (see `console.config_yaml`): unknown keys, wrong types, duplicate keys
and unset variables are errors naming file, line and key path, all reported at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from console import paths
from console.bindings import BINDING_IDS, BY_ID
from console.config_docker import DockerConfig, read_docker
from console.config_health import HealthCheckConfig, read_health
from console.config_redis import RedisConfig, read_redis, redacted_redis
from console.config_runbook import RunbookActionConfig, read_runbook
from console.config_yaml import (
    BAD_NAME,
    MASK,
    NULL_TAG,
    REFRESH_MAX,
    TARGET_NAME,
    ConfigError,
    Reader,
    boolean,
    choice,
    close_match,
    compose_file,
    describe,
    join,
    optional_integer,
    optional_number,
    optional_text,
    redact_dsn,
    required,
    resolve_path,
    suggestion,
    text,
)

__all__ = [
    "Config",
    "ConfigError",
    "PostgresConfig",
    "RedisConfig",
    "TargetConfig",
    "find_config_path",
    "load_config",
    "redact_dsn",
    "redacted_dict",
    "render_config",
]

ENV_CONFIG = "OPS_CONSOLE_CONFIG"
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    """How to reach one PostgreSQL server. Every connection setting left None is
    discovered the way libpq does it (`PGHOST`, `PGPORT`, ..., `~/.pgpass`, the socket)."""

    dsn: str | None = field(default=None, repr=False)
    """Connection URI or keyword string; may hold a password, so never shown unmasked.
    Explicit keys below override the same setting in the DSN."""
    host: str | None = None
    """Host name, IP address, or socket directory."""
    port: int | None = None
    """TCP port, 1..65535."""
    user: str | None = None
    """Role to connect as."""
    password: str | None = field(default=None, repr=False)
    """SECRET. Prefer `${VAR}` or `~/.pgpass` over writing it in the file."""
    database: str | None = None
    """Database to connect to."""
    sslmode: str | None = None
    """One of disable, allow, prefer, require, verify-ca, verify-full."""
    service: str | None = None
    """Service name from `pg_service.conf`."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection before reporting the server unreachable."""
    statement_timeout: float | None = None
    """Seconds a monitoring query may run; None lets the app derive it from the refresh."""
    refresh: float | None = None
    """Seconds between polls of this server; None uses the global `refresh`."""


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """One environment (local, staging, prod...) and the systems it is made of."""

    name: str
    """The target's key under `targets:`; what `--target` and `:target` select."""
    production: bool = False
    """Starts disarmed: writes need `W`, a typed reason, and expire; confirmations ask
    for the target's name."""
    read_only: bool = False
    """Refuse every action on this target; the command line cannot lift it."""
    arm_minutes: float | None = None
    """How long `W` arms writes here; None uses the global `arm_minutes`."""
    postgres: PostgresConfig | None = None
    """None: this target has no PostgreSQL. An empty section: discover like libpq."""
    redis: tuple[RedisConfig, ...] = ()
    """This target's Redis instances, in the order the screen shows them; empty: none."""
    docker: DockerConfig | None = None
    """None: this target has no Docker engine. An empty section: `$DOCKER_HOST` or the
    local socket."""
    health: tuple[HealthCheckConfig, ...] = ()
    """HTTP(S) and TCP checks of the services, in the order the screen shows them."""
    runbook: tuple[RunbookActionConfig, ...] = ()
    """Operator commands (rollbacks, maintenance switches) run through the life cycle."""


def _default_targets() -> dict[str, TargetConfig]:
    return {
        "local": TargetConfig(
            name="local",
            postgres=PostgresConfig(),
            redis=(RedisConfig(name="local"),),
            docker=DockerConfig(),
        )
    }


@dataclass(frozen=True, slots=True)
class Config:
    """The whole resolved configuration. Treat the dicts as read-only too."""

    read_only: bool = False
    """Refuse every action on every target (also `--read-only`)."""
    refresh: float = 2.0
    """Seconds between polls of every source unless it sets its own; 0 < refresh <= 3600."""
    arm_minutes: float = 15.0
    """How long `W` arms write actions on a production target."""
    theme: str = "ops-dark"
    """Name of the colour theme."""
    audit_log: Path = field(default_factory=paths.default_audit_path)
    """Append-only JSON-lines record of every action and arming."""
    log_file: Path = field(default_factory=paths.default_log_path)
    """The console's own diagnostic log."""
    default_target: str | None = None
    """Target used without `--target`; None picks the first one defined."""
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id (see `console.bindings`) -> key, or comma-separated keys."""
    targets: dict[str, TargetConfig] = field(default_factory=_default_targets)
    """Targets by name, in file order; never empty."""
    source_path: Path | None = None
    """The file this was read from; None for built-in defaults."""

    def target(self, name: str | None = None) -> TargetConfig:
        """The target called `name`, else `default_target`, else the first one defined."""
        wanted = name or self.default_target
        if wanted is None:
            return next(iter(self.targets.values()))
        try:
            return self.targets[wanted]
        except KeyError:
            close = close_match(wanted, self.targets)
            hint = f" (did you mean '{close}'?)" if close else ""
            known = ", ".join(self.targets)
            raise ConfigError(f"unknown target {wanted!r}{hint}; known targets: {known}") from None

    def is_read_only(self, target: TargetConfig) -> bool:
        """Actions are refused if the console or the target is read-only."""
        return self.read_only or target.read_only

    def arm_minutes_for(self, target: TargetConfig) -> float:
        """How long arming lasts on `target`."""
        return self.arm_minutes if target.arm_minutes is None else target.arm_minutes

    def postgres_refresh(self, target: TargetConfig) -> float:
        """Seconds between PostgreSQL polls on `target`."""
        pg = target.postgres
        return self.refresh if pg is None or pg.refresh is None else pg.refresh

    def redis_refresh(self, target: TargetConfig, instance: RedisConfig | str) -> float:
        """Seconds between polls of one of `target`'s Redis instances (or its name)."""
        if isinstance(instance, str):
            found = next((i for i in target.redis if i.name == instance), None)
            if found is None:
                names = [i.name for i in target.redis]
                close = close_match(instance, names)
                hint = f" (did you mean '{close}'?)" if close else ""
                raise ConfigError(
                    f"target {target.name!r} has no Redis instance {instance!r}{hint}; "
                    f"known instances: {', '.join(names) or 'none'}"
                )
            instance = found
        return self.refresh if instance.refresh is None else instance.refresh

    def docker_refresh(self, target: TargetConfig) -> float:
        """Seconds between Docker stats refreshes on `target`."""
        docker = target.docker
        return self.refresh if docker is None or docker.refresh is None else docker.refresh

    def with_overrides(self, read_only: bool | None = None, refresh: float | None = None) -> Config:
        """This config with command-line flags applied; None leaves a setting as it is.

        Precedence is CLI > environment (`${VAR}` in the file) > file > defaults, so a
        `--refresh` also replaces every per-source `refresh` from the file. `read_only`
        sets the global switch only: a target marked `read_only: true` in the file stays
        read-only, because lifting a safety from the command line is too easy by mistake.
        """
        config = self
        if read_only is not None:
            config = replace(config, read_only=read_only)
        if refresh is not None:
            if not 0 < refresh <= REFRESH_MAX:
                raise ConfigError(
                    f"--refresh: must be greater than 0 and at most {REFRESH_MAX:g}, "
                    f"got {refresh:g}"
                )
            targets = {name: _without_refresh(t) for name, t in config.targets.items()}
            config = replace(config, refresh=float(refresh), targets=targets)
        return config


def _without_refresh(target: TargetConfig) -> TargetConfig:
    pg = target.postgres
    if pg is not None and pg.refresh is not None:
        target = replace(target, postgres=replace(pg, refresh=None))
    if any(instance.refresh is not None for instance in target.redis):
        redis = tuple(replace(instance, refresh=None) for instance in target.redis)
        target = replace(target, redis=redis)
    if target.docker is not None and target.docker.refresh is not None:
        target = replace(target, docker=replace(target.docker, refresh=None))
    return target


# --- locating and loading ------------------------------------------------------------


def find_config_path(cli_path: str | None, *, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to read: `--config`, else `$OPS_CONSOLE_CONFIG`, else the XDG default.

    Returns None when nothing was asked for and the default file does not exist (built-in
    defaults apply). A path asked for explicitly that does not exist is a `ConfigError`:
    silently running on defaults against the wrong database is worse than stopping.
    """
    environ = os.environ if env is None else env
    for value, origin in ((cli_path, "--config"), (environ.get(ENV_CONFIG), f"${ENV_CONFIG}")):
        if value:
            path = Path(value).expanduser()
            if not path.exists():
                raise ConfigError(f"{path}: config file not found (from {origin})")
            return path
    default = paths.default_config_path(environ)
    return default if default.exists() else None


def load_config(path: Path | None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config at `path`; None gives the built-in defaults.

    `env` is where `${VAR}` is looked up (default: `os.environ`). Raises `ConfigError`
    listing every problem found.
    """
    if path is None:
        return Config()
    path = Path(path).expanduser()
    reader = Reader(str(path), os.environ if env is None else env)
    root = compose_file(path, str(path))
    config = _read_config(reader, root, path)
    reader.finish()
    return config


_TOP_KEYS = (
    "read_only",
    "refresh",
    "arm_minutes",
    "theme",
    "audit_log",
    "log_file",
    "default_target",
    "keymap",
    "targets",
)
_TARGET_KEYS = (
    "production",
    "read_only",
    "arm_minutes",
    "postgres",
    "redis",
    "docker",
    "health",
    "runbook",
)
_POSTGRES_KEYS = tuple(f.name for f in fields(PostgresConfig))


def _read_config(r: Reader, root: Node | None, source: Path) -> Config:
    defaults = Config(source_path=source)
    if root is None or (isinstance(root, ScalarNode) and root.tag == NULL_TAG):
        return defaults  # an empty file, or only comments
    if not isinstance(root, MappingNode):
        r.report(root, "", f"the top level must be a mapping of settings, got {describe(root)}")
        return defaults
    f = r.fields(root, "", _TOP_KEYS)

    def path_field(key: str, default: Path) -> Path:
        raw = r.get(f, key, "", required(optional_text, "a file path"), None)
        return default if raw is None else resolve_path(raw, source)

    targets = _read_targets(r, f["targets"], source) if "targets" in f else defaults.targets
    config = Config(
        read_only=r.get(f, "read_only", "", boolean, defaults.read_only),
        refresh=r.get(f, "refresh", "", _refresh, defaults.refresh),
        arm_minutes=r.get(f, "arm_minutes", "", _minutes, defaults.arm_minutes),
        theme=r.get(f, "theme", "", text, defaults.theme),
        audit_log=path_field("audit_log", defaults.audit_log),
        log_file=path_field("log_file", defaults.log_file),
        default_target=r.get(f, "default_target", "", optional_text, None),
        keymap=_read_keymap(r, f["keymap"]) if "keymap" in f else {},
        targets=targets,
        source_path=source,
    )
    if config.default_target is not None and config.default_target not in targets:
        r.report(
            f["default_target"],
            "default_target",
            f"no target named {config.default_target!r}"
            + suggestion(config.default_target, targets),
        )
    return config


_refresh = required(optional_number(at_most=REFRESH_MAX), "a number of seconds")
_minutes = required(optional_number(), "a number of minutes")
_seconds = required(optional_number(), "a number of seconds")


def _read_targets(r: Reader, node: Node, source: Path) -> dict[str, TargetConfig]:
    targets: dict[str, TargetConfig] = {}
    entries = r.items(node, "targets", "a mapping of target names to settings")
    for name, key_node, value_node in entries:
        path = join("targets", name)
        if not TARGET_NAME.fullmatch(name):
            r.report(key_node, path, f"bad target name: {BAD_NAME}")
        targets[name] = _read_target(r, name, value_node, path, source)
    if not entries and (isinstance(node, MappingNode) or node.tag == NULL_TAG):
        r.report(
            node,
            "targets",
            "no targets defined: define at least one, or remove 'targets' to use the "
            "built-in 'local' target",
        )
    return targets or _default_targets()


def _read_target(r: Reader, name: str, node: Node, path: str, source: Path) -> TargetConfig:
    f = r.fields(node, path, _TARGET_KEYS)
    return TargetConfig(
        name=name,
        production=r.get(f, "production", path, boolean, False),
        read_only=r.get(f, "read_only", path, boolean, False),
        arm_minutes=r.get(f, "arm_minutes", path, optional_number(), None),
        postgres=_read_postgres(r, f["postgres"], join(path, "postgres"))
        if "postgres" in f
        else None,
        redis=read_redis(r, f["redis"], join(path, "redis"), source) if "redis" in f else (),
        docker=read_docker(r, f["docker"], join(path, "docker"), source) if "docker" in f else None,
        health=read_health(r, f["health"], join(path, "health"), source) if "health" in f else (),
        runbook=read_runbook(r, f["runbook"], join(path, "runbook"), source)
        if "runbook" in f
        else (),
    )


def _read_postgres(r: Reader, node: Node, path: str) -> PostgresConfig:
    f = r.fields(node, path, _POSTGRES_KEYS)

    def opt_text(key: str) -> str | None:
        return r.get(f, key, path, optional_text, None)

    return PostgresConfig(
        dsn=opt_text("dsn"),
        host=opt_text("host"),
        port=r.get(f, "port", path, optional_integer(1, 65535), None),
        user=opt_text("user"),
        password=opt_text("password"),
        database=opt_text("database"),
        sslmode=r.get(f, "sslmode", path, choice(SSLMODES), None),
        service=opt_text("service"),
        connect_timeout=r.get(f, "connect_timeout", path, _seconds, 5.0),
        statement_timeout=r.get(f, "statement_timeout", path, optional_number(), None),
        refresh=r.get(f, "refresh", path, optional_number(at_most=REFRESH_MAX), None),
    )


def _read_keymap(r: Reader, node: Node) -> dict[str, str]:
    keymap: dict[str, str] = {}
    for binding_id, key_node, value_node in r.items(
        node, "keymap", "a mapping of binding ids to keys"
    ):
        path = join("keymap", binding_id)
        if binding_id not in BINDING_IDS:
            r.report(key_node, path, "unknown binding id" + suggestion(binding_id, BINDING_IDS))
            continue
        keys = r.convert(value_node, path, required(optional_text, "a key"), None)
        if keys is None:
            continue
        problem = _keys_problem(binding_id, keys)
        if problem:
            r.report(value_node, path, problem)
            continue
        keymap[binding_id] = ",".join(k.strip() for k in keys.split(","))
    return keymap


def _keys_problem(binding_id: str, keys: str) -> str | None:
    """Why `keys` cannot be bound to `binding_id`, or None.

    The design's safety rules hold for remapped keys too: destructive actions never sit
    on Ctrl-chords (pressed by reflex in tmux and vim), and `ctrl+c` only ever interrupts.
    """
    parts = [k.strip() for k in keys.split(",")]
    if any(not k or any(c.isspace() for c in k) for k in parts):
        return f"expected comma-separated key names such as 'x' or 'ctrl+r,f5', got {keys!r}"
    if BY_ID[binding_id].destructive and any("ctrl+" in k.lower() for k in parts):
        return "destructive actions must stay on plain keys, not Ctrl-chords"
    if binding_id != "app.interrupt" and any(k.lower() == "ctrl+c" for k in parts):
        return "ctrl+c is reserved for closing dialogs and stopping actions"
    return None


# --- showing it ----------------------------------------------------------------------


def redacted_dict(config: Config) -> dict[str, Any]:
    """The resolved config shaped like the file, secrets masked, paths as strings."""
    out: dict[str, Any] = {
        "read_only": config.read_only,
        "refresh": config.refresh,
        "arm_minutes": config.arm_minutes,
        "theme": config.theme,
        "audit_log": str(config.audit_log),
        "log_file": str(config.log_file),
        "default_target": config.default_target,
        "keymap": dict(config.keymap),
        "targets": {name: _redacted_target(t) for name, t in config.targets.items()},
    }
    return out


def _redacted_target(target: TargetConfig) -> dict[str, Any]:
    out = asdict(target)
    del out["name"]  # it is the key under `targets:`
    pg = out["postgres"]
    if pg is None:
        del out["postgres"]  # `postgres:` (null) would read back as "discover like libpq"
    else:
        if pg["password"] is not None:
            pg["password"] = MASK
        if pg["dsn"] is not None:
            pg["dsn"] = redact_dsn(pg["dsn"])
    out["redis"] = [redacted_redis(instance) for instance in target.redis]
    # Sections with secrets (headers, environments) mask them in their own `redacted()`.
    if target.docker is None:
        del out["docker"]
    else:
        out["docker"] = _section(target.docker)
    out["health"] = [_section(check) for check in target.health]
    out["runbook"] = [_section(action) for action in target.runbook]
    return out


def _section(value: Any) -> Any:
    redacted = getattr(value, "redacted", None)
    return redacted() if callable(redacted) else _plain(asdict(value))


def _plain(value: Any) -> Any:
    """`asdict` output made YAML-safe: paths as strings, tuples as lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def render_config(config: Config) -> str:
    """The resolved config as YAML, secrets masked: what `ops-console config check` prints.

    The output is itself a valid config file (apart from the masked secrets).
    """
    return yaml.safe_dump(redacted_dict(config), sort_keys=False, default_flow_style=False)
