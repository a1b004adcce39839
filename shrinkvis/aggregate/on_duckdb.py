"""Per-cluster sums by DuckDB: files of any size (CSV or Parquet, one file, a glob or a directory), a
DuckDB relation or a SQL query.

DuckDB streams over the rows with all cores and spills to disk when the groups outgrow memory, so memory
follows the number of clusters, not of rows. Two queries: a centre (the mean of the first rows, a
typical value of y and x) and one GROUP BY that sums y − c_y and x − c_x, their squares and product, and
counts the rows left out for a missing value. duckdb is imported here and only here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data import detect_delimiter, header_names
from ..errors import DataError
from ..fit.blocks import Blocks, SumsPlan
from ..fit.sums import ClusterSums
from ..reading import (
    MIN_GROUPS,
    check_columns,
    data_files,
    engine_reason,
    model_columns,
    quoted,
    sql_text,
    too_few_groups,
    too_many_fields,
)
from .rules import COMMA, FILE, NUMBER_TYPES, ROW, ReadRows
from .tables import blocks_table, ordered

if TYPE_CHECKING:
    import duckdb

__all__ = ["duckdb_sums", "file_sums"]

CENTRE_ROWS = 100_000  # rows whose mean is the centre: any typical value serves, and the first rows are cheap
PROGRESS_SECONDS = 0.25


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
    model_columns(y, group, x, name)
    if isinstance(source, str):
        with _connection(connection) as con:
            relation = _checked(lambda: con.sql(source), name)
            return _sums(_typed_rows(relation, y, group, x, name), y=y, group=group, x=x, name=name)
    return _sums(_typed_rows(source, y, group, x, name), y=y, group=group, x=x, name=name)


def _typed_rows(
    relation: duckdb.DuckDBPyRelation, y: str, group: str, x: str | None, name: str
) -> duckdb.DuckDBPyRelation:
    check_columns(relation.columns, model_columns(y, group, x, name), name, "the data have")
    return ReadRows(relation, y, group, x, name, text=False).checked()


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

    Every file is read under the rules of `shrinkvis.reading` (columns by name in each file, the same
    missing values, labels and numbers as the in-memory reader). `on_progress` hears the share of the
    group-by done, in percent, a few times a second."""
    source = str(path)
    columns = model_columns(y, group, x, source)
    files, kind = data_files(path)
    with _connection(connection) as con:
        if kind == "parquet":
            relation = _parquet_rows(con, files, columns, source)
            rows_of = lambda file: relation.filter(f"{FILE} = {sql_text(file)}")  # noqa: E731
            rows = ReadRows(relation, y, group, x, source, text=False, rows_of=rows_of)
            return _sums(
                rows.checked(), y=y, group=group, x=x, name=source, progress=_progress(con, on_progress)
            )
        try:
            return _text_sums(con, files, columns, source, on_progress, parallel=True)
        except SerialScanNeeded:
            # DuckDB's parallel CSV scanner cannot pad short rows in a file with a line break inside quotes
            return _text_sums(con, files, columns, source, on_progress, parallel=False)


def _progress(
    con: duckdb.DuckDBPyConnection, on_progress: Callable[[float], None] | None
) -> tuple[duckdb.DuckDBPyConnection, Callable[[float], None]] | None:
    return (con, on_progress) if on_progress is not None else None


def _text_sums(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    columns: list[str],
    source: str,
    on_progress: Callable[[float], None] | None,
    *,
    parallel: bool,
) -> ClusterSums:
    y, group, x = columns[0], columns[1], columns[2] if len(columns) > 2 else None
    relation = _text_rows(con, files, columns, source, parallel=parallel)

    def rows_of(file: str) -> duckdb.DuckDBPyRelation:
        one = _text_rows(con, [Path(file)], columns, source, parallel=parallel)
        return one.query("r", f"SELECT *, row_number() OVER () - 1 AS {ROW} FROM r")

    rows = ReadRows(relation, y, group, x, source, text=True, rows_of=rows_of)
    return _sums(rows.checked(), y=y, group=group, x=x, name=source, progress=_progress(con, on_progress))


def _text_rows(
    con: duckdb.DuckDBPyConnection, files: list[Path], columns: list[str], source: str, *, parallel: bool
) -> duckdb.DuckDBPyRelation:
    """The model columns of text files as text, matched by name in each file's header (read by the same
    code as the in-memory reader's), plus each row's file. DuckDB only splits the fields: the names come
    from our header, so its renaming ("Y" beside "y" becomes "Y_1") never decides a column."""
    layouts: dict[tuple[str, int, tuple[int, ...]], list[Path]] = {}
    for file in files:
        if file.stat().st_size == 0:
            raise DataError(f"{file}: the file is empty")
        delimiter = detect_delimiter(file)
        names = header_names(file, delimiter)
        check_columns(names, columns, str(file))
        positions = tuple(names.index(column) for column in columns)
        layouts.setdefault((delimiter, len(names), positions), []).append(file)
    parts = []
    for (delimiter, width, positions), group_files in layouts.items():
        listed_files = ", ".join(sql_text(str(file)) for file in group_files)
        # every column as text, by position; nothing left for DuckDB to guess (its sniffer took 60 s on a
        # header of 100,000 names)
        every = ", ".join(f"'c{index}': 'VARCHAR'" for index in range(width))
        read = (
            f"read_csv([{listed_files}], header = true, auto_detect = false, columns = {{{every}}}, "
            f"delim = {sql_text(delimiter)}, quote = '\"', escape = '\"', null_padding = true, "
            f"filename = true, encoding = 'utf-8', parallel = {str(parallel).lower()})"
        )
        picked = ", ".join(
            f"c{position} AS {quoted(column)}" for position, column in zip(positions, columns, strict=True)
        )
        comma = "true" if delimiter == ";" else "false"
        parts.append(f"SELECT {picked}, filename AS {FILE}, {comma} AS {COMMA} FROM {read}")
    return _checked(lambda: con.sql(" UNION ALL ".join(parts)), source)


def _parquet_rows(
    con: duckdb.DuckDBPyConnection, files: list[Path], columns: list[str], source: str
) -> duckdb.DuckDBPyRelation:
    """The model columns of Parquet files, matched by name in each file's schema."""
    for file in files:
        check_columns(parquet_columns(con, file), columns, str(file))
    listed_files = ", ".join(sql_text(str(file)) for file in files)
    picked = ", ".join(quoted(column) for column in columns)
    return _checked(
        lambda: con.sql(
            f"SELECT {picked}, filename AS {FILE}, file_row_number AS {ROW} FROM read_parquet([{listed_files}], "
            "union_by_name = true, filename = true, file_row_number = true)"
        ),
        source,
    )


def parquet_columns(con: duckdb.DuckDBPyConnection, file: Path) -> list[str]:
    """The top-level column names of a Parquet file (its schema lists nested fields too)."""
    rows = _checked(
        lambda: con.sql(f"SELECT name, num_children FROM parquet_schema({sql_text(str(file))})").fetchall(),
        str(file),
    )
    names: list[str] = []
    pending = 0  # nested fields still to skip
    for name, children in rows[1:]:  # the first row is the schema's root
        if pending:
            pending += (children or 0) - 1
            continue
        names.append(name)
        pending = children or 0
    return names


SPILL_PREFIX = "shrinkvis-duckdb-"


class SerialScanNeeded(DataError):
    """DuckDB's parallel CSV scanner refused a file that its serial scanner reads."""


@contextlib.contextmanager
def _connection(connection: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection, or a new in-memory one that spills to a temporary folder of its own.

    The folder is made and removed with the terminating signals held back, so no signal finds it made
    but not yet in the `try` (or closed but not yet removed); its name carries this process's id, and a
    folder whose process is gone (killed with SIGKILL) is removed by the next run."""
    if connection is not None:
        yield connection
        return
    import duckdb

    from ..outputs import signals_blocked

    spill, con = None, None
    try:
        with signals_blocked():  # a signal held back here is raised as the block ends: inside the `try`
            _remove_orphans()
            spill = tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
            con = duckdb.connect(config={"temp_directory": spill})
        # progress measured (for `query_progress`; DuckDB's default depends on the terminal) but not
        # printed: DuckDB's own bar would go to stdout, where `fit --json` prints exactly one JSON object
        con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        yield con
    finally:
        with signals_blocked():
            if con is not None:
                with contextlib.suppress(Exception):
                    con.interrupt()  # a query cut short by the signal stops its threads before the close
                with contextlib.suppress(Exception):
                    con.close()
            if spill is not None:
                _remove_spill(spill)


def _remove_spill(spill: str) -> None:
    """Remove the spill folder. DuckDB's worker threads may still be finishing a file in it just after an
    interrupted query (seen once in ~20 interrupted folder fits under load: the folder outlived the run), so
    a removal that leaves something behind is tried again for up to a second."""
    import time

    for _ in range(20):
        shutil.rmtree(spill, ignore_errors=True)
        if not os.path.exists(spill):
            return
        time.sleep(0.05)


def _remove_orphans() -> None:
    """Spill folders left by shrinkvis processes that no longer run."""
    from ..outputs import _alive

    with contextlib.suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            if not entry.name.startswith(SPILL_PREFIX):
                continue
            pid = entry.name[len(SPILL_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)


def _sums(
    relation: duckdb.DuckDBPyRelation,
    *,
    y: str,
    group: str,
    x: str | None,
    name: str,
    progress: tuple[duckdb.DuckDBPyConnection, Callable[[float], None]] | None = None,
) -> ClusterSums:
    # the rows come checked by `rules.ReadRows`: y and x are DOUBLE, every missing value is NULL
    g, yq = quoted(group), quoted(y)
    xq = quoted(x) if x else None
    complete = f"{g} IS NOT NULL AND {yq} IS NOT NULL" + (f" AND {xq} IS NOT NULL" if xq else "")
    centre_sql = (
        f"SELECT avg({yq}::DOUBLE), {f'avg({xq}::DOUBLE)' if xq else '0.0'} "
        f"FROM (SELECT * FROM src WHERE {complete} LIMIT {CENTRE_ROWS})"
    )
    centre_y, centre_x = _checked(lambda: relation.query("src", centre_sql).fetchall()[0], name)
    if centre_y is None:
        raise too_few_groups(name, group, 0)
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
    if len(table) < MIN_GROUPS:
        raise too_few_groups(name, group, len(table))
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
        text = str(exc)
        # a CSV error names its file among DuckDB's settings: name it, not the glob
        named = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
        where = named.group(1) if named else name
        longer = re.search(
            r"CSV Error on Line: (\d+).*?Expected Number of Columns: (\d+) Found", text, re.DOTALL
        )
        if longer:
            raise too_many_fields(where, int(longer.group(1)) - 2, int(longer.group(2))) from None
        if "parallel scanner" in text:
            raise SerialScanNeeded(f"{where}: {engine_reason(text)}") from None
        if "not utf-8 encoded" in text:
            raise DataError(f"{where}: not UTF-8 text; save it as UTF-8 CSV") from None
        raise DataError(f"{where}: {engine_reason(text)}") from None


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
    missing value. Every file is read under the rules of `shrinkvis.reading`, as `file_sums` reads it
    (columns by name in each file, the same missing values, labels and numbers)."""
    source = str(path)
    columns = [*plan.summed, plan.group]
    files, kind = data_files(path)
    with _connection(connection) as con:
        progress = _progress(con, on_progress)
        if kind == "parquet":
            relation = _parquet_rows(con, files, columns, source)
            rows_of = lambda file: relation.filter(f"{FILE} = {sql_text(file)}")  # noqa: E731
            rows = _plan_rows(relation, plan, source, text=False, rows_of=rows_of)
            return duckdb_blocks(rows.checked(), plan, name=source, progress=progress)
        try:
            return _text_blocks(con, files, columns, plan, source, progress, parallel=True)
        except SerialScanNeeded:
            return _text_blocks(con, files, columns, plan, source, progress, parallel=False)


def _text_blocks(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    columns: list[str],
    plan: SumsPlan,
    source: str,
    progress: tuple[duckdb.DuckDBPyConnection, Callable[[float], None]] | None,
    *,
    parallel: bool,
) -> tuple[Blocks, int]:
    relation = _text_rows(con, files, columns, source, parallel=parallel)

    def rows_of(file: str) -> duckdb.DuckDBPyRelation:
        one = _text_rows(con, [Path(file)], columns, source, parallel=parallel)
        return one.query("r", f"SELECT *, row_number() OVER () - 1 AS {ROW} FROM r")

    rows = _plan_rows(relation, plan, source, text=True, rows_of=rows_of)
    return duckdb_blocks(rows.checked(), plan, name=source, progress=progress)


def _plan_rows(
    relation: duckdb.DuckDBPyRelation,
    plan: SumsPlan,
    source: str,
    *,
    text: bool,
    rows_of: Callable[[str], duckdb.DuckDBPyRelation] | None,
) -> ReadRows:
    """The summed columns of a model (response first) as numbers under the reading rules."""
    first, *others = plan.summed
    return ReadRows(
        relation, first, plan.group, None, source, text=text, rows_of=rows_of, others=tuple(others)
    )


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
        if not types[column].startswith(NUMBER_TYPES):
            raise DataError(f"{name}: column {column!r} must hold numbers; it is read as {types[column]}")
    as_double = [f"{quoted(column)}::DOUBLE" for column in summed]
    complete = " AND ".join(f"{quoted(column)} IS NOT NULL" for column in [*summed, plan.group])
    first = ", ".join(f"avg({q}), stddev_pop({q})" for q in as_double)
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
    d = [f"({q} - {float(c)!r})" for q, c in zip(as_double, centres, strict=True)]
    only = f"FILTER (WHERE {complete})"
    k = len(summed)
    aggregates = [f"count(*) {only} AS n"]
    aggregates += [f"sum({d[a]}) {only} AS s{a}" for a in range(k)]
    aggregates += [f"sum({d[a]} * {d[b]}) {only} AS p{a}_{b}" for a in range(k) for b in range(a, k)]
    aggregates += [
        f"min({as_double[a]}) {only} AS lo{a}, max({as_double[a]}) {only} AS hi{a}" for a in range(k)
    ]
    g = quoted(plan.group)
    sql = f"SELECT {g} AS label, count(*) AS all_rows, {', '.join(aggregates)} FROM src GROUP BY {g}"
    table = _checked(lambda: _watched(lambda: relation.query("src", sql).df(), progress), name)
    dropped = int(table["all_rows"].sum() - table["n"].sum())
    table = table[table["n"] > 0]
    return blocks_table(table, plan, centres, spreads, level, name), dropped
