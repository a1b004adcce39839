"""A user's own data: read a table and turn the named columns into the model's rows (y, x, cluster).

Files come from anywhere: empty, binary, half-written, with a delimiter the name does not promise.
Everything that can go wrong while reading becomes one `DataError` line naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .outputs import temporary_folder
from .reading import (
    LABEL_MISSING,
    MIN_GROUPS,
    NUMBER_MISSING,
    NUMBER_PATTERN,
    check_columns,
    check_unique,
    is_many,
    model_columns,
    not_a_number,
    not_labels,
    out_of_units,
    too_few_groups,
    too_many_fields,
    units_ok,
    where,
)
from .scenario import MAX_ROWS, DataFileSpec, DataSpec

MAX_TABLE_BYTES = 2_000_000_000  # 10 million rows of three numbers take about 300 MB as text
# above this, or for a glob or a directory, DuckDB sums the clusters instead of pandas reading the rows
SUMMED_TABLE_BYTES = 64_000_000
DELIMITERS = ",\t;|"
SNIFF_BYTES = 64_000
STRICT_WIDTH = 1_000  # columns up to which every column is read, so a row longer than the header is an error  # enough lines for csv.Sniffer to see the pattern
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}


@dataclass(frozen=True)
class ModelData:
    """The model's rows plus where they came from: `frame` has columns y, cluster and, with a predictor, x."""

    frame: pd.DataFrame
    source: str
    y_name: str
    group_name: str
    x_name: str | None
    dropped_rows: int  # rows with a missing value in a model column
    # simulated data only: cluster, true_intercept, true_slope (a user's table has no truth)
    truth: pd.DataFrame | None = None

    @property
    def single_row_clusters(self) -> list[str]:
        """Clusters with one row: kept (they inform the intercept), but without a slope of their own."""
        sizes = self.frame["cluster"].value_counts(sort=False)
        return sorted((str(label) for label in sizes.index[sizes.to_numpy() == 1]), key=_label_key)


def model_frame(
    table: pd.DataFrame, *, y: str, group: str, x: str | None = None, source: str = "data"
) -> ModelData:
    """Select, check and clean the model's columns.

    Rows with a missing value in any model column are dropped and counted; y and x must be numbers;
    the group column may hold text or numbers (kept as the text in the file).
    """
    names = model_columns(y, group, x, source)
    check_columns(table.columns, names, source)
    check_unique([str(name) for name in table.columns if str(name) in names], source)
    selected = table[names]
    empty = selected.isna().any(axis=1)
    if empty.any():
        selected = selected[~empty]
    frame = pd.DataFrame({"y": _numbers(selected[y], y, source)})
    if x:
        frame["x"] = _numbers(selected[x], x, source)
    frame["cluster"] = _labels(selected[group], group, source)
    n_groups = frame["cluster"].nunique()
    if n_groups < MIN_GROUPS:
        raise too_few_groups(source, group, n_groups)
    return ModelData(frame, source, y, group, x, int(empty.sum()))


def _numbers(column: pd.Series, name: str, source: str) -> np.ndarray:
    """The column as float64 under the number rules of `shrinkvis.reading` (the same as DuckDB's)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column  # already parsed as numbers by the reader: the fast path
    else:
        text = column.astype(str).str.strip()
        values = pd.to_numeric(text.where(text.str.fullmatch(NUMBER_PATTERN)), errors="coerce")
    with np.errstate(all="ignore"):
        numbers = values.to_numpy(dtype=float)
    bad = values.isna().to_numpy() | ~np.isfinite(numbers)
    if bad.any():
        raise not_a_number(source, name, _where(column, bad))
    size = np.abs(numbers)
    largest = float(size.max(initial=0.0))
    if not units_ok(largest):
        raise out_of_units(source, name, _where(column, size == largest), largest)
    return numbers


def _labels(column: pd.Series, name: str, source: str) -> np.ndarray:
    """Group labels: text, numbers, booleans or dates; a list, a mapping or bytes is not a label."""
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind in ("bytes", "mixed", "complex", "unknown-array") and len(column):
        odd = next(
            (value for value in column if not isinstance(value, str | int | float | bool | np.generic)), None
        )
        if odd is not None or kind in ("bytes", "complex"):
            shown = type(odd).__name__ if odd is not None else kind
            raise not_labels(source, name, shown)
    return column.to_numpy()


def _where(column: pd.Series, rows: np.ndarray) -> str:
    """The first of the flagged rows, as a reader of the file finds it."""
    row = int(rows.argmax())
    return where(int(column.index[row]), column.iloc[row])


def cluster_order(labels: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..J-1 and the labels in display order: numeric order when every label is a number."""
    codes, uniques = pd.factorize(labels)
    as_numbers = pd.to_numeric(pd.Series(uniques), errors="coerce")
    if as_numbers.notna().all():
        order = np.argsort(as_numbers.to_numpy(), kind="stable")
    else:
        order = np.argsort(np.asarray(uniques, dtype=str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    # a missing label keeps pandas' code −1, so the checks downstream can name its rows
    return np.where(codes >= 0, rank[np.maximum(codes, 0)], -1), np.asarray(uniques)[order]


def _label_key(label: str) -> tuple[int, float, str]:
    """Sort labels as numbers when they are numbers, else as text (as `cluster_order` does)."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def summed_by_duckdb(path: str | Path) -> bool:
    """Whether a table is summed per cluster by DuckDB rather than read into memory: a glob, a directory,
    or a file over `SUMMED_TABLE_BYTES` (64 MB, about two million rows). Small files keep the in-memory
    path, which draws rows (the lines view) and imports nothing more."""
    path = Path(path)
    if is_many(path):
        return True
    try:
        return path.is_file() and path.stat().st_size > SUMMED_TABLE_BYTES
    except OSError:
        return False  # the in-memory reader says what is wrong with it


def read_model_data(spec: DataFileSpec) -> ModelData:
    """The data step of a run on a table: read the file and take the model's columns from it."""
    columns = model_columns(spec.y, spec.group, spec.x, spec.file)
    table = read_table(spec.file, text_columns=(spec.group,), columns=columns)
    return model_frame(table, y=spec.y, group=spec.group, x=spec.x, source=spec.file)


def simulated_model_data(frame: pd.DataFrame, spec: DataSpec, truth: pd.DataFrame | None = None) -> ModelData:
    """Simulated rows described like a table's: columns y, x, cluster, nothing dropped; with the truth."""
    return ModelData(frame, f"simulated (seed {spec.seed})", "y", "cluster", "x", 0, truth)


def as_model_data(data: ModelData | pd.DataFrame) -> ModelData:
    """A frame of the model's rows (y, cluster and maybe x, as `simulate` returns) as `ModelData`."""
    if isinstance(data, ModelData):
        return data
    x_name = "x" if "x" in data.columns else None
    return ModelData(
        frame=data, source="data", y_name="y", group_name="cluster", x_name=x_name, dropped_rows=0
    )


def read_table(
    path: str | Path, text_columns: tuple[str, ...] = (), columns: list[str] | None = None
) -> pd.DataFrame:
    """Read a delimited text table with a header row (the delimiter is detected from the content), or
    Parquet (through DuckDB).

    `text_columns` are kept as the text in the file (group labels such as "007" or " A" stay as
    written; only an empty field or NA is missing there). Blanks around a column's name are dropped.
    `columns`, when given, are the only ones read (a file of a million columns costs what three cost);
    each must be in the header.
    """
    path = Path(path)
    size = _checked_size(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, columns)
    if size == 0:
        raise DataError(f"{path}: the file is empty")
    delimiter = detect_delimiter(path)
    with _reading(path, f"{DELIMITER_NAMES[delimiter]}-separated table"):
        names = _header(path, delimiter)
        if columns is not None:
            check_columns(names, columns, str(path))
        # only the wanted columns, picked by position: a file of a million columns costs what three cost
        positions = (
            list(range(len(names))) if columns is None else sorted(names.index(name) for name in columns)
        )
        texts = {position for position in positions if names[position] in text_columns}
        with warnings.catch_warnings(), contextlib.suppress(pd.errors.EmptyDataError):
            # mixed types in a column are the next step's business, not a reason to warn
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a first row longer than the header
            table = pd.DataFrame(columns=positions)  # a header and nothing after it
            table = pd.read_csv(
                path,
                sep=delimiter,
                # a semicolon-separated file comes from a locale whose decimal mark is the comma
                decimal="," if delimiter == ";" else ".",
                encoding="utf-8-sig",
                engine="c",
                nrows=MAX_ROWS + 1,
                low_memory=False,
                header=0,
                names=range(len(names)),  # the header's width: a short row is padded, as by DuckDB
                index_col=False,
                # a file of a million columns reads only the wanted ones (and then, unlike narrower
                # files, a row longer than the header is not noticed)
                usecols=None if columns is None or len(names) <= STRICT_WIDTH else positions,
                dtype=dict.fromkeys(texts, str),
                keep_default_na=False,
                na_values={
                    position: LABEL_MISSING if position in texts else NUMBER_MISSING for position in positions
                },
            )
        table = table[positions]
        table.columns = [names[position] for position in positions]
        if delimiter == ";":
            # the decimal comma of a column pandas could not read as numbers, read by the number rules
            for name in table.columns:
                if name not in text_columns and not pd.api.types.is_numeric_dtype(table[name]):
                    table[name] = table[name].str.replace(",", ".", regex=False)
    if len(table) > MAX_ROWS:
        raise DataError(f"{path}: more than {MAX_ROWS:,} rows; at most {MAX_ROWS:,} are allowed")
    if table.empty:
        raise DataError(f"{path}: has a header row but no data rows")
    return table


@contextlib.contextmanager
def _reading(path: Path, kind: str) -> Iterator[None]:
    """What can go wrong while pandas reads a text file, as one line naming the file."""
    try:
        yield
    except pd.errors.ParserWarning:  # pandas says so of a first data row longer than the header
        raise too_many_fields(str(path), 0, len(_header(path, detect_delimiter(path)))) from None
    except pd.errors.ParserError as exc:
        longer = re.search(r"Expected (\d+) fields in line (\d+), saw", str(exc))
        if longer is None:
            raise DataError(f"{path}: cannot be read as a {kind}: {_first_line(exc)}") from None
        raise too_many_fields(str(path), int(longer.group(2)) - 2, int(longer.group(1))) from None
    except (IndexError, pd.errors.EmptyDataError):
        raise DataError(f"{path}: holds no table (no header row)") from None
    except UnicodeDecodeError:
        # pandas reports positions within its read buffer, not the file, so none is given here
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except (ValueError, OverflowError, MemoryError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a {kind}: {_first_line(exc)}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """Parquet through DuckDB, a dependency already: a plain `pip install` reads it, with or without pyarrow,
    and the rows are the same either way. Only `columns` are read when given (each must be there)."""
    import duckdb

    con = duckdb.connect()
    try:
        with contextlib.ExitStack() as stack:
            plain = path
            if any(char in str(path) for char in "*?[{"):
                # DuckDB takes these as a glob: a legal name like `data[1].parquet` is read through a
                # plainly named link to it
                plain = stack.enter_context(temporary_folder("shrinkvis-parquet-")) / "table.parquet"
                plain.symlink_to(path.resolve())
            relation = con.read_parquet(str(plain))
            if columns is not None:
                check_columns(relation.columns, columns, str(path))
                relation = relation.select(*(duckdb.ColumnExpression(name) for name in columns))
            (rows,) = relation.aggregate("count(*)").fetchall()[0]
            if rows > MAX_ROWS:
                raise DataError(f"{path}: more than {MAX_ROWS:,} rows; at most {MAX_ROWS:,} are allowed")
            return relation.df()
    except duckdb.Error as exc:
        raise DataError(f"{path}: not a readable Parquet file: {_first_line(exc)}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        con.close()


def _checked_size(path: Path) -> int:
    try:
        if not path.is_file():
            raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_TABLE_BYTES:
        raise DataError(f"{path}: {size:,} bytes; at most {MAX_TABLE_BYTES:,} are allowed")
    return size


def detect_delimiter(path: Path) -> str:
    """Comma, tab, semicolon or bar, judged from the first lines; a .tsv file is tab-separated."""
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    try:
        with path.open("rb") as handle:
            sample = handle.read(SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    lines = sample.splitlines()
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        sample = "\n".join(lines[:-1])  # the last line may be cut in the middle
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # the sniffer wants a consistent pattern; fall back to the delimiter the header uses most
        header = next((line for line in sample.splitlines() if line.strip()), "")
        counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=lambda delimiter: counts[delimiter])
        return best if counts[best] > 0 else ","


def header_names(path: Path, delimiter: str | None = None) -> list[str]:
    """The column names in a delimited file's header row, as `read_table` reads them; a repeated name is
    an error. Every reader of text files takes its names from here, so all match columns alike."""
    delimiter = delimiter or detect_delimiter(path)
    with _reading(path, f"{DELIMITER_NAMES[delimiter]}-separated table"):
        return _header(path, delimiter)


def _header(path: Path, delimiter: str) -> list[str]:
    """The header's names, read by the csv module, not pandas: 100,000 names take 0.02 s instead of 11 s."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_TABLE_BYTES))  # a name may be megabytes long
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
        record = next((row for row in reader if row), None)  # a quoted name may hold a line break
    if record is None:
        raise pd.errors.EmptyDataError("no header row")
    # blanks around a name are the writer's layout ("a, b"); blanks in a value are data (" A" ≠ "A")
    names = [name.strip() or f"Unnamed: {position}" for position, name in enumerate(record)]
    check_unique(names, str(path))
    return names


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
