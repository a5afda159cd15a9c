#!/usr/bin/env python3
"""Runbook output flood: a command printing 100,000 lines as fast as it can.

    .venv/bin/python bench/runbook_bench.py               # 7 rounds, prints the figures
    .venv/bin/python bench/runbook_bench.py --rounds 3 --lines 200000

Each round, alternating:

  a. the command run to /dev/null (`subprocess.run(..., stdout=DEVNULL)`): spawn to exit;
  b. the same command inside the console: the app running headless (Pilot, 200x50) on
     the runbook screen, the action confirmed with `y`, its output streamed into the
     output panel. Measured from the start of `execute` (the panel's `begin`) to the
     result (the panel's `finish`), i.e. spawn, reading, batching, drawing, exit, audit.

Prints each round, the medians and the ratio b / a (target: at most 2x). Also prints how
many batches the panel drew and the lines it holds (bounded), which shows the flood was
coalesced rather than drawn line by line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from console.app import OpsConsoleApp  # noqa: E402
from console.config import load_config  # noqa: E402
from widgets.command_output import CommandOutput  # noqa: E402


def command(lines: int) -> list[str]:
    script = f"for i in range({lines}): print(f'line {{i}} of the flood, as fast as it can')"
    return [sys.executable, "-c", script]


def baseline(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


class Timing:
    """Wraps the panel's begin/add_batch/finish to time the run from inside the app."""

    def __init__(self) -> None:
        self.begin = 0.0
        self.end = 0.0
        self.batches = 0
        original_begin = CommandOutput.begin
        original_batch = CommandOutput.add_batch
        original_finish = CommandOutput.finish
        timing = self

        def begin(panel: CommandOutput, text: str, action: str = "") -> None:
            timing.begin = time.perf_counter()
            original_begin(panel, text, action)

        def add_batch(panel: CommandOutput, batch: object) -> None:
            timing.batches += 1
            original_batch(panel, batch)  # type: ignore[arg-type]

        def finish(panel: CommandOutput, message: str, ok: bool) -> None:
            timing.end = time.perf_counter()
            original_finish(panel, message, ok)

        CommandOutput.begin = begin  # type: ignore[method-assign]
        CommandOutput.add_batch = add_batch  # type: ignore[method-assign]
        CommandOutput.finish = finish  # type: ignore[method-assign]


async def in_console(argv: list[str], workdir: Path, timing: Timing) -> tuple[float, str, int]:
    config = workdir / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(workdir / "audit.jsonl"),
                "log_file": str(workdir / "console.log"),
                "targets": {"bench": {"runbook": [{"name": "flood", "argv": argv}]}},
            }
        )
    )
    app = OpsConsoleApp(load_config(config), "bench", autostart=False)
    timing.begin = timing.end = 0.0
    timing.batches = 0
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("colon", *"runbook", "enter")
        await _until(lambda: app.screen.__class__.__name__ == "RunbookScreen")
        await pilot.press("enter")
        await _until(lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await _until(lambda: timing.end > 0, limit=120)
        await pilot.pause()
        panel = app.screen.query_one(CommandOutput)
        held = panel.log_view.line_count
        status = str(panel.query_one("#cmd-status").render())
    return timing.end - timing.begin, status, held


async def _until(predicate, limit: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the console did not get there in time")
        await asyncio.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    argv = command(args.lines)
    timing = Timing()
    base: list[float] = []
    inside: list[float] = []
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as tmp:
        baseline(argv)  # warm the page cache for the interpreter
        for round_ in range(1, args.rounds + 1):
            a = baseline(argv)
            b, status, held = asyncio.run(in_console(argv, Path(tmp), timing))
            base.append(a)
            inside.append(b)
            print(
                f"round {round_}: /dev/null {a * 1000:7.1f} ms · console {b * 1000:7.1f} ms "
                f"· ratio {b / a:4.2f} · {timing.batches} batches drawn, panel holds {held} "
                f"lines · result: {status}"
            )
    a_med, b_med = statistics.median(base), statistics.median(inside)
    print(
        f"\n{args.lines:,} lines: /dev/null median {a_med * 1000:.1f} ms "
        f"(min {min(base) * 1000:.1f}), console median {b_med * 1000:.1f} ms "
        f"(min {min(inside) * 1000:.1f}); ratio of medians {b_med / a_med:.2f}, "
        f"of minimums {min(inside) / min(base):.2f} (target <= 2.00)"
    )
    # The machine is shared: say how busy it was, the ratio moves with it.
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
