"""A user's own data: read a table and turn the named columns into the model's rows (y, x, cluster)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .scenario import DataFileSpec, DataSpec

MIN_GROUPS = 3
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class ModelData:
    """The model's rows plus where they came from: `frame` has columns y, cluster and, with a predictor, x."""

    frame: pd.DataFrame
    source: str
    y_name: str
    group_name: str
    x_name: str | None
    dropped_rows: int  # rows with a missing value in a model column

    @property
    def single_row_clusters(self) -> list[str]:
        """Clusters with one row: kept (they inform the intercept), but without a slope of their own."""
        sizes = self.frame["cluster"].value_counts(sort=False)
        return sorted((str(label) for label in sizes.index[sizes.to_numpy() == 1]), key=_label_key)


def read_table(path: str | Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """CSV or TSV (delimiter detected from the first lines), Parquet when pyarrow is installed.

    `text_columns` are kept as the text in the file (group labels such as "007" stay as written).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise DataError(
                f"{path}: reading Parquet needs pyarrow (pip install 'shrinkvis[parquet]')"
            ) from None
        except Exception as exc:  # pyarrow raises its own exception types for broken files
            raise DataError(f"{path}: not a readable Parquet file: {exc}") from None
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            sample = handle.read(SNIFF_BYTES)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as text: {exc}") from None
    if not sample.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        delimiter = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        header = pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", nrows=0).columns
        dtype = {name: str for name in text_columns if name in header}
        return pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", dtype=dtype, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable CSV/TSV file: {first}") from None


def model_frame(
    table: pd.DataFrame, *, y: str, group: str, x: str | None = None, source: str = "data"
) -> ModelData:
    """Select, check and clean the model's columns.

    Rows with a missing value in any model column are dropped and counted; y and x must be numbers;
    the group column may hold text or numbers (kept as the text in the file).
    """
    names = [y, group] + ([x] if x else [])
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
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        row = int(bad.to_numpy().argmax())
        index = column.index[row]
        raise DataError(
            f"{source}: column {name!r} must hold numbers; data row {index + 1} (line {index + 2}) "
            f"holds {column.iloc[row]!r}"
        )
    return values.to_numpy(dtype=float)


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
    return rank[codes], np.asarray(uniques)[order]


def _label_key(label: str) -> tuple[int, float, str]:
    """Sort labels as numbers when they are numbers, else as text (as `cluster_order` does)."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def read_model_data(spec: DataFileSpec) -> ModelData:
    """The data step of a run on a table: read the file and take the model's columns from it."""
    table = read_table(spec.file, text_columns=(spec.group,))
    return model_frame(table, y=spec.y, group=spec.group, x=spec.x, source=spec.file)


def simulated_model_data(frame: pd.DataFrame, spec: DataSpec) -> ModelData:
    """Simulated rows described like a table's: columns y, x, cluster, nothing dropped."""
    return ModelData(frame, f"simulated (seed {spec.seed})", "y", "cluster", "x", 0)
