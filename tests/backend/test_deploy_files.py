"""The deployment examples in deploy/ stay true to the code: every setting the environment file
names exists and its value is valid, and every command line runs ``labelshare serve`` with
options it has. (The process layout itself runs in test_replicas.py: two ``labelshare serve``
processes on one PostgreSQL database.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelshare.cli import app
from labelshare.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _env_example() -> dict[str, str]:
    """Every ``LABELSHARE_*=value`` line, commented out or not."""
    lines = (DEPLOY / "labelshare.env.example").read_text().splitlines()
    return dict(line.lstrip("# ").split("=", 1) for line in lines if re.match(r"#?\s*LABELSHARE_\w+=", line))


def test_envExample_namesOnlySettingsThatExist_withValidValues(monkeypatch):
    env = _env_example()
    unknown = [name for name in env if name.removeprefix("LABELSHARE_").lower() not in Settings.model_fields]
    assert not unknown, f"deploy/labelshare.env.example names settings that do not exist: {unknown}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # validates every value as the service would at start-up
    assert settings.chain_id == 84532 and not settings.allow_dev_keys
    assert settings.max_fee_gwei is not None and settings.verifier_keystore is not None


def _commands() -> list[list[str]]:
    procfile = [line.split(":", 1)[1] for line in (DEPLOY / "Procfile").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    units = [line.split("=", 1)[1] for unit in (DEPLOY / "systemd").glob("*.service")
             for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    return [shlex.split(command) for command in procfile + units]


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c))
def test_deployCommands_runLabelshareServe_withItsOptions(command):
    assert Path(command[0]).name == "labelshare" and command[1] == "serve", command
    help_text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    for option in (arg for arg in command[2:] if arg.startswith("--")):
        assert option in help_text, f"`labelshare serve` has no {option} option"
