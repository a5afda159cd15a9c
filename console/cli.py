"""Command line: `ops-console [options]` and `ops-console config check|example`.

Kept free of Textual imports so `--help`, `--version`, `config check` and the no-TTY
refusal answer at once; the UI is imported only when it is about to start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from console import __version__

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_NO_TTY = 3
#: The reader of our output went away (`| head -1`): what a shell reports for a command
#: killed by SIGPIPE (128 + 13), as for any other tool cut short in a pipe.
EXIT_BROKEN_PIPE = 141


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ops-console",
        description="Live incident triage console: PostgreSQL activity and blocking locks, "
        "with confirmed, audited remediations.",
        epilog="Subcommands: 'ops-console config check [--config PATH]' validates a config "
        "and prints it resolved with secrets redacted; 'ops-console config example' prints "
        "an annotated example.",
    )
    parser.add_argument("--version", action="version", version=f"ops-console {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: "
        "$OPS_CONSOLE_CONFIG, then $XDG_CONFIG_HOME/ops-console/config.yaml)",
    )
    parser.add_argument("--target", metavar="NAME", help="which target of the config to open")
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help="refuse every remediation (shown in the header; still audited)",
    )
    parser.add_argument(
        "--refresh",
        metavar="SECONDS",
        type=_positive_float,
        help="refresh interval for every source (default 2)",
    )
    parser.add_argument(
        "--no-mouse",
        action="store_true",
        help="do not capture the mouse (pointer motion costs bandwidth over SSH)",
    )
    return parser


def build_config_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ops-console config")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate the config and print it resolved, redacted")
    check.add_argument("--config", metavar="PATH")
    sub.add_parser("example", help="print the annotated example config")
    return parser


def _config_command(argv: Sequence[str]) -> int:
    from console.config import ConfigError, find_config_path, load_config, render_config

    args = build_config_parser().parse_args(argv)
    if args.command == "example":
        sys.stdout.write(Path(__file__).with_name("config.example.yaml").read_text("utf-8"))
        return EXIT_OK
    try:
        path = find_config_path(args.config)
        config = load_config(path)
    except ConfigError as err:
        print(f"ops-console: invalid config:\n{err}", file=sys.stderr)
        return EXIT_CONFIG
    where = str(path) if path else "no config file: built-in defaults"
    print(f"# {where}: OK")
    sys.stdout.write(render_config(config))
    return EXIT_OK


def has_terminal() -> bool:
    """Textual does not check this itself: without a TTY it draws escapes into stderr
    and never exits (as with `ssh host ops-console` without -t)."""
    return all(stream.isatty() for stream in (sys.stdin, sys.stdout, sys.stderr))


def main(argv: Sequence[str] | None = None) -> int:
    """The `ops-console` command. Output cut short by its reader (`config check | head
    -1`, `--help | head`) ends it quietly, without a traceback."""
    try:
        try:
            return _main(argv)
        finally:
            # Written here, not at exit: a pipe closed early fails this flush too, and
            # at exit Python could only print "Exception ignored …" about it.
            sys.stdout.flush()
    except BrokenPipeError:
        # Nothing more can be written: point stdout at /dev/null so that the flush at
        # exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["config"]:
        return _config_command(argv[1:])
    args = build_parser().parse_args(argv)

    from console.config import ConfigError, find_config_path, load_config

    try:
        config = load_config(find_config_path(args.config))
        config = config.with_overrides(read_only=args.read_only, refresh=args.refresh)
        target = config.target(args.target)
    except ConfigError as err:
        print(f"ops-console: invalid config:\n{err}", file=sys.stderr)
        return EXIT_CONFIG

    if not has_terminal():
        print(
            "ops-console: needs an interactive terminal (stdin, stdout and stderr must be a "
            "TTY); over SSH use 'ssh -t host ops-console'.",
            file=sys.stderr,
        )
        return EXIT_NO_TTY

    from console.logging_setup import log_to_file

    log_to_file(config.log_file)
    from console.app import OpsConsoleApp

    app = OpsConsoleApp(config, target.name)
    app.run(mouse=not args.no_mouse)
    return app.return_code or 0
