"""The CLI starts fast because heavy libraries load only when a command needs them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "pandas", "matplotlib", "statsmodels", "scipy", "av", "PIL", "duckdb", "pyspark")

# One fresh interpreter walks through the commands from light to heavy, noting after each step which
# heavy libraries have been loaded so far.
PROBE = """
import json, sys
from typer.testing import CliRunner

HEAVY = {heavy!r}
seen = {{}}
def note(step):
    seen[step] = sorted({{name.split(".")[0] for name in sys.modules}} & set(HEAVY))

import shrinkvis
note("import shrinkvis")
from shrinkvis.cli import app
for args in (["--help"], ["list"], ["run", "--help"], ["batch", "--help"], ["validate", "baseline"]):
    assert CliRunner().invoke(app, args).exit_code == 0, args
note("help, list, validate")
result = CliRunner().invoke(app, ["run", "fewer_obs", "--out", {out!r}, "--format", "png",
                                  "--set", "animation.frames=3", "--set", "data.n_cluster=5"])
assert result.exit_code == 0, result.output
note("run --format png")
print(json.dumps(seen))
"""


def test_heavy_libraries_load_only_when_a_command_needs_them(tmp_path):
    code = PROBE.format(heavy=HEAVY, out=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["import shrinkvis"] == []
    assert seen["help, list, validate"] == []
    # a PNG needs the fit here and matplotlib in the drawing process (forked before anything heavy
    # loaded), not the video encoder; the exact engine needs neither statsmodels nor (where Newton
    # settles, as here) scipy
    assert {"numpy", "pandas"} <= set(seen["run --format png"])
    assert "matplotlib" not in seen["run --format png"]
    assert "statsmodels" not in seen["run --format png"]
    assert "scipy" not in seen["run --format png"]
    assert "av" not in seen["run --format png"]
    assert "duckdb" not in seen["run --format png"] and "pyspark" not in seen["run --format png"]


def test_the_console_command_itself_loads_no_heavy_library_before_a_command_needs_one():
    # main() wraps every command in the signal handling of shrinkvis.outputs: that must stay light
    code = f"import sys, shrinkvis.cli, shrinkvis.outputs; print(sorted(m for m in sys.modules if m in {HEAVY!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
