"""Per-cluster sums of a Spark DataFrame: `groupBy(group).agg(...)` runs on the cluster, and only one row
per cluster comes back to this machine, where the REML fit runs. pyspark is imported here and only here.

The rows are read under the rules of `shrinkvis.reading`, as DuckDB's typed sources are (`rules.ReadRows`):
NULL, and NaN in a number, is missing; a number must be finite and representable; a group a label.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..fit.blocks import Blocks, SumsPlan
from ..fit.sums import ClusterSums
from ..reading import (
    MIN_GROUPS,
    NUMBER_PATTERN,
    check_columns,
    model_columns,
    not_a_number,
    not_labels,
    out_of_units,
    shown,
    too_few_groups,
    units_ok,
)
from .on_duckdb import CENTRE_ROWS
from .tables import blocks_table, ordered

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["spark_blocks", "spark_sums"]

NUMERIC_TYPES = ("byte", "short", "int", "bigint", "long", "float", "double", "decimal")
NOT_LABELS = ("array", "struct", "map", "binary")


def spark_sums(
    frame: DataFrame, *, y: str, group: str, x: str | None = None, name: str = "Spark DataFrame"
) -> ClusterSums:
    """Per-cluster sums of a Spark DataFrame, ready for `shrinkvis.fit.fit_sums`.

    Example: ``spark_sums(spark.read.parquet("s3://bucket/events/"), y="spend", x="visits", group="store")``.
    """
    from pyspark.sql import functions as F

    columns = model_columns(y, group, x, name)
    check_columns(frame.columns, columns, name, "the data have")
    types = dict(frame.dtypes)
    numbers = [y] + ([x] if x else [])
    gaps, values = [], []
    for column in numbers:
        gap, value = _number(column, types[column], name)
        gaps.append(gap)
        values.append(value)
    kind = types[group]
    if kind.startswith(NOT_LABELS):
        raise not_labels(name, group, kind)
    label = _col(group)
    gaps.append(label.isNull() | (F.isnan(label) if kind in ("float", "double") else F.lit(False)))
    gap = gaps[0]
    for other in gaps[1:]:
        gap = gap | other
    complete = ~gap
    _check_numbers(frame, complete, numbers, values, name)
    # the centre: the mean of the first complete rows, a typical value (see on_duckdb)
    head = frame.where(complete).limit(CENTRE_ROWS)
    centre = head.agg(F.avg(values[0]), F.avg(values[1]) if x else F.lit(0.0)).collect()[0]
    if centre[0] is None:
        raise too_few_groups(name, group, 0)
    centre_y, centre_x = float(centre[0]), float(centre[1])
    dy = F.when(complete, values[0] - F.lit(centre_y))
    sums = [
        F.count(F.lit(1)).alias("all_rows"),
        F.count(dy).alias("n"),
        F.sum(dy).alias("sy"),
        F.sum(dy * dy).alias("syy"),
    ]
    if x:
        dx = F.when(complete, values[1] - F.lit(centre_x))
        sums += [F.sum(dx).alias("sx"), F.sum(dx * dx).alias("sxx"), F.sum(dx * dy).alias("sxy")]
    summed = frame.groupBy(label.alias("label")).agg(*sums)
    with warnings.catch_warnings():
        # pyspark 4.x warns on every conversion that it does not fully support pandas 3: its business, not the user's
        warnings.simplefilter("ignore")
        table = summed.toPandas()
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    if len(table) < MIN_GROUPS:
        raise too_few_groups(name, group, len(table))
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
    complete = _col(plan.group).isNotNull()
    for column in summed:
        complete = complete & _col(column).isNotNull()
    values = [_col(column).cast("double") for column in summed]
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
    grouped = frame.groupBy(_col(plan.group).alias("label")).agg(*aggregates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in spark_sums
        table = grouped.toPandas()
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    return blocks_table(table, plan, centres, spreads, level, name), dropped


def _col(name: str) -> Column:
    """A column by its exact name: backticks keep Spark from reading `a.b` as a field b of a struct a."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _number(column: str, kind: str, name: str) -> tuple[Column, Column]:
    """(missing, value as double) of a number column; text is read by `NUMBER_PATTERN`."""
    from pyspark.sql import functions as F

    raw = _col(column)
    if kind == "string":
        text = F.trim(raw)
        return raw.isNull(), F.when(text.rlike(f"^{NUMBER_PATTERN}$"), text.cast("double"))
    if not kind.startswith(NUMERIC_TYPES):
        raise DataError(f"{name}: column {column!r} must hold numbers; it is a Spark {kind}")
    value = raw.cast("double")
    return raw.isNull() | F.isnan(value), value


def _check_numbers(
    frame: DataFrame, complete: Column, numbers: list[str], values: list[Any], name: str
) -> None:
    """The number rules on the complete rows, in one pass; a broken one names a row's value."""
    from pyspark.sql import functions as F

    finite = [value.isNotNull() & ~F.isnan(value) & (F.abs(value) < float("inf")) for value in values]
    checks = []
    for value, ok in zip(values, finite, strict=True):
        checks += [F.sum(F.when(complete & ~ok, 1).otherwise(0)), F.max(F.when(complete & ok, F.abs(value)))]
    found = frame.agg(*checks).collect()[0]
    for index, column in enumerate(numbers):
        bad, largest = found[2 * index], found[2 * index + 1] or 0.0
        if bad:
            value = frame.where(complete & ~finite[index]).select(_col(column)).first()[0]
            raise not_a_number(name, column, f"a row holds {shown(value)}")
        if not units_ok(largest):
            raise out_of_units(name, column, f"a row holds {shown(largest)}", largest)
