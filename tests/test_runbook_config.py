"""The `runbook:` section: strict reading, defaults, substitution rules, masking."""

from __future__ import annotations

import textwrap
from dataclasses import fields
from pathlib import Path

import pytest

from console.config import ConfigError, load_config, render_config
from console.config_runbook import RunbookActionConfig, reserved_keys
from console.runbook_actions import MissingParameter, preview_text, substitute

EXAMPLE = Path(__file__).resolve().parent.parent / "console" / "config.example.yaml"


def write(tmp_path: Path, runbook: str) -> Path:
    body = textwrap.indent(textwrap.dedent(runbook).strip("\n"), "      ")
    path = tmp_path / "config.yaml"
    path.write_text(f"targets:\n  t:\n    runbook:\n{body}\n")
    return path


def load(tmp_path: Path, runbook: str, env: dict[str, str] | None = None):
    return load_config(write(tmp_path, runbook), env=env or {}).target("t").runbook


def problems(tmp_path: Path, runbook: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, runbook)
    return str(info.value)


def test_defaults_and_resolved_values(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (action, rollback, sh) = load(
        tmp_path,
        """
        - name: restart
          argv: [docker, restart, "{container}"]
        - name: undo
          description: roll back web
          argv: [kubectl, rollout, undo, deployment/web]
          kind: rollback
          cwd: ~/ops
          env: {KUBECONFIG: /k, TOKEN: "${TOK}"}
          timeout: 20
          key: u
        - name: maint
          argv: ["echo on > /tmp/x"]
          shell: true
          cwd: scripts
          risk: high
        """,
        env={"TOK": "s3cret"},
    )
    assert action == RunbookActionConfig(name="restart", argv=("docker", "restart", "{container}"))
    assert action.risk == "low" and action.kind == "command" and action.timeout == 300.0
    assert action.params == ("container",)
    assert rollback.risk == "high"  # the default for a rollback
    assert rollback.cwd == tmp_path / "home" / "ops"
    assert rollback.env == (("KUBECONFIG", "/k"), ("TOKEN", "s3cret"))
    assert rollback.timeout == 20.0 and rollback.key == "u"
    assert sh.shell and sh.cwd == tmp_path / "scripts" and sh.risk == "high"


def test_env_values_are_masked_in_render_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        - name: deploy
          argv: [deploy]
          env: {API_TOKEN: "${TOK}", REGION: eu-west-1}
        """,
    )
    rendered = render_config(load_config(path, env={"TOK": "hunter2"}))
    assert "hunter2" not in rendered and "eu-west-1" not in rendered
    assert "API_TOKEN: '********'" in rendered and "REGION: '********'" in rendered


@pytest.mark.parametrize(
    ("runbook", "expected"),
    [
        ("- name: a\n  argv: [echo, '--name={container}']", "must be a whole argv element"),
        ("- name: a\n  argv: [echo, 'x{target}']", "{target} must be a whole argv element"),
        ("- name: a\n  argv: [echo, '{pod}']", "unknown parameter '{pod}'"),
        ("- name: a\n  argv: [echo, '{contianer}']", "did you mean '{container}'"),
        ("- name: a\n  argv: []", "non-empty list"),
        ("- name: a\n  argv: kubectl rollout undo", "expected a list of strings"),
        ("- name: a", "needs an `argv` list"),
        ("- argv: [true]", "needs a `name`"),
        ("- name: a\n  argv: [sh, -c]\n  shell: true", "exactly one string"),
        ("- name: a\n  argv: ['{container}']\n  shell: true", "cannot be used with `shell: true`"),
        ("- name: a\n  argv: [x]\n- name: a\n  argv: [y]", "duplicate action name 'a'"),
        ("- name: 'a b'\n  argv: [x]", "bad action name"),
        ("- name: a\n  argv: [x]\n  key: ctrl+x", "not chords"),
        ("- name: a\n  argv: [x]\n  key: q", "already used by the console"),
        ("- name: a\n  argv: [x]\n  key: R", "already used by the console"),
        ("- name: a\n  argv: [x]\n  key: ab", "one plain letter or digit"),
        ("- name: a\n  argv: [x]\n  key: m\n- name: b\n  argv: [y]\n  key: m", "already used by"),
        ("- name: a\n  argv: [x]\n  kind: undo", "unknown value 'undo'"),
        ("- name: a\n  argv: [x]\n  risk: medium", "unknown value 'medium'"),
        ("- name: a\n  argv: [x]\n  timeout: 0", "must be greater than 0"),
        ("- name: a\n  argv: [x]\n  env: {'A-B': x}", "bad variable name"),
        ("- name: a\n  argv: [x]\n  shel: true", "did you mean 'shell'"),
        (
            "- name: a\n  argv: [x]\n  kind: rollback\n- name: b\n  argv: [y]\n  kind: rollback",
            "only one rollback action per target",
        ),
        ("- just-a-string", "expected a mapping of action settings"),
        (
            "- name: a\n  argv: [x]\n  kind: rollback\n  risk: low",
            "a rollback is always high risk (its name is typed to confirm)",
        ),
    ],
)
def test_config_errors(tmp_path: Path, runbook: str, expected: str) -> None:
    message = problems(tmp_path, runbook)
    assert expected in message, message
    assert "config.yaml:" in message and "targets.t.runbook[" in message


def test_env_secret_is_not_echoed_in_errors(tmp_path: Path) -> None:
    message = problems(tmp_path, "- name: a\n  argv: [x]\n  env: {TOKEN: [hunter2]}")
    assert "hunter2" not in message and "expected a string value" in message


def test_reserved_keys_cover_global_and_screen_keys() -> None:
    keys = reserved_keys()
    assert {"1", "6", "q", "W", "R", "j", "k", "enter", "ctrl+c"} <= keys


def test_other_braces_are_literal(tmp_path: Path) -> None:
    (action,) = load(
        tmp_path,
        """
        - name: ps
          argv: [docker, ps, --format, "{{.Names}} {{.Status}}", "{container}"]
        """,
    )
    argv = substitute(action, {"container": "web"})
    assert argv == ("docker", "ps", "--format", "{{.Names}} {{.Status}}", "web")


def test_substitution_only_whole_elements() -> None:
    action = RunbookActionConfig(name="a", argv=("docker", "restart", "{container}", "{target}"))
    argv = substitute(action, {"container": "--force web; rm -rf /", "target": "prod"})
    # One element, verbatim: no splitting, no shell.
    assert argv == ("docker", "restart", "--force web; rm -rf /", "prod")
    assert preview_text(action, argv) == "docker restart '--force web; rm -rf /' prod"
    with pytest.raises(MissingParameter, match=r"needs \{container\}"):
        substitute(action, {"target": "prod"})


def test_shell_preview_is_called_out() -> None:
    action = RunbookActionConfig(name="a", argv=("echo $HOME | wc -c",), shell=True)
    assert preview_text(action, action.argv) == "/bin/sh -c 'echo $HOME | wc -c'    (shell: true)"


def test_example_config_mentions_every_runbook_setting(tmp_path: Path, monkeypatch) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = text.index("# --- runbook"), text.index("# --- end runbook ---")
    section = text[start:end]
    missing = [f.name for f in fields(RunbookActionConfig) if f"{f.name}:" not in section]
    assert missing == []
    monkeypatch.setenv("HOME", str(tmp_path))
    local = load_config(EXAMPLE, env={}).target("local")
    rollback, maint = local.runbook
    assert rollback.kind == "rollback" and rollback.risk == "high"
    assert maint.shell and maint.key == "m" and maint.cwd == EXAMPLE.parent / "scripts"


def test_rendered_config_reads_back(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        - name: undo
          description: roll back
          argv: [kubectl, rollout, undo, "{service}"]
          kind: rollback
          cwd: ops
          env: {A: b}
          key: u
        """,
    )
    config = load_config(path, env={})
    again = tmp_path / "again.yaml"
    again.write_text(render_config(config))
    (action,) = load_config(again, env={}).target("t").runbook
    (original,) = config.target("t").runbook
    assert action.env == (("A", "********"),)  # the value is masked, the name kept
    assert action == RunbookActionConfig(**{**_fields(original), "env": action.env})


def _fields(action: RunbookActionConfig) -> dict:
    return {f.name: getattr(action, f.name) for f in fields(RunbookActionConfig)}


def test_a_rollback_may_say_risk_high(tmp_path: Path) -> None:
    (action,) = load(tmp_path, "- name: a\n  argv: [x]\n  kind: rollback\n  risk: high")
    assert action.kind == "rollback" and action.risk == "high"
