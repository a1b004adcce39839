"""A user's own data: read a table and turn the named columns into the model's rows (y, x, cluster).

Files come from anywhere: empty, binary, half-written, with a delimiter the name does not promise.
Everything that can go wrong while reading becomes one `DataError` line naming the file.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .scenario import MAX_ROWS, DataFileSpec, DataSpec

MIN_GROUPS = 3
MAX_TABLE_BYTES = 2_000_000_000  # 10 million rows of three numbers take about 300 MB as text
# above this, or for a glob or a directory, DuckDB sums the clusters instead of pandas reading the rows
SUMMED_TABLE_BYTES = 64_000_000
DELIMITERS = ",\t;|"
SNIFF_BYTES = 64_000  # enough lines for csv.Sniffer to see the pattern
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}
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
# The fit squares y and x before it rescales them, and a slope's variance is in (y / x)² units: for a
# column whose largest size lies beyond these, such a square overflows or vanishes (float64 spans about
# 1e±308), so it must be rescaled first. Real data in any unit lie far inside.
LARGEST_VALUE = 1e75
SMALLEST_VALUE = 1e-75


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
    names = [y, group] + ([x] if x else [])
    if len(set(names)) < len(names):
        raise DataError(
            f"{source}: y, x and group must be different columns; given y={y!r}, x={x!r}, group={group!r}"
        )
    missing = [name for name in names if name not in table.columns]
    if missing:
        listed = ", ".join(map(str, table.columns))
        near = [str(name) for name in table.columns if str(name).lower() == missing[0].lower()]
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise DataError(f"{source}: no column {missing[0]!r}{hint}; the file has: {listed}")
    selected = table[names]
    empty = selected.isna().any(axis=1)
    if empty.any():
        selected = selected[~empty]
    frame = pd.DataFrame({"y": _numbers(selected[y], y, source)})
    if x:
        frame["x"] = _numbers(selected[x], x, source)
    frame["cluster"] = selected[group].to_numpy()
    n_groups = frame["cluster"].nunique()
    if n_groups < MIN_GROUPS:
        raise DataError(
            f"{source}: column {group!r} has {n_groups} group(s) with complete rows; at least {MIN_GROUPS} "
            "are needed to estimate a between-group variance"
        )
    return ModelData(frame, source, y, group, x, int(empty.sum()))


def _numbers(column: pd.Series, name: str, source: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column  # already parsed as numbers by the reader: the fast path
    else:
        values = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
    numbers = values.to_numpy(dtype=float)
    bad = values.isna().to_numpy() | ~np.isfinite(numbers)
    if bad.any():
        raise DataError(f"{source}: column {name!r} must hold numbers; {_where(column, bad)}")
    size = np.abs(numbers)
    largest = size.max(initial=0.0)
    if largest > LARGEST_VALUE or 0 < largest < SMALLEST_VALUE:
        raise DataError(
            f"{source}: column {name!r} is in units too {'large' if largest > 1 else 'small'} for the fit: "
            f"{_where(column, size == largest)}; rescale it so that its largest value lies between "
            "1e-75 and 1e75 in size"
        )
    return numbers


def _where(column: pd.Series, rows: np.ndarray) -> str:
    """The first of the flagged rows, as a reader of the file finds it."""
    row = int(rows.argmax())
    index = column.index[row]
    value = column.iloc[row]
    shown = repr(value.item() if isinstance(value, np.generic) else value)  # 1e+300, not np.float64(1e+300)
    return f"data row {index + 1} (line {index + 2}) holds {shown}"


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
    if any(char in str(path) for char in "*?[") or path.is_dir():
        return True
    try:
        return path.is_file() and path.stat().st_size > SUMMED_TABLE_BYTES
    except OSError:
        return False  # the in-memory reader says what is wrong with it


def read_model_data(spec: DataFileSpec) -> ModelData:
    """The data step of a run on a table: read the file and take the model's columns from it."""
    table = read_table(spec.file, text_columns=(spec.group,))
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


def read_table(path: str | Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a delimited text table with a header row (the delimiter is detected from the content), or
    Parquet when pyarrow is installed.

    `text_columns` are kept as the text in the file (group labels such as "007" or " A" stay as
    written; only an empty field or NA is missing there). Blanks around a column's name are dropped.
    """
    path = Path(path)
    size = _checked_size(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    if size == 0:
        raise DataError(f"{path}: the file is empty")
    delimiter = detect_delimiter(path)
    kind = f"{DELIMITER_NAMES[delimiter]}-separated table"
    try:
        names = _header(path, delimiter)
        texts = [name for name in text_columns if name in names]
        with warnings.catch_warnings():
            # mixed types in a column are the next step's business, not a reason to warn
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
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
                names=names,
                dtype=dict.fromkeys(texts, str),
                keep_default_na=False,
                na_values={name: LABEL_MISSING if name in texts else NUMBER_MISSING for name in names},
            )
    except IndexError:
        raise DataError(f"{path}: holds no table (no header row)") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: holds no table (no header row)") from None
    except UnicodeDecodeError:
        # pandas reports positions within its read buffer, not the file, so none is given here
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except (ValueError, OverflowError, MemoryError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a {kind}: {_first_line(exc)}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(table) > MAX_ROWS:
        raise DataError(f"{path}: more than {MAX_ROWS:,} rows; at most {MAX_ROWS:,} are allowed")
    if table.empty:
        raise DataError(f"{path}: has a header row but no data rows")
    return table


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path)
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install 'shrinkvis[parquet]')") from None
    except Exception as exc:  # pyarrow raises its own exception types for broken files
        raise DataError(f"{path}: not a readable Parquet file: {_first_line(exc)}") from None
    if len(table) > MAX_ROWS:
        raise DataError(f"{path}: more than {MAX_ROWS:,} rows; at most {MAX_ROWS:,} are allowed")
    return table


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


def header_names(path: Path) -> list[str]:
    """The column names in a delimited file's header row, as `read_table` reads them; a repeated name is
    an error. Every reader of text files takes its names from here, so all match columns alike."""
    try:
        return _header(path, detect_delimiter(path))
    except (IndexError, pd.errors.EmptyDataError):
        raise DataError(f"{path}: holds no table (no header row)") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except (ValueError, OverflowError, MemoryError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _header(path: Path, delimiter: str) -> list[str]:
    header = pd.read_csv(
        path,
        sep=delimiter,
        encoding="utf-8-sig",
        engine="c",
        header=None,
        nrows=1,
        dtype=str,
        keep_default_na=False,
    )
    # blanks around a name are the writer's layout ("a, b"); blanks in a value are data (" A" ≠ "A")
    names = [str(name).strip() or f"Unnamed: {position}" for position, name in enumerate(header.iloc[0])]
    _check_header(path, names)
    return names


def _check_header(path: Path, names: list[str]) -> None:
    # pandas renames a repeated column "x" to "x.1"; say so instead of silently using one of them
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}: the column {name!r} appears more than once in the header")
        seen.add(name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
