"""Per-cluster sums of a binomial or Poisson table by DuckDB (a glob, a directory or a large file): the
intercept-only model needs, per cluster, only successes and trials (events and exposure), and for its
log-likelihood the sum of each row's constant, log C(n, y) (binomial) or y log E − log y! (Poisson), and
its saturated log-likelihood (glmer's logLik at nAGQ > 1). One GROUP BY, which also counts the rows that
break the family's rules, so a bad row is reported in one line without the rows ever being in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data import cluster_order
from ..errors import DataError
from ..reading import MIN_GROUPS, data_files, quoted, sql_text, too_few_groups
from .on_duckdb import (
    SerialScanNeeded,
    _checked,
    _connection,
    _parquet_rows,
    _text_rows,
)
from .rules import FILE, ROW, ReadRows
from .tables import check_memory

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class RateSums:
    """One row per cluster in display order: `cluster`, `n_rows`, `events`, `size`, `constant`,
    `saturated`, and `truth` (the mean of the truth column) when one is named."""

    clusters: pd.DataFrame
    n_obs: int
    dropped_rows: int


def rate_sums(
    path: str | Path,
    *,
    family: str,
    y: str,
    group: str,
    size: str | None = None,
    truth: str | None = None,
) -> RateSums:
    """Sum a binomial (`size`: trials, or None for a 0/1 outcome) or Poisson (`size`: exposure, or None
    for 1 per row) table per cluster. The files are read under the rules of `shrinkvis.reading` (the same
    missing values, labels and numbers as every reader); the family's own rules are checked here."""
    name = str(path)
    others = tuple(column for column in (size, truth) if column is not None)
    columns = [y, group, *others]
    files, kind = data_files(path)
    with _connection(None) as con:
        if kind == "parquet":
            relation = _parquet_rows(con, files, columns, name)
            rows = ReadRows(
                relation,
                y,
                group,
                None,
                name,
                text=False,
                rows_of=lambda file: relation.filter(f"{FILE} = {sql_text(file)}"),
                others=others,
            )
            return _summed(rows.checked(), family, y, group, size, truth, name)
        for parallel in (True, False):
            try:
                return _summed(
                    _text_checked(con, files, columns, name, others, parallel),
                    family,
                    y,
                    group,
                    size,
                    truth,
                    name,
                )
            except SerialScanNeeded:
                if not parallel:
                    raise
    raise AssertionError("unreachable")


def _text_checked(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    columns: list[str],
    name: str,
    others: tuple[str, ...],
    parallel: bool,
) -> duckdb.DuckDBPyRelation:
    relation = _text_rows(con, files, columns, name, parallel=parallel)

    def rows_of(file: str) -> duckdb.DuckDBPyRelation:
        one = _text_rows(con, [Path(file)], columns, name, parallel=parallel)
        return one.query("r", f"SELECT *, row_number() OVER () - 1 AS {ROW} FROM r")

    return ReadRows(
        relation, columns[0], columns[1], None, name, text=True, rows_of=rows_of, others=others
    ).checked()


def _summed(
    relation: duckdb.DuckDBPyRelation,
    family: str,
    y: str,
    group: str,
    size: str | None,
    truth: str | None,
    name: str,
) -> RateSums:
    table = _checked(lambda: relation.query("src", _query(family, y, group, size, truth)).df(), name)
    dropped = int(table["all_rows"].sum() - table["n_rows"].sum())
    table = table[table["n_rows"] > 0]
    if len(table) < MIN_GROUPS:
        raise too_few_groups(name, group, len(table))
    _check_rules(table, family, y, size, name)
    check_memory(len(table), name)
    rank, labels = cluster_order(table["label"].reset_index(drop=True))
    order = np.argsort(rank, kind="stable")
    clusters = pd.DataFrame(
        {
            "cluster": labels,
            "n_rows": table["n_rows"].to_numpy()[order].astype(int),
            "events": table["events"].to_numpy(dtype=float)[order],
            "size": table["size"].to_numpy(dtype=float)[order],
            "constant": table["constant"].to_numpy(dtype=float)[order],
            "saturated": table["saturated"].to_numpy(dtype=float)[order],
        }
    )
    if truth is not None:
        clusters["truth"] = table["truth"].to_numpy(dtype=float)[order]
    return RateSums(clusters, int(clusters["n_rows"].sum()), dropped)


def _query(family: str, y: str, group: str, size: str | None, truth: str | None) -> str:
    g, yq = quoted(group), quoted(y)
    m = f"{quoted(size)}::DOUBLE" if size is not None else "1.0"
    yd = f"{yq}::DOUBLE"
    filled = [g, yq] + [quoted(column) for column in (size, truth) if column is not None]
    only = f"FILTER (WHERE {' AND '.join(f'{column} IS NOT NULL' for column in filled)})"
    if family == "binomial":
        # lgamma(n + 1) − lgamma(y + 1) − lgamma(n − y + 1); the saturated log-likelihood at p = y/n
        constant = f"lgamma({m} + 1) - lgamma({yd} + 1) - lgamma({m} - {yd} + 1)"
        saturated = (
            f"{constant} + CASE WHEN {yd} > 0 THEN {yd} * ln({yd} / {m}) ELSE 0 END + "
            f"CASE WHEN {m} - {yd} > 0 THEN ({m} - {yd}) * ln(({m} - {yd}) / {m}) ELSE 0 END"
        )
        bad_size = f"{m} <> round({m}) OR {yd} > {m}"
    else:
        constant = f"CASE WHEN {yd} > 0 THEN {yd} * ln({m}) ELSE 0 END - lgamma({yd} + 1)"
        # at μ = y the exposure drops out
        saturated = f"CASE WHEN {yd} > 0 THEN {yd} * ln({yd}) ELSE 0 END - {yd} - lgamma({yd} + 1)"
        bad_size = f"{m} <= 0"
    # a row that breaks a rule is counted (its terms may be NaN: they are never used then)
    sums = [
        "count(*) AS all_rows",
        f"count(*) {only} AS n_rows",
        f"sum({yd}) {only} AS events",
        f"sum({m}) {only} AS size",
        f"sum(CASE WHEN {yd} < 0 OR {yd} <> round({yd}) THEN 0 ELSE {constant} END) {only} AS constant",
        f"sum(CASE WHEN {yd} < 0 OR {yd} <> round({yd}) THEN 0 ELSE {saturated} END) {only} AS saturated",
        f"count(*) FILTER (WHERE {yd} < 0 OR {yd} <> round({yd})) AS bad_y",
        f"count(*) FILTER (WHERE {bad_size}) AS bad_size",
        f"max({yd}) {only} AS max_y",
    ]
    if truth is not None:
        sums.append(f"avg({quoted(truth)}::DOUBLE) {only} AS truth")
    return f"SELECT {g} AS label, {', '.join(sums)} FROM src GROUP BY {g}"


def _check_rules(table: pd.DataFrame, family: str, y: str, size: str | None, name: str) -> None:
    """The in-memory reader's rules (shrinkvis.rates.data), on the counts of rows that break them."""
    values = table[["events", "size", "constant", "saturated"]].to_numpy(dtype=float)
    if table["bad_y"].sum() > 0:
        raise DataError(f"{name}: column {y!r} must hold counts (whole numbers ≥ 0) for a {family} model")
    if family == "binomial" and size is None and table["max_y"].max() > 1:
        raise DataError(
            f"{name}: column {y!r} holds counts above 1; give the trials (data.trials, or cbind(y, n - y) "
            "in the formula) or a 0/1 outcome"
        )
    if table["bad_size"].sum() > 0:
        if family == "binomial":
            raise DataError(f"{name}: column {size!r} must hold whole numbers of trials, each at least {y!r}")
        raise DataError(f"{name}: column {size!r} must hold exposures above 0")
    if not np.all(np.isfinite(values)):
        raise DataError(f"{name}: a value is not a finite number (NaN or infinite)")
