"""Redis: discovery, monitoring snapshots, big-keys sampling and key actions.

Modules: `discovery` (URLs, credentials, TLS), `client` (one bounded connection; with
`errors`, the only modules importing redis-py), `monitor` (RedisSnapshot polls),
`bigkeys` (SCAN-based sampling), `keys` (pattern preview/clear, flush, delete),
`models` (frozen snapshots), `parse` (pure reply parsers).
"""
