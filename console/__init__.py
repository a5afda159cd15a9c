"""ops-console: a terminal console for live incident triage."""

__version__ = "0.1.0"
