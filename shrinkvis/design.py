"""A model formula applied to rows: the matrices y, X and Z with lme4's column names (model.py reads the
formula; this module needs numpy and pandas, so reading a scenario does not)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import cluster_order
from .errors import DataError, UserError
from .model import CLUSTER_SIZE, INTERCEPT, ModelFormula, parse_model, plain_sum

__all__ = ["Design", "design"]


@dataclass(frozen=True)
class Design:
    """The model's matrices for one data set: y (n,), X (n, p), Z (n, q) with lme4's column names, the
    sizes of Z's independent blocks (one per bar; `||` gives one per column) and the grouping as codes
    0..J-1 in the order of `labels` (numbers in numeric order, else sorted as text, as lme4 orders
    factor levels)."""

    formula: ModelFormula
    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    fixed_names: tuple[str, ...]
    random_names: tuple[str, ...]
    blocks: tuple[int, ...]
    codes: np.ndarray
    labels: np.ndarray
    dropped_rows: int = 0

    @property
    def n_groups(self) -> int:
        return len(self.labels)


def design(formula: ModelFormula | str, frame: pd.DataFrame) -> Design:
    """The formula applied to the rows of `frame` (rows with a missing value in a used column are left
    out, as lme4's default `na.omit` does; `dropped_rows` counts them)."""
    if isinstance(formula, str):
        formula = parse_model(formula)
    size = CLUSTER_SIZE in formula.columns and CLUSTER_SIZE not in frame.columns
    used = [name for name in formula.columns if not (size and name == CLUSTER_SIZE)]
    _check_columns(formula, frame, used)
    complete = frame[used].notna().all(axis=1).to_numpy()
    rows = frame.loc[complete, used] if not complete.all() else frame[used]
    if len(rows) == 0:
        raise DataError(f"no row has a value in every column of {formula.text!r}")
    if size:  # the cluster's number of rows (with a value in every column the model uses)
        rows = rows.assign(
            **{CLUSTER_SIZE: rows.groupby(formula.group, sort=False)[formula.group].transform("size")}
        )
    y = _numeric(rows[formula.response], formula.response)
    X, fixed_names = _matrix(formula.fixed, rows, formula.text)
    columns, names, blocks = [], [], []
    for bar in formula.bars:
        Z_bar, bar_names = _matrix(bar.terms, rows, formula.text)
        columns.append(Z_bar)
        names += bar_names
        blocks += [1] * len(bar_names) if bar.independent else [len(bar_names)]
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise UserError(
            f"formula {formula.text!r}: the random effect {', '.join(repeated)} appears in two bars; "
            "each random effect may appear once"
        )
    codes, labels = cluster_order(rows[formula.group])
    return Design(
        formula=formula,
        y=y,
        X=X,
        Z=np.asfortranarray(np.hstack(columns)) if len(columns) > 1 else columns[0],
        fixed_names=tuple(fixed_names),
        random_names=tuple(names),
        blocks=tuple(blocks),
        codes=np.asarray(codes, dtype=np.intp),
        labels=labels,
        dropped_rows=int((~complete).sum()),
    )


def _check_columns(formula: ModelFormula, frame: pd.DataFrame, used: list[str]) -> None:
    available = [str(column) for column in frame.columns]
    for name in used:
        if name not in frame.columns:
            close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the data have {', '.join(available)}"
            raise DataError(f"formula {formula.text!r} names column {name!r}, which is not in the data{hint}")


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise DataError(f"column {name!r} must hold numbers")
    values = column.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError(f"column {name!r} holds an infinite value")
    return values


def _matrix(text: str, rows: pd.DataFrame, whole: str) -> tuple[np.ndarray, list[str]]:
    """The model matrix of a formula without bars, and its columns' lme4 names."""
    plain = plain_sum(text)
    if plain is not None and all(pd.api.types.is_numeric_dtype(rows[name]) for name in plain[1]):
        intercept, names = plain
        columns = ([np.ones(len(rows))] if intercept else []) + [_numeric(rows[name], name) for name in names]
        if not columns:
            raise UserError(f"formula {whole!r}: {text!r} leaves no column (0 + nothing)")
        return _by_columns(columns), ([INTERCEPT] if intercept else []) + names
    return _formulaic_matrix(text, rows, whole)


def _by_columns(columns: list[np.ndarray]) -> np.ndarray:
    """The columns side by side, each contiguous in memory (Fortran order): the sums take them one by one."""
    out = np.empty((len(columns[0]), len(columns)), order="F")
    for index, column in enumerate(columns):
        out[:, index] = column
    return out


def _formulaic_matrix(text: str, rows: pd.DataFrame, whole: str) -> tuple[np.ndarray, list[str]]:
    import formulaic  # only for formulas beyond plain sums of columns

    # R's power operator inside I() is Python's **
    python_text = re.sub(r"\^", "**", text)
    frame = rows.copy()
    for name in frame.columns:
        if frame[name].dtype == bool:
            frame[name] = frame[name].astype(str).str.upper()  # R's TRUE/FALSE levels
    try:
        matrix = formulaic.model_matrix(python_text, frame, na_action="raise")
    except Exception as exc:  # formulaic's errors are many types; each becomes one line naming the part
        first = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise UserError(f"formula {whole!r}: cannot build the terms {text!r}: {first}") from None
    values = np.asarray(matrix.to_numpy(), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError(f"formula {whole!r}: {text!r} gives a non-finite value (e.g. log of 0 or less)")
    return values, [_lme4_name(str(column)) for column in matrix.columns]


def _lme4_name(name: str) -> str:
    """formulaic's column name as lme4 writes it: `Intercept` → `(Intercept)`, `treat[T.B]` → `treatB`,
    `treat[B]` → `treatB`, `I(x ** 2)` → `I(x^2)`, `poly(x, 2)[1]` → `poly(x, 2)1`."""
    if name == "Intercept":
        return INTERCEPT
    name = re.sub(r"\[T\.([^\]]*)\]", r"\1", name)
    name = re.sub(r"\[([^\]]*)\]", r"\1", name)
    return name.replace(" ** ", "^")
