"""The reading rules, written once: every way into the model (pandas on a small file, DuckDB on a big file,
a folder or a glob, Parquet, a DuckDB relation, Spark) takes its rules and its messages from here.

| rule              | text files (CSV, TSV)                                  | typed sources (Parquet, relations)   |
|-------------------|--------------------------------------------------------|--------------------------------------|
| columns           | by name in every file; a file without one is named     | by name; a file without one is named |
| repeated names    | an error naming the file and the name                  | (a typed source cannot repeat one)   |
| missing y or x    | empty or one of `NUMBER_MISSING`: the row is dropped   | NULL or NaN: the row is dropped      |
| missing group     | empty or `NA` (`LABEL_MISSING`): the row is dropped    | NULL (NaN for numbers): dropped      |
| y, x              | a decimal number (`NUMBER_PATTERN`), finite, at most   | a number type, finite, same bounds   |
|                   | `LARGEST_VALUE` in size, not all below `SMALLEST_VALUE`|                                      |
| group labels      | the text as written (" A" ≠ "A", "007" ≠ "7")          | text, numbers, booleans, dates       |

A rule is checked on complete rows only (a row dropped for a missing value is never a number error), and
the first broken row is named as `data row N (line N + 1) holds …`, the same words on every path.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

from .errors import DataError, did_you_mean

# What counts as missing. A number column: an empty field or any of the spellings spreadsheets, R and
# pandas write for "no value". A group column: only an empty field or NA (R's readr does the same), so
# that a group called None, null or N/A stays a group.
NUMBER_MISSING = (
    "",
    "NA",
    "N/A",
    "n/a",
    "NaN",
    "nan",
    "-nan",
    "-NaN",
    "NULL",
    "null",
    "None",
    "<NA>",
    "#N/A",
)
LABEL_MISSING = ("", "NA")
# A number as a text file writes it (blanks around it allowed): what both readers accept; anything else
# in a number column ("1_000", "0x1A", "1,5" outside a semicolon file, "inf") is an error naming the row.
NUMBER_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
# The fit squares y and x before it rescales them, and a slope's variance is in (y / x)² units: for a
# column whose largest size lies beyond these, such a square overflows or vanishes (float64 spans about
# 1e±308), so it must be rescaled first. Real data in any unit lie far inside.
LARGEST_VALUE = 1e75
SMALLEST_VALUE = 1e-75
# Bounds on what a reader takes in (docs/outputs.md, "Limits"): past one, one line names it.
MAX_FILES = 10_000  # files in a folder or a glob: 10,000 small CSVs take about 30 s (docs/outputs.md)
MAX_COLUMNS = 100_000  # in a header: 100,000 take 1.5 s and 180 MB; DuckDB needed > 2 GB for 1,000,000
MAX_COLUMNS_LISTED = 20  # names shown when a column is missing (a header may hold millions)
MAX_REASON_CHARS = 300  # of an engine's error text
GLOB_CHARS = "*?["
MIN_GROUPS = 3


def model_columns(y: str, group: str, x: str | None, source: str) -> list[str]:
    """The model's columns in the order y, group, x: three different names."""
    names = [y, group] + ([x] if x else [])
    if len(set(names)) < len(names):
        raise DataError(
            f"{source}: y, x and group must be different columns; given y={y!r}, x={x!r}, group={group!r}"
        )
    return names


def check_columns(have: Iterable[object], want: list[str], source: str, holder: str = "the file has") -> None:
    """Each wanted column is in `have` (by name); else one line naming the first absent one and a few of
    the columns there are."""
    names = [str(name) for name in have]
    present = set(names)
    for column in want:
        if column not in present:
            hint = did_you_mean(column, names)
            raise DataError(f"{source}: no column {column!r}{hint}; {holder}: {listed(names)}")


def check_unique(names: list[str], source: str) -> None:
    """A repeated column name is an error (pandas would rename it "x.1", DuckDB "x_1"); so are more than
    `MAX_COLUMNS` names."""
    if len(names) > MAX_COLUMNS:
        raise DataError(
            f"{source}: {len(names):,} columns; at most {MAX_COLUMNS:,} are read (keep the model's columns)"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{source}: the column {name!r} appears more than once in the header")
        seen.add(name)


def listed(names: list[str]) -> str:
    """Names joined, at most `MAX_COLUMNS_LISTED` of them, each cut to 60 characters."""
    short = [name if len(name) <= 60 else name[:57] + "..." for name in names[:MAX_COLUMNS_LISTED]]
    more = f", … ({len(names):,} columns)" if len(names) > MAX_COLUMNS_LISTED else ""
    return ", ".join(short) + more


def shown(value: object) -> str:
    """A value as the messages show it: a number as the number it reads as, anything else as text."""
    if hasattr(value, "item"):
        value = value.item()  # numpy scalar: 1e+300, not np.float64(1e+300)
    if isinstance(value, bool):
        return repr(str(value))
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else repr(value)
    text = str(value)
    if re.fullmatch(NUMBER_PATTERN, text.strip()) or text.strip().lower().lstrip("+-") in ("inf", "infinity"):
        return repr(float(text.strip()))  # "1e400" is shown as the inf it reads as
    return repr(text if len(text) <= 60 else text[:57] + "...")


def where(row: int, value: object) -> str:
    """A data row (counting from 0) as a reader of the file finds it."""
    return f"data row {row + 1} (line {row + 2}) holds {shown(value)}"


def too_many_fields(source: str, row: int, width: int) -> DataError:
    """A row longer than the header: most often a value with an unquoted delimiter ("1,5" in a CSV),
    which would shift every value after it into the wrong column."""
    return DataError(
        f"{source}: data row {row + 1} (line {row + 2}) has more fields than the header's {width}; "
        "quote values that hold the delimiter"
    )


def not_a_number(source: str, column: str, place: str) -> DataError:
    return DataError(f"{source}: column {column!r} must hold numbers; {place}")


def out_of_units(source: str, column: str, place: str, largest: float) -> DataError:
    return DataError(
        f"{source}: column {column!r} is in units too {'large' if largest > 1 else 'small'} for the fit: "
        f"{place}; rescale it so that its largest value lies between 1e-75 and 1e75 in size"
    )


def units_ok(largest: float) -> bool:
    return not (largest > LARGEST_VALUE or 0 < largest < SMALLEST_VALUE)


def too_few_groups(source: str, column: str, n_groups: int) -> DataError:
    return DataError(
        f"{source}: column {column!r} has {n_groups} group(s) with complete rows; at least {MIN_GROUPS} "
        "are needed to estimate a between-group variance"
    )


def no_rows(source: str) -> DataError:
    return DataError(f"{source}: has a header row but no data rows")


def not_labels(source: str, column: str, kind: str) -> DataError:
    """`kind`: a Python type name (the in-memory reader's values) or a SQL type (DuckDB's column)."""
    upper = kind.upper()
    if upper.endswith("]") or upper.startswith(("LIST", "ARRAY", "NDARRAY", "TUPLE")):
        words = "lists"
    elif upper.startswith(("STRUCT", "DICT", "MAP")):
        words = "records (structs or maps)"
    elif upper.startswith(("BLOB", "BYTES", "BYTEARRAY")):
        words = "bytes"
    else:
        words = f"values of type {kind}"
    return DataError(
        f"{source}: column {column!r} must hold group labels (text, numbers, booleans or dates); it holds {words}"
    )


def engine_reason(text: str) -> str:
    """An engine's error as one line that keeps its reason: DuckDB writes paragraphs (where; the offending
    line; why; possible fixes; its settings), of which the where and the why are kept."""
    kept: list[str] = []
    for number, paragraph in enumerate(text.strip().split("\n\n")):
        lines = [line.strip() for line in paragraph.strip().splitlines() if line.strip()]
        if not lines or lines[0].startswith("Possible") or "=" in lines[0].split(" ")[:2]:
            break  # advice on the engine's options and its settings: not about the data
        if number == 0:
            lines = lines[:1]  # "CSV Error on Line: N", not the line itself (it may be a megabyte long)
        kept += [line for line in lines if not line.startswith(("LINE ", "^", "Original Line"))]
    reason = "; ".join(kept).removeprefix("Invalid Input Error: ") or "unknown error"
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


# ---- files -------------------------------------------------------------------------------------------

PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")


def is_many(path: str | Path) -> bool:
    """A folder, or a glob that does not name an existing file (`data[1].csv` is a file's name)."""
    path = Path(path)
    if path.is_dir():
        return True
    return not path.exists() and any(char in str(path) for char in GLOB_CHARS)


def data_files(path: str | Path) -> tuple[list[Path], str]:
    """The files a path names, in sorted order, and their kind ("parquet" or "csv").

    A file is itself (whatever characters its name holds); a folder is every .parquet file under it, or
    else every .csv/.tsv/.txt file; a glob (`*`, `?`, `[…]`, `**` for any depth) is matched here, with
    symbolic links followed once each (a link loop ends the walk, never hangs it). Names starting with a
    dot are left out, as the shell does.
    """
    path = Path(path)
    if path.is_file():
        return [path], "parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "csv"
    if path.is_dir():
        every = _walk(path, None)
        for kind, suffixes in (("parquet", PARQUET_SUFFIXES), ("csv", TEXT_SUFFIXES)):
            files = [file for file in every if file.suffix.lower() in suffixes]
            if files:
                return _bounded(files, path), kind
        raise DataError(f"{path}: a folder without .parquet or .csv files")
    if not any(char in str(path) for char in GLOB_CHARS):
        raise DataError(
            f"{path}: no such file" if not os.path.lexists(path) else f"{path}: not a regular file"
        )
    files = _globbed(str(path))
    if not files:
        raise DataError(f"{path}: no file matches")
    kinds = {"parquet" if file.suffix.lower() in PARQUET_SUFFIXES else "csv" for file in files}
    if len(kinds) > 1:
        raise DataError(f"{path}: matches both Parquet and text files; match one kind")
    return _bounded(files, path), kinds.pop()


def _bounded(files: list[Path], path: Path) -> list[Path]:
    if len(files) > MAX_FILES:
        raise DataError(
            f"{path}: more than {MAX_FILES:,} files; at most {MAX_FILES:,} are read (join them first)"
        )
    return sorted(files)


def _globbed(pattern: str) -> list[Path]:
    parts = Path(pattern).parts
    fixed = next(index for index, part in enumerate(parts) if any(char in part for char in GLOB_CHARS))
    root = Path(*parts[:fixed]) if fixed else Path(".")
    rest = parts[fixed:]
    depth = None if "**" in rest else len(rest)
    matched = []
    for file in _walk(root, depth):
        relative = file.relative_to(root).parts
        if _matches(relative, rest):
            matched.append(file if fixed else Path(*relative))
    return matched


def _matches(names: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether path components match glob components; `**` matches any number of folders."""
    if not pattern:
        return not names
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(names[skip:], rest) for skip in range(len(names) + 1))
    return bool(names) and fnmatch.fnmatchcase(names[0], head) and _matches(names[1:], rest)


def _walk(root: Path, depth: int | None) -> list[Path]:
    """Regular files under `root` (at most `depth` levels down), following each linked folder once."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [(root, 1)]
    while stack:
        folder, level = stack.pop()
        try:
            status = folder.stat()
            entries = list(os.scandir(folder))
        except OSError:
            continue  # an unreadable folder or a dangling link holds no data
        if (status.st_dev, status.st_ino) in seen:
            continue
        seen.add((status.st_dev, status.st_ino))
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if depth is None or level < depth:
                        stack.append((Path(entry.path), level + 1))
                elif entry.is_file():
                    found.append(Path(entry.path))
            except OSError:
                continue
            if len(found) > MAX_FILES:
                return found
    return found


def text_missing_sql(column: str, tokens: tuple[str, ...]) -> str:
    """SQL: a text field is missing (NULL is DuckDB's empty field)."""
    listed_tokens = ", ".join(sql_text(token) for token in tokens)
    return f"({column} IS NULL OR {column} IN ({listed_tokens}))"


def text_number_sql(column: str, decimal_comma: bool) -> str:
    """SQL: the number a text field reads as under `NUMBER_PATTERN`, or NULL. DuckDB's cast accepts
    exactly the pattern's numbers plus "1_000", "+-1" and the non-finite spellings (refused later as not
    finite), so those two are refused here; a cast is a third of the cost of matching the pattern."""
    text = f"trim({column})"
    if decimal_comma:  # a semicolon-separated file comes from a locale whose decimal mark is the comma
        text = f"replace({text}, ',', '.')"
    return (
        f"CASE WHEN strpos({text}, '_') = 0 AND strpos({text}, '+-') = 0 THEN TRY_CAST({text} AS DOUBLE) END"
    )


def sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
