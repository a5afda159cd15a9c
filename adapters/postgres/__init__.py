"""PostgreSQL: discovery, monitoring snapshots, blocking tree and backend actions."""
