"""Per-cluster sums by DuckDB: files of any size (CSV or Parquet, one file, a glob or a directory), a
DuckDB relation or a SQL query.

DuckDB streams over the rows with all cores and spills to disk when the groups outgrow memory, so memory
follows the number of clusters, not of rows. Two queries: a centre (the mean of the first rows, a
typical value of y and x) and one GROUP BY that sums y − c_y and x − c_x, their squares and product, and
counts the rows left out for a missing value. duckdb is imported here and only here.
"""

from __future__ import annotations

import contextlib
import glob
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..fit.blocks import Blocks, SumsPlan
from ..fit.sums import ClusterSums
from .tables import blocks_table, check_columns, ordered

if TYPE_CHECKING:
    import duckdb

__all__ = ["duckdb_sums", "file_sums"]

CENTRE_ROWS = 100_000  # rows whose mean is the centre: any typical value serves, and the first rows are cheap
PROGRESS_SECONDS = 0.25
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "U")


def duckdb_sums(
    source: duckdb.DuckDBPyRelation | str,
    *,
    y: str,
    group: str,
    x: str | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    name: str = "query",
) -> ClusterSums:
    """Per-cluster sums of a DuckDB relation, or of a SQL query (run on `connection`, default: a new
    in-memory database), ready for `shrinkvis.fit.fit_sums`.

    Example: ``duckdb_sums("SELECT * FROM 'events/*.parquet' WHERE year = 2025", y="spend", x="visits",
    group="store")``.
    """
    if isinstance(source, str):
        with _connection(connection) as con:
            return _sums(_checked(lambda: con.sql(source), name), y=y, group=group, x=x, name=name)
    return _sums(source, y=y, group=group, x=x, name=name)


def file_sums(
    path: str | Path,
    *,
    y: str,
    group: str,
    x: str | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> ClusterSums:
    """Per-cluster sums of a CSV or Parquet file, a glob of them (``events/*.parquet``) or a directory.

    `on_progress` hears the share of the group-by done, in percent, a few times a second."""
    pattern, kind = _files(Path(path))
    source = str(path)
    with _connection(connection) as con:
        if kind == "parquet":
            relation = _checked(lambda: con.read_parquet(pattern, union_by_name=True), source)
        else:
            sniffed = _checked(lambda: con.read_csv(pattern, header=True), source)
            check_columns(sniffed.columns, [y, group] + ([x] if x else []), source)
            # group labels stay the text in the file ("007" is not 7), as the in-memory reader keeps them
            relation = _checked(lambda: con.read_csv(pattern, header=True, dtype={group: "VARCHAR"}), source)
        progress = (con, on_progress) if on_progress is not None else None
        return _sums(relation, y=y, group=group, x=x, name=source, progress=progress)


def _files(path: Path) -> tuple[str, str]:
    """The DuckDB file pattern for a path, glob or directory, and whether it is Parquet or CSV."""
    text = str(path)
    if path.is_dir():
        for kind, suffixes in (("parquet", ("parquet", "pq")), ("csv", ("csv", "tsv", "txt"))):
            for suffix in suffixes:
                if next(path.rglob(f"*.{suffix}"), None) is not None:
                    return str(path / "**" / f"*.{suffix}"), kind
        raise DataError(f"{path}: a directory without .parquet or .csv files")
    if any(char in text for char in "*?["):
        if not glob.glob(text, recursive=True):
            raise DataError(f"{path}: no file matches")
    elif not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    kind = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
    return text, kind


@contextlib.contextmanager
def _connection(connection: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection, or a new in-memory one that spills to a temporary folder of its own."""
    if connection is not None:
        yield connection
        return
    import duckdb

    from ..outputs import signals_deferred, temporary_folder

    with temporary_folder("shrinkvis-duckdb-") as spill:
        con = None
        try:
            with signals_deferred():  # no signal between connecting and the `finally` that closes
                con = duckdb.connect(config={"temp_directory": str(spill)})
            # progress measured (for `query_progress`; DuckDB's default depends on the terminal) but not
            # printed: DuckDB's own bar would go to stdout, where `fit --json` prints exactly one JSON object
            con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
            yield con
        finally:
            with signals_deferred():  # closed before its spill folder goes, even if a signal lands now
                if con is not None:
                    con.close()


def _sums(
    relation: duckdb.DuckDBPyRelation,
    *,
    y: str,
    group: str,
    x: str | None,
    name: str,
    progress: tuple[duckdb.DuckDBPyConnection, Callable[[float], None]] | None = None,
) -> ClusterSums:
    columns = [y, group] + ([x] if x else [])
    check_columns(relation.columns, columns, name)
    types = dict(zip(relation.columns, map(str, relation.types), strict=True))
    for column in [y] + ([x] if x else []):
        if not types[column].startswith(NUMERIC_TYPES):
            raise DataError(f"{name}: column {column!r} must hold numbers; it is read as {types[column]}")
    g, yq = _quote(group), _quote(y)
    xq = _quote(x) if x else None
    complete = f"{g} IS NOT NULL AND {yq} IS NOT NULL" + (f" AND {xq} IS NOT NULL" if xq else "")
    centre_sql = (
        f"SELECT avg({yq}::DOUBLE), {f'avg({xq}::DOUBLE)' if xq else '0.0'} "
        f"FROM (SELECT * FROM src WHERE {complete} LIMIT {CENTRE_ROWS})"
    )
    centre_y, centre_x = _checked(lambda: relation.query("src", centre_sql).fetchall()[0], name)
    if centre_y is None:
        raise DataError(f"{name}: no row has {', '.join(map(repr, columns))} all filled in")
    dy = f"({yq}::DOUBLE - {float(centre_y)!r})"
    dx = f"({xq}::DOUBLE - {float(centre_x)!r})" if xq else None
    # rows with a missing value in a model column are counted per group, then left out of the sums
    only = f"FILTER (WHERE {complete})"
    sums = [f"count(*) {only} AS n", f"sum({dy}) {only} AS sy", f"sum({dy} * {dy}) {only} AS syy"]
    if dx:
        sums += [
            f"sum({dx}) {only} AS sx",
            f"sum({dx} * {dx}) {only} AS sxx",
            f"sum({dx} * {dy}) {only} AS sxy",
        ]
    group_sql = f"SELECT {g} AS label, count(*) AS all_rows, {', '.join(sums)} FROM src GROUP BY {g}"
    table = _checked(lambda: _watched(lambda: relation.query("src", group_sql).df(), progress), name)
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    return ordered(table, float(centre_y), float(centre_x), dropped, x is not None, name)


def _watched(query: Callable[[], Any], progress: tuple[Any, Callable[[float], None]] | None) -> Any:
    """Run a query in a thread while this one reports its progress (DuckDB's `query_progress`)."""
    if progress is None:
        return query()
    con, report = progress
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = query()
        except BaseException as exc:  # handed to the waiting thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="shrinkvis-duckdb", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(PROGRESS_SECONDS)
            done = con.query_progress()
            if done >= 0:
                report(done)
    except BaseException:
        con.interrupt()  # an interrupt here stops the query there, then waits for it
        worker.join()
        raise
    if "error" in result:
        raise result["error"]
    return result["value"]


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _checked(step: Any, name: str) -> Any:
    """Run a DuckDB step; its errors become one line naming the data."""
    import duckdb

    try:
        return step()
    except duckdb.OutOfMemoryException:
        raise DataError(
            f"{name}: the per-cluster sums do not fit in DuckDB's memory limit, even spilling to disk; "
            "sum them across machines (shrinkvis.aggregate.spark_sums)"
        ) from None
    except duckdb.Error as exc:
        text = str(exc).strip().splitlines()
        raise DataError(f"{name}: {text[0] if text else type(exc).__name__}") from None


# ---------------------------------------------------------------------------------------------------------
# Blocks for any model whose terms are numeric columns (fit/blocks.py): n, Σ(v − c), Σ(v − c)(v' − c')


def file_blocks(
    path: str | Path,
    plan: SumsPlan,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[Blocks, int]:
    """The per-cluster blocks of a CSV or Parquet file, glob or directory, and the rows left out for a
    missing value."""
    pattern, kind = _files(Path(path))
    source = str(path)
    with _connection(connection) as con:
        if kind == "parquet":
            relation = _checked(lambda: con.read_parquet(pattern, union_by_name=True), source)
        else:
            sniffed = _checked(lambda: con.read_csv(pattern, header=True), source)
            check_columns(sniffed.columns, [*plan.summed, plan.group], source)
            relation = _checked(
                lambda: con.read_csv(pattern, header=True, dtype={plan.group: "VARCHAR"}), source
            )
        progress = (con, on_progress) if on_progress is not None else None
        return duckdb_blocks(relation, plan, name=source, progress=progress)


def duckdb_blocks(
    relation: duckdb.DuckDBPyRelation,
    plan: SumsPlan,
    *,
    name: str = "query",
    progress: tuple[duckdb.DuckDBPyConnection, Callable[[float], None]] | None = None,
) -> tuple[Blocks, int]:
    """The per-cluster blocks of a DuckDB relation: a centre and a spread per column from the first rows,
    then one GROUP BY of the sums and sums of products measured from the centres."""
    summed = plan.summed
    check_columns(relation.columns, [*summed, plan.group], name)
    types = dict(zip(relation.columns, map(str, relation.types), strict=True))
    for column in summed:
        if not types[column].startswith(NUMERIC_TYPES):
            raise DataError(f"{name}: column {column!r} must hold numbers; it is read as {types[column]}")
    quoted = [f"{_quote(column)}::DOUBLE" for column in summed]
    complete = " AND ".join(f"{_quote(column)} IS NOT NULL" for column in [*summed, plan.group])
    first = ", ".join(f"avg({q}), stddev_pop({q})" for q in quoted)
    head = _checked(
        lambda: relation.query(
            "src", f"SELECT {first} FROM (SELECT * FROM src WHERE {complete} LIMIT {CENTRE_ROWS})"
        ).fetchall()[0],
        name,
    )
    if head[0] is None:
        raise DataError(f"{name}: no row has {', '.join(map(repr, [*summed, plan.group]))} all filled in")
    means, spreads = np.array(head[0::2], dtype=float), np.array(head[1::2], dtype=float)
    level = (
        spreads == 0.0
    )  # one value in the first rows: summed as it is (its min and max say if it stays so)
    centres = np.where(level, 0.0, means)
    spreads = np.where(level, np.abs(means), spreads)
    d = [f"({q} - {float(c)!r})" for q, c in zip(quoted, centres, strict=True)]
    only = f"FILTER (WHERE {complete})"
    k = len(summed)
    aggregates = [f"count(*) {only} AS n"]
    aggregates += [f"sum({d[a]}) {only} AS s{a}" for a in range(k)]
    aggregates += [f"sum({d[a]} * {d[b]}) {only} AS p{a}_{b}" for a in range(k) for b in range(a, k)]
    aggregates += [f"min({quoted[a]}) {only} AS lo{a}, max({quoted[a]}) {only} AS hi{a}" for a in range(k)]
    g = _quote(plan.group)
    sql = f"SELECT {g} AS label, count(*) AS all_rows, {', '.join(aggregates)} FROM src GROUP BY {g}"
    table = _checked(lambda: _watched(lambda: relation.query("src", sql).df(), progress), name)
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    return blocks_table(table, plan, centres, spreads, level, name), dropped
