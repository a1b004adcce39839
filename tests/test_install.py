"""What the README's install commands promise: a plain install reads Parquet (through DuckDB), and the test
extra stays small (no pyspark, no pyarrow); the Spark test says in words why it skips without pyspark."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(requirements: list[str]) -> set[str]:
    return {
        requirement.split(">")[0].split("=")[0].split("[")[0].strip().lower() for requirement in requirements
    }


def test_the_test_extra_installs_neither_pyspark_nor_pyarrow():
    extras = _project()["optional-dependencies"]
    assert not _names(extras["test"]) & {"pyspark", "pyarrow"}
    assert "pyspark" in _names(extras["spark"])
    assert "mkdocs" in _names(extras["docs"])


def test_parquet_is_read_by_a_dependency_not_an_extra():
    assert "duckdb" in _names(_project()["dependencies"])
    assert "pyarrow" not in _names(_project()["dependencies"])


def test_the_spark_test_says_why_it_skips():
    source = (ROOT / "tests" / "test_aggregate_spark.py").read_text(encoding="utf-8")
    assert 'find_spec("pyspark") is None' in source
    assert "pyspark is not installed: the Spark test runs after pip install '.[spark]'" in source


def test_every_file_of_the_built_in_scenarios_ships_in_the_package():
    """A non-editable install carries only what package-data names: surgical.csv, baseball.csv and
    eight_schools.csv were left out ("scenarios/surgical.csv: no such file" after pip install .)."""
    from fnmatch import fnmatch

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["shrinkvis"]
    shipped = ROOT / "shrinkvis" / "scenarios"
    files = sorted(path.relative_to(ROOT / "shrinkvis").as_posix() for path in shipped.iterdir())
    assert any(name.endswith(".csv") for name in files)
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in package_data), f"{name} is not in package-data"
