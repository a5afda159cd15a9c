"""Colour themes: data only. Stylesheets refer to `$variables`, never to colours."""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

STYLESHEET = Path(__file__).with_name("app.tcss")

OPS_DARK = Theme(
    name="ops-dark",
    primary="#5fafd7",
    secondary="#87afaf",
    accent="#d7af5f",
    warning="#d7af00",
    error="#ff5f5f",
    success="#5fd75f",
    foreground="#d0d0d0",
    background="#121212",
    surface="#1c1c1c",
    panel="#262626",
    dark=True,
    variables={
        "footer-key-foreground": "#d7af5f",
        "block-cursor-background": "#005f87",
        "block-cursor-foreground": "#ffffff",
    },
)

OPS_LIGHT = Theme(
    name="ops-light",
    primary="#005f87",
    secondary="#5f8787",
    accent="#875f00",
    warning="#875f00",
    error="#af0000",
    success="#005f00",
    foreground="#1c1c1c",
    background="#f5f5f5",
    surface="#e4e4e4",
    panel="#d0d0d0",
    dark=False,
    variables={
        "block-cursor-background": "#0087af",
        "block-cursor-foreground": "#ffffff",
    },
)

#: For low-colour terminals and bright rooms: pure colours, maximum contrast.
OPS_CONTRAST = Theme(
    name="ops-contrast",
    primary="#00ffff",
    secondary="#ffffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff0000",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    dark=True,
    variables={
        "block-cursor-background": "#ffff00",
        "block-cursor-foreground": "#000000",
    },
)

THEMES: tuple[Theme, ...] = (OPS_DARK, OPS_LIGHT, OPS_CONTRAST)
THEME_NAMES: tuple[str, ...] = tuple(t.name for t in THEMES)
DEFAULT_THEME = OPS_DARK.name
