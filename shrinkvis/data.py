"""A user's table (CSV or TSV) → a DataFrame, or one clear `DataError` naming the file.

Files come from anywhere: empty, binary, half-written, with a delimiter the name does not promise.
Everything that can go wrong while reading becomes a `DataError`; choosing the y, x and cluster columns
is the next step's business.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pandas as pd

from .errors import DataError
from .scenario import MAX_ROWS

MAX_TABLE_BYTES = 2_000_000_000  # 10 million rows of three numbers take about 300 MB as text
DELIMITERS = ",\t;|"
SNIFF_BYTES = 64_000  # enough lines for csv.Sniffer to see the pattern
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a delimited text table with a header row; the delimiter is detected from the content."""
    path = Path(path)
    size = _checked_size(path)
    if size == 0:
        raise DataError(f"{path}: the file is empty")
    delimiter = detect_delimiter(path)
    kind = f"{DELIMITER_NAMES[delimiter]}-separated table"
    try:
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
            )
            header = pd.read_csv(
                path, sep=delimiter, encoding="utf-8-sig", engine="c", header=None, nrows=1, dtype=str
            )
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
    _check_header(path, [str(name) for name in header.iloc[0] if not pd.isna(name)])
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
