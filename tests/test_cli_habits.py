"""The habits of typer/click/rich programs: --version, -h, "did you mean", case-insensitive choices."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from shrinkvis.cli import app

runner = CliRunner()


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"shrinkvis {version('shrinkvis')}"


@pytest.mark.parametrize("command", [[], ["run"], ["fit"], ["batch"], ["explain"], ["validate"]])
def test_h_is_help_on_every_command(command):
    short = runner.invoke(app, [*command, "-h"])
    long = runner.invoke(app, [*command, "--help"])
    assert short.exit_code == 0, short.output
    assert short.output == long.output
    assert "Usage: " in short.output
