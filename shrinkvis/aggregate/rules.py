"""The reading rules of `shrinkvis.reading`, applied by DuckDB to rows it never hands to Python.

`ReadRows.checked()` turns the model columns of a relation (text from CSV files, or typed from Parquet
or a user's relation) into y and x as DOUBLE and the group as read, with every missing value NULL, after
one pass that checks the number rules on the complete rows; a broken rule is raised with the same words
as the in-memory reader's (`shrinkvis.data.model_frame`), naming the first broken row of the first file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..reading import (
    LABEL_MISSING,
    NUMBER_MISSING,
    no_rows,
    not_a_number,
    not_labels,
    out_of_units,
    quoted,
    shown,
    text_missing_sql,
    text_number_sql,
    units_ok,
    where,
)

if TYPE_CHECKING:
    import duckdb

# columns a reader may add beside the model's: each row's file, its row in the file (from 0), and
# whether its file writes the decimal comma (a semicolon-separated file)
FILE = "__shrinkvis_file"
ROW = "__shrinkvis_row"
COMMA = "__shrinkvis_comma"
NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "U")
LABEL_TYPES = NUMBER_TYPES + ("VARCHAR", "BOOLEAN", "DATE", "TIME", "TIMESTAMP")


@dataclass(frozen=True)
class ReadRows:
    """A relation's model columns, to be read under the rules.

    `text`: the columns hold the text of a delimited file (the missing spellings of `NUMBER_MISSING` and
    `LABEL_MISSING` apply); otherwise they are typed (only NULL, and NaN in a number, is missing).
    `rows_of(file)`: the same rows of one file, in file order, with their row numbers (column `ROW`);
    used only to name the row that breaks a rule."""

    relation: duckdb.DuckDBPyRelation
    y: str
    group: str
    x: str | None
    source: str
    text: bool
    rows_of: Callable[[str], duckdb.DuckDBPyRelation] | None = None
    others: tuple[str, ...] = ()  # more number columns (a general model's terms), read like x

    def checked(self) -> duckdb.DuckDBPyRelation:
        """The rows with y, x as DOUBLE and NULL for every missing value; raises the first broken rule."""
        from .on_duckdb import _checked

        inner = self._typed(self.relation)
        numbers = self._numbers()
        counts = ", ".join(
            f"count(*) FILTER (WHERE NOT gap AND (v{index} IS NULL OR NOT isfinite(v{index}))), "
            f"max(abs(v{index})) FILTER (WHERE NOT gap AND isfinite(v{index}))"
            for index in range(len(numbers))
        )
        file = FILE if FILE in self.relation.columns else "NULL"
        per_file = _checked(
            lambda: inner.query(
                "src", f"SELECT {file} AS file, count(*), {counts} FROM src GROUP BY ALL ORDER BY file"
            ).fetchall(),
            self.source,
        )
        if self.text and sum(row[1] for row in per_file) == 0:
            raise no_rows(self.source)
        for index, column in enumerate(numbers):
            bad = [row[0] for row in per_file if row[2 + 2 * index]]
            if bad:
                place = self._place(bad[0], index, f"v{index} IS NULL OR NOT isfinite(v{index})")
                raise not_a_number(bad[0] or self.source, column, place)
            largest = max((row[3 + 2 * index] or 0.0 for row in per_file), default=0.0)
            if not units_ok(largest):
                holder = next(row[0] for row in per_file if (row[3 + 2 * index] or 0.0) == largest)
                place = self._place(holder, index, f"abs(v{index}) = {largest!r}")
                raise out_of_units(holder or self.source, column, place, largest)
        picked = [f"CASE WHEN gap THEN NULL ELSE v0 END AS {quoted(self.y)}"]
        picked.append(f"CASE WHEN gap THEN NULL ELSE label END AS {quoted(self.group)}")
        for index, column in enumerate(numbers[1:], start=1):
            picked.append(f"CASE WHEN gap THEN NULL ELSE v{index} END AS {quoted(column)}")
        return inner.query("src", f"SELECT {', '.join(picked)} FROM src")

    def _typed(self, relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """The rows as (gap, v0[, v1], label, raw0[, raw1]): values read by the rules, gap when missing."""
        from .on_duckdb import _checked

        types = dict(zip(relation.columns, map(str, relation.types), strict=True))
        gaps, values = [], []
        for column in self._numbers():
            gap, value = self._number(column, types[column])
            gaps.append(gap)
            values.append(value)
        gap, label = self._label(self.group, types[self.group])
        gaps.append(gap)
        picked = [f"({' OR '.join(gaps)}) AS gap", f"{label} AS label"]
        picked += [f"{value} AS v{index}" for index, value in enumerate(values)]
        picked += [f"{quoted(column)} AS raw{index}" for index, column in enumerate(self._numbers())]
        picked += [quoted(extra) for extra in (FILE, ROW) if extra in relation.columns]
        return _checked(lambda: relation.query("rows", f"SELECT {', '.join(picked)} FROM rows"), self.source)

    def _numbers(self) -> list[str]:
        return [self.y] + ([self.x] if self.x else []) + list(self.others)

    def _number(self, column: str, kind: str) -> tuple[str, str]:
        q = quoted(column)
        if self.text or kind == "VARCHAR":
            missing = text_missing_sql(q, NUMBER_MISSING) if self.text else f"({q} IS NULL)"
            comma = COMMA in self.relation.columns
            if comma:
                value = (
                    f"CASE WHEN {COMMA} THEN {text_number_sql(q, True)} ELSE {text_number_sql(q, False)} END"
                )
            else:
                value = text_number_sql(q, False)
            return missing, value
        if not kind.startswith(NUMBER_TYPES):
            raise DataError(f"{self.source}: column {column!r} must hold numbers; it is read as {kind}")
        return f"({q} IS NULL OR isnan({q}::DOUBLE))", f"{q}::DOUBLE"

    def _label(self, column: str, kind: str) -> tuple[str, str]:
        q = quoted(column)
        if self.text:
            return text_missing_sql(q, LABEL_MISSING), q
        if not kind.startswith(LABEL_TYPES) or kind.endswith("[]"):
            raise not_labels(self.source, column, kind)
        if kind.startswith(("FLOAT", "DOUBLE")):
            return f"({q} IS NULL OR isnan({q}))", q
        return f"({q} IS NULL)", q

    def _place(self, file: Any, index: int, broken: str) -> str:
        """Where the first row breaking a rule lies: its row in its file, and its value."""
        from .on_duckdb import _checked

        if file is None or self.rows_of is None:
            rows, numbered = self._typed(self.relation), False
        else:
            rows, numbered = self._typed(self.rows_of(file)), True
        order = f"ORDER BY {ROW} " if numbered else ""
        found = _checked(
            lambda: rows.query(
                "src",
                f"SELECT {ROW if numbered else 'NULL'}, raw{index} FROM src WHERE NOT gap AND ({broken}) "
                f"{order}LIMIT 1",
            ).fetchall(),
            self.source,
        )
        row, value = found[0]
        return where(int(row), value) if numbered else f"a row holds {shown(value)}"
