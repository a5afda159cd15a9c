"""Logging goes to a file while the UI runs: the terminal belongs to Textual."""

from __future__ import annotations

import logging
from pathlib import Path


def log_to_file(path: Path, level: int = logging.INFO) -> None:
    """Send every log record to `path`, and none to stderr (where the UI is drawn)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
