"""Who is at the keyboard: captured once at start and written into every audit record.

The console is usually reached over SSH, often through `sudo`; an audit line must say
which person on which machine acted, not only "root". The values are read once when the
console starts so that a later change of the environment cannot rewrite history.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

try:  # `pwd` is POSIX-only; the console targets POSIX hosts but must not fail to import.
    import pwd
except ImportError:  # pragma: no cover - Windows
    pwd = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class OperatorContext:
    """The operator's identity as far as this process can tell.

    `user` is the account of the process's real uid (looked up in the password database,
    so it cannot be changed by setting `$USER`); `sudo_user` and `ssh_client` come from
    what sudo and sshd put in the environment and are informative, not proof.
    """

    user: str
    sudo_user: str | None
    ssh_client: str | None
    hostname: str
    pid: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OperatorContext:
        """Capture the operator from `env` (the process environment by default)."""
        return cls(
            user=_local_user(),
            sudo_user=env.get("SUDO_USER") or None,
            ssh_client=_ssh_client(env),
            hostname=socket.gethostname(),
            pid=os.getpid(),
        )


def _local_user() -> str:
    # The uid is what the kernel checks; $USER/$LOGNAME are whatever the caller exported.
    if pwd is not None:
        try:
            return pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            pass  # a uid without a passwd entry (common in containers): fall through
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _ssh_client(env: Mapping[str, str]) -> str | None:
    # SSH_CONNECTION = "client_ip client_port server_ip server_port"; SSH_CLIENT is the
    # older "client_ip client_port server_port". Either way the first field is the client.
    for name in ("SSH_CONNECTION", "SSH_CLIENT"):
        fields = env.get(name, "").split()
        if fields:
            return fields[0]
    return None
