"""The confirmation and arming dialogs, driven through Textual's Pilot at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, Input

from console.actions import ActionOutcome, ActionPlan, Risk, run_action
from console.audit import AuditLog
from console.operator import OperatorContext
from screens.arm import ArmScreen
from screens.confirm import ConfirmScreen

HOSTILE = (
    ("user", "a[i]"),
    ("query", "SELECT '[/]' FROM t -- [link=https://evil.example]click[/link] [bold]x"),
    ("application", "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b]0;title\x07psql\u202eevil"),
)


async def _ok() -> str | None:
    return None


async def _done() -> str:
    return "done"


def make_plan(risk: Risk = Risk.LOW, token: str | None = None, **kw: object) -> ActionPlan:
    values: dict[str, object] = {
        "action": "pg.cancel",
        "target": "staging",
        "title": "Cancel the query of backend 4242",
        "preview": "SELECT pg_cancel_backend(4242)",
        "recheck": _ok,
        "execute": _done,
        "details": (("user", "app"), ("query", "SELECT 1")),
        "risk": risk,
        "confirm_token": token or ("4242" if risk is Risk.HIGH else None),
    }
    values.update(kw)
    return ActionPlan(**values)  # type: ignore[arg-type]


class Host(App[None]):
    """Pushes one dialog on mount and records what it was dismissed with."""

    def __init__(self, dialog: Screen[object]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as plain text (lines of the composited screen)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# ------------------------------------------------------------------ ConfirmScreen


@pytest.mark.parametrize("risk", [Risk.LOW, Risk.HIGH])
async def test_cancel_is_focused_on_open(risk: Risk) -> None:
    app = Host(ConfirmScreen(make_plan(risk)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is not None and app.focused.id == "cancel"
        assert app.screen.query_one("#confirm", Button).disabled is (risk is Risk.HIGH)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("y",), True),
        (("enter",), False),
        (("escape",), False),
        (("n",), False),
        (("q",), False),
        (("ctrl+c",), False),
        (("tab", "enter"), True),  # moving to Confirm on purpose, then Enter
    ],
)
async def test_low_risk_keys(keys: tuple[str, ...], expected: bool) -> None:
    app = Host(ConfirmScreen(make_plan(Risk.LOW)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        assert app.results == [expected]
        assert not isinstance(app.screen, ConfirmScreen)


async def test_high_risk_y_does_nothing() -> None:
    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.results == []
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.query_one("#confirm", Button).disabled


async def test_high_risk_enter_alone_cancels() -> None:
    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [False]


async def test_high_risk_wrong_token_keeps_confirm_disabled() -> None:
    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("4", "2", "4")  # a prefix is not the token
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#token", Input).value == "424"
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # Enter in the field with no match: nothing
        await pilot.pause()
        assert app.results == []
        await pilot.press("2", "2")  # "42422": longer than the token
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []
        assert isinstance(app.screen, ConfirmScreen)


async def test_high_risk_right_token_then_enter_confirms() -> None:
    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("4", "2", "4", "2")
        await pilot.pause()
        assert not app.screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [True]


async def test_keys_arriving_in_one_read_apply_in_typing_order() -> None:
    # A slow SSH link or fast typing delivers several keys in one read. Textual's Input
    # applied backspace (a binding) after the keys queued behind it: "4243", backspace,
    # "2", enter became "42432" and Enter submitted a mismatch.
    from textual import events

    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("4", "2", "4", "3")
        await pilot.pause()
        field = app.screen.query_one("#token", Input)
        assert field.value == "4243"
        for key, char in (("backspace", "\x7f"), ("2", "2"), ("enter", "\r")):
            app.post_message(events.Key(key, char))  # queued together, as one read
        await pilot.pause(0.2)
        assert app.results == [True]


async def test_every_key_the_field_binds_applies_in_typing_order() -> None:
    # ctrl+a (start), ctrl+k (clear to the end), then the token: one read.
    from textual import events

    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("9", "9", "9")
        await pilot.pause()
        keys = [("ctrl+a", None), ("ctrl+k", None)] + [(c, c) for c in "4242"]
        for key, char in keys:
            app.post_message(events.Key(key, char))
        await pilot.pause(0.2)
        assert app.screen.query_one("#token", Input).value == "4242"


async def test_high_risk_token_may_hold_y_and_n() -> None:
    # Target names are tokens too; `y`, `n` must be typed, not act as shortcuts.
    app = Host(ConfirmScreen(make_plan(Risk.HIGH, token="yn-prod")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"yn-prod")
        await pilot.pause()
        assert app.results == []
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [True]


@pytest.mark.parametrize("key", ["q", "escape", "ctrl+c"])
async def test_high_risk_close_keys_cancel(key: str) -> None:
    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [False]


async def test_ctrl_c_in_the_token_field_cancels() -> None:
    # The Input binds ctrl+c to copy; the dialog's priority binding must win.
    app = Host(ConfirmScreen(make_plan(Risk.HIGH)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("4", "2", "4", "2")
        assert app.focused is not None and app.focused.id == "token"
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.results == [False]


async def test_hostile_text_renders_literally() -> None:
    plan = make_plan(Risk.HIGH, title="Terminate [b]4242[/b] a[i]", details=HOSTILE)
    app = Host(ConfirmScreen(plan))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "a[i]" in text
        assert "'[/]'" in text
        assert "[link=https://evil.example]click[/link]" in text
        assert "Terminate [b]4242[/b]" in text
        assert "\x1b" not in text and "\u202e" not in text
        assert "␛]52;c;" in text  # the escape is shown, inert
        assert isinstance(app.screen, ConfirmScreen)  # no MarkupError, still open


async def test_fits_80x24_with_many_details() -> None:
    details = tuple((f"label {i}", "value " * 30) for i in range(30))
    app = Host(ConfirmScreen(make_plan(Risk.HIGH, details=details)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        for widget_id in ("#cancel", "#confirm", "#token"):
            region = screen.query_one(widget_id).region
            assert region.height > 0
            assert region.bottom <= 24 and region.right <= 80, widget_id


async def test_dialog_as_the_confirm_of_run_action(tmp_path: Path) -> None:
    """The app's flow: run_action in a worker, confirm = push_screen_wait(ConfirmScreen)."""
    executed: list[str] = []

    async def execute() -> str:
        executed.append("cancel 4242")
        return "query cancelled"

    audit = AuditLog(tmp_path / "audit.jsonl")
    outcomes: list[ActionOutcome] = []

    class Console(App[None]):
        def on_mount(self) -> None:
            self.run_worker(self.act(), exit_on_error=False)

        async def act(self) -> None:
            async def confirm(plan: ActionPlan) -> bool:
                return bool(await self.push_screen_wait(ConfirmScreen(plan)))

            outcome = await run_action(
                make_plan(Risk.LOW, execute=execute),
                confirm=confirm,
                audit=audit,
                operator=OperatorContext.from_env({}),
                read_only=False,
                arm=None,
            )
            outcomes.append(outcome)

    app = Console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert executed == ["cancel 4242"]
    assert outcomes[0].status == "succeeded"
    assert [r.outcome for r in audit.recent()] == ["succeeded"]


# ------------------------------------------------------------------ ArmScreen


async def test_arm_requires_a_reason() -> None:
    app = Host(ArmScreen("prod-main", 15))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert app.focused is not None and app.focused.id == "reason"
        assert screen.query_one("#arm", Button).disabled
        await pilot.press("enter")  # empty
        await pilot.press("space", "space", "enter")  # blank
        await pilot.pause()
        assert app.results == []
        assert isinstance(app.screen, ArmScreen)
        assert "A reason is required" in screen_text(app)
        await pilot.press(*"INC-42 a[i]", "space", "enter")
        await pilot.pause()
        assert app.results == ["INC-42 a[i]"]


async def test_arm_shows_target_and_minutes() -> None:
    app = Host(ArmScreen("prod-[b]main", 15))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "prod-[b]main" in text
        assert "15 minutes" in text


@pytest.mark.parametrize("key", ["escape", "ctrl+c"])
async def test_arm_cancel_keys(key: str) -> None:
    app = Host(ArmScreen("prod-main", 15))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"why", key)
        await pilot.pause()
        assert app.results == [None]


async def test_arm_button_needs_a_reason() -> None:
    app = Host(ArmScreen("prod-main", 15))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        arm_button = app.screen.query_one("#arm", Button)
        assert not arm_button.disabled
        await pilot.click("#arm")
        await pilot.pause()
        assert app.results == ["x"]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 26), (160, 90)])
@pytest.mark.parametrize("preview_lines", [1, 6])
async def test_buttons_always_show_and_details_use_the_height_left(
    size: tuple[int, int], preview_lines: int
) -> None:
    details = tuple((f"item{i}", f"value {i}") for i in range(14))
    plan = make_plan(
        Risk.HIGH,
        preview="\n".join(f"line {i}" for i in range(preview_lines)),
        details=details,
        title="Roll back the container with a rather long name " * 2,
    )
    app = Host(ConfirmScreen(plan))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        screen = app.screen
        keys = screen.query_one("#keys")
        buttons = screen.query_one("#buttons")
        shown = screen.query_one("#details").region.height
        assert buttons.region.height > 0 and keys.region.bottom <= size[1]
        assert shown >= 3
        if size[1] >= 60:
            assert shown == len(details)  # a tall terminal shows all of it, no scrolling
