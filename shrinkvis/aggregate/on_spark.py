"""Per-cluster sums of a Spark DataFrame: `groupBy(group).agg(...)` runs on the cluster, and only one row
per cluster comes back to this machine, where the REML fit runs. pyspark is imported here and only here.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..fit.blocks import Blocks, SumsPlan
from ..fit.sums import ClusterSums
from .on_duckdb import CENTRE_ROWS
from .tables import blocks_table, check_columns, ordered

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["spark_blocks", "spark_sums"]

NUMERIC_TYPES = ("byte", "short", "int", "bigint", "long", "float", "double", "decimal")


def spark_sums(
    frame: DataFrame, *, y: str, group: str, x: str | None = None, name: str = "Spark DataFrame"
) -> ClusterSums:
    """Per-cluster sums of a Spark DataFrame, ready for `shrinkvis.fit.fit_sums`.

    Example: ``spark_sums(spark.read.parquet("s3://bucket/events/"), y="spend", x="visits", group="store")``.
    """
    from pyspark.sql import functions as F

    check_columns(frame.columns, [y, group] + ([x] if x else []), name)
    types = dict(frame.dtypes)
    for column in [y] + ([x] if x else []):
        if not types[column].startswith(NUMERIC_TYPES):
            raise DataError(f"{name}: column {column!r} must hold numbers; it is a Spark {types[column]}")
    complete = F.col(group).isNotNull() & F.col(y).isNotNull()
    if x:
        complete = complete & F.col(x).isNotNull()
    # the centre: the mean of the first complete rows, a typical value (see on_duckdb)
    head = frame.where(complete).limit(CENTRE_ROWS)
    centre = head.agg(
        F.avg(F.col(y).cast("double")), F.avg(F.col(x).cast("double")) if x else F.lit(0.0)
    ).collect()[0]
    if centre[0] is None:
        raise DataError(
            f"{name}: no row has the columns {y!r}, {group!r}{f', {x!r}' if x else ''} all filled in"
        )
    centre_y, centre_x = float(centre[0]), float(centre[1])
    dy = F.when(complete, F.col(y).cast("double") - F.lit(centre_y))
    sums = [
        F.count(F.lit(1)).alias("all_rows"),
        F.count(dy).alias("n"),
        F.sum(dy).alias("sy"),
        F.sum(dy * dy).alias("syy"),
    ]
    if x:
        dx = F.when(complete, F.col(x).cast("double") - F.lit(centre_x))
        sums += [F.sum(dx).alias("sx"), F.sum(dx * dx).alias("sxx"), F.sum(dx * dy).alias("sxy")]
    summed = frame.groupBy(F.col(group).alias("label")).agg(*sums)
    with warnings.catch_warnings():
        # pyspark 4.x warns on every conversion that it does not fully support pandas 3: its business, not the user's
        warnings.simplefilter("ignore")
        table = summed.toPandas()
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    return ordered(table, centre_y, centre_x, dropped, x is not None, name)


def spark_blocks(frame: DataFrame, plan: SumsPlan, *, name: str = "Spark DataFrame") -> tuple[Blocks, int]:
    """The per-cluster blocks (fit/blocks.py) of a Spark DataFrame for a model whose terms are numeric
    columns, and the rows left out for a missing value; the same sums as `on_duckdb.duckdb_blocks`.

    Example: ``fit_blocks(*spark_blocks(frame, sums_plan(parse_model("y ~ x1 + x2 + (x1 | g)"))))``.
    """
    from pyspark.sql import functions as F

    summed = plan.summed
    check_columns(frame.columns, [*summed, plan.group], name)
    types = dict(frame.dtypes)
    for column in summed:
        if not types[column].startswith(NUMERIC_TYPES):
            raise DataError(f"{name}: column {column!r} must hold numbers; it is a Spark {types[column]}")
    complete = F.col(plan.group).isNotNull()
    for column in summed:
        complete = complete & F.col(column).isNotNull()
    values = [F.col(column).cast("double") for column in summed]
    head = frame.where(complete).limit(CENTRE_ROWS)
    first = head.agg(*[f(v) for v in values for f in (F.avg, F.stddev_pop)]).collect()[0]
    if first[0] is None:
        raise DataError(f"{name}: no row has {', '.join(map(repr, [*summed, plan.group]))} all filled in")
    means, spreads = np.array(first[0::2], dtype=float), np.array(first[1::2], dtype=float)
    level = spreads == 0.0
    centres = np.where(level, 0.0, means)
    spreads = np.where(level, np.abs(means), spreads)
    d = [F.when(complete, v - F.lit(float(c))) for v, c in zip(values, centres, strict=True)]
    k = len(summed)
    aggregates = [F.count(F.lit(1)).alias("all_rows"), F.count(d[0]).alias("n")]
    aggregates += [F.sum(d[a]).alias(f"s{a}") for a in range(k)]
    aggregates += [F.sum(d[a] * d[b]).alias(f"p{a}_{b}") for a in range(k) for b in range(a, k)]
    for a in range(k):
        kept = F.when(complete, values[a])
        aggregates += [F.min(kept).alias(f"lo{a}"), F.max(kept).alias(f"hi{a}")]
    grouped = frame.groupBy(F.col(plan.group).alias("label")).agg(*aggregates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in spark_sums
        table = grouped.toPandas()
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    return blocks_table(table, plan, centres, spreads, level, name), dropped
