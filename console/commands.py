"""The `:` command line: parsing only (the app carries the commands out)."""

from __future__ import annotations

from dataclasses import dataclass

SCREEN_ALIASES = {
    "dash": "dashboard",
    "dashboard": "dashboard",
    "pg": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "containers": "containers",
    "docker": "containers",
    "health": "health",
    "audit": "audit",
    "runbook": "runbook",
    "rb": "runbook",
}
COMMANDS_WITH_ARG = ("target", "theme")
QUIT = ("q", "quit", "exit")
HELP_TEXT = (
    ":pg  :redis  :containers  :health  :runbook  :audit  :dash  :target NAME  :theme NAME  :q"
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str = ""
    arg: str = ""
    screen: str | None = None
    error: str | None = None


def parse_command(line: str) -> Command:
    """Parse one command line (with or without the leading `:`)."""
    words = line.strip().lstrip(":").split()
    if not words:
        return Command()
    head, rest = words[0].lower(), words[1:]
    if head in SCREEN_ALIASES and not rest:
        return Command(name="screen", screen=SCREEN_ALIASES[head])
    if head in QUIT and not rest:
        return Command(name="quit")
    if head in COMMANDS_WITH_ARG:
        if len(rest) != 1:
            return Command(error=f":{head} takes one name, e.g. :{head} NAME")
        return Command(name=head, arg=rest[0])
    return Command(error=f"Unknown command {line.strip()!r}. Commands: {HELP_TEXT}")
