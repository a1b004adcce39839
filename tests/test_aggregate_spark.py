"""The Spark path in local mode: a DataFrame's per-cluster sums on Spark equal DuckDB's of the same rows."""

from __future__ import annotations

import importlib.util
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from shrinkvis.aggregate import duckdb_sums, spark_sums
from shrinkvis.fit.sums import fit_sums

from .conftest import load_reference
from .corpus import write_parquet

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None,
        reason="pyspark is not installed: the Spark test runs after pip install '.[spark]' (491 MB, "
        "so the test extra leaves it out)",
    ),
    pytest.mark.skipif(
        shutil.which("java") is None, reason="Spark needs Java (apt-get install openjdk-17-jre-headless)"
    ),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_sums_equal_duckdb_sums_and_fit_the_same(spark):
    data, _ = load_reference("baseline_s1")
    rows = data.rename(columns={"y": "spend", "x": "visits", "cluster": "store"}).astype({"spend": object})
    rows.loc[5, "spend"] = None  # a missing value: counted, left out
    frame = spark.createDataFrame(
        list(rows.itertuples(index=False)), "spend double, visits double, store string"
    )
    summed = spark_sums(frame, y="spend", x="visits", group="store")
    reference = duckdb_sums(
        duckdb.connect().from_df(rows.astype({"spend": float})), y="spend", x="visits", group="store"
    )
    assert summed.dropped_rows == reference.dropped_rows == 1
    assert summed.n_obs == len(rows) - 1
    assert list(summed.labels) == list(reference.labels)
    assert summed.stats.centre_y == pytest.approx(reference.stats.centre_y, rel=1e-12)
    assert np.array_equal(summed.stats.n, reference.stats.n)
    for field in ("sy", "syy", "sx", "sxx", "sxy"):
        assert np.allclose(
            getattr(summed.stats, field), getattr(reference.stats, field), rtol=1e-9, atol=1e-9
        ), field
    on_spark, on_duckdb = fit_sums(summed), fit_sums(reference)
    assert on_spark.fixed_effects == pytest.approx(on_duckdb.fixed_effects, rel=1e-9)
    assert np.allclose(on_spark.clusters["partial_slope"], on_duckdb.clusters["partial_slope"], rtol=1e-9)


def test_spark_blocks_equal_duckdb_blocks(spark, tmp_path):
    """Any model whose terms are columns: Spark's blocks are DuckDB's, and so is the fit."""
    from pathlib import Path

    import pandas as pd

    from shrinkvis.aggregate.on_duckdb import file_blocks
    from shrinkvis.aggregate.on_spark import spark_blocks
    from shrinkvis.fit.blocks import sums_plan
    from shrinkvis.fit.model_fit import fit_blocks
    from shrinkvis.model import parse_model

    rows = pd.read_csv(Path(__file__).parent / "data" / "lme4_class" / "class.csv")
    rows = rows[["y", "x1", "x2", "x3", "cluster"]].astype({"x2": object})
    rows.loc[7, "x2"] = None
    parsed = parse_model("y ~ x1 + x2 + x3 + (1 + x1 | cluster)")
    plan = sums_plan(parsed)
    frame = spark.createDataFrame(
        list(rows.itertuples(index=False)), "y double, x1 double, x2 double, x3 double, cluster string"
    )
    on_spark, dropped = spark_blocks(frame, plan)
    path = tmp_path / "rows.parquet"
    write_parquet(rows.astype({"x2": float}), path)
    on_duckdb, dropped_duckdb = file_blocks(path, plan)
    assert dropped == dropped_duckdb == 1
    np.testing.assert_array_equal(on_spark.labels, on_duckdb.labels)
    np.testing.assert_allclose(on_spark.cross, on_duckdb.cross, rtol=1e-10, atol=1e-9)
    first, second = fit_blocks(on_spark, parsed), fit_blocks(on_duckdb, parsed)
    assert first.mixed.criterion == pytest.approx(second.mixed.criterion, abs=1e-8)


def test_names_with_a_dot_or_a_backtick_and_the_reading_rules(spark):
    """Spark read `a.b` as a field of a struct and crashed; NaN is missing and inf an error, as DuckDB's."""
    import math

    from shrinkvis.errors import DataError

    rows = [(float(k % 7) + 0.5 * (k % 3), float(k % 3), f"g{k % 4}") for k in range(40)]
    rows[3] = (math.nan, 1.0, "g3")
    frame = spark.createDataFrame(rows, "`y.v` double, `x``b` double, `g.1` string")
    summed = spark_sums(frame, y="y.v", x="x`b", group="g.1")
    rows_in_memory = pd.DataFrame(rows, columns=["y.v", "x`b", "g.1"])
    reference = duckdb_sums(duckdb.connect().from_df(rows_in_memory), y="y.v", x="x`b", group="g.1")
    assert summed.dropped_rows == reference.dropped_rows == 1
    assert list(summed.labels) == list(reference.labels) == ["g0", "g1", "g2", "g3"]
    assert np.allclose(summed.stats.sy, reference.stats.sy, rtol=1e-12, atol=1e-12)
    rows[5] = (math.inf, 1.0, "g1")
    with pytest.raises(DataError, match=r"Spark DataFrame: column 'y.v' must hold numbers; a row holds inf"):
        spark_sums(spark.createDataFrame(rows, "`y.v` double, x double, g string"), y="y.v", x="x", group="g")
    listed = spark.createDataFrame([(1.0, [1]), (2.0, [2])], "y double, g array<int>")
    with pytest.raises(DataError, match="column 'g' must hold group labels .* it holds lists"):
        spark_sums(listed, y="y", group="g")
