"""Widgets render snapshots. They never do I/O and never import drivers."""
