"""The Redis sources of one target: one monitor per instance, and its action client.

redis-py is imported lazily, on the first poll, after the first frame is painted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.redis.discovery import ResolvedRedis
    from adapters.redis.keys import RedisKeys
    from adapters.redis.models import RedisSnapshot
    from adapters.redis.monitor import RedisMonitor

SOURCE_PREFIX = "redis:"


def source_name(instance: str) -> str:
    """The state key of an instance's source (`redis:cache`)."""
    return SOURCE_PREFIX + instance


class RedisSource:
    """Owns the connections to one Redis instance of a target."""

    def __init__(self, config: Any, refresh: float) -> None:
        self.config = config  # console.config.RedisConfig
        self.instance: str = config.name
        self.name = source_name(config.name)
        self.refresh = refresh
        self.allow_flushall: bool = config.allow_flushall
        self._resolved: ResolvedRedis | None = None
        self._monitor: RedisMonitor | None = None
        self._keys: RedisKeys | None = None

    def resolved(self) -> ResolvedRedis:
        if self._resolved is None:
            from adapters.redis.discovery import RedisParams, resolve

            cfg = self.config
            self._resolved = resolve(
                RedisParams(
                    url=cfg.url,
                    username=cfg.username,
                    password=cfg.password,
                    db=cfg.db,
                    tls_ca=str(cfg.tls_ca) if cfg.tls_ca else None,
                    connect_timeout=cfg.connect_timeout,
                    call_timeout=cfg.call_timeout,
                )
            )
        return self._resolved

    def db(self) -> int:
        """The db this instance is configured on (URL path, `?db=` or `db:`; else 0)."""
        try:
            return self.resolved().db
        except ValueError:  # InvalidRedisTarget: the poll reports it; offer the setting
            return self.config.db or 0

    def describe(self) -> str:
        """Where this instance is (never includes a password)."""
        return self.resolved().describe()

    async def fetch(self) -> RedisSnapshot:
        """One poll of the instance."""
        if self._monitor is None:
            from adapters.redis.monitor import RedisMonitor

            self._monitor = RedisMonitor(self.resolved())
        return await self._monitor.poll()

    def keys(self) -> RedisKeys:
        """The action client: its own connections, never the monitor's."""
        if self._keys is None:
            from adapters.redis.keys import RedisKeys

            self._keys = RedisKeys(self.resolved())
        return self._keys

    async def close(self) -> None:
        if self._monitor is not None:
            await self._monitor.close()
        self._monitor = None
