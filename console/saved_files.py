"""Files the operator saves from a screen (a container's log, a command's output): named
after what they hold and when, written owner-only, never over an existing file."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SAVE_ATTEMPTS", "saved_file_name", "write_private"]

#: numbered names tried after the first ("-2" … ) before giving up
SAVE_ATTEMPTS = 100


def saved_file_name(subject: str, now: float) -> str:
    """ "<subject>-<YYYYmmdd-HHMMSS>.log", the subject reduced to safe characters."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", subject)[:64].lstrip(".") or "saved"
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.log"


def write_private(folder: Path, name: str, lines: Sequence[str]) -> Path:
    """Write `lines` to a new file `name` in `folder` (created 0700), readable by its
    owner only (0600: logs and a command's output can hold tokens and customer data).

    Never overwrites: an existing name gets "-2", "-3", … before its extension.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    for attempt in range(1, SAVE_ATTEMPTS + 1):
        candidate = name if attempt == 1 else f"{stem}-{attempt}{dot}{ext}"
        path = folder / candidate
        try:
            # O_EXCL: never follows a symlink planted under that name, never truncates.
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        with open(fd, "w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
        return path
    raise FileExistsError(f"{folder / name} and {SAVE_ATTEMPTS - 1} numbered names exist")
