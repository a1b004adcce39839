"""The model description: an lme4 formula with one grouping factor, read into its parts and applied to rows.

    y ~ x1 + x2 + log(n) + treat + (1 + x1 | g)     fixed part + one correlated bar
    y ~ 0 + x1 + (0 + x1 + x2 | g)                  no fixed intercept, no random intercept
    y ~ x1 + (x1 || g)                              independent random effects (one bar per column)
    y ~ x1 + (1 | g) + (0 + x1 | g)                 several bars on the same g: independent blocks

The bars are read here; the fixed part and the inside of each bar are model formulas without bars. Plain
sums of numeric columns (`1 + x1 + x2`, `0 + x`) are built directly; anything else (factors, `a:b`,
`a*b`, `log(n)`, `I(x^2)`, `poly(x, 2)`) is handed to formulaic, imported only then (about 0.5 s on
top of pandas). Coefficients are named as lme4 names them: `(Intercept)`, `treatB`, `x1:treatB`,
`I(x2^2)`. A formula may use `n` without the data having that column: it is then each cluster's number of
rows (`y ~ x + log(n) + (x | cluster)`, the remedy the small_differ report gives).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import cluster_order
from .errors import DataError, UserError

__all__ = ["Bar", "Design", "ModelFormula", "design", "parse_model"]

INTERCEPT = "(Intercept)"
#: a column a formula may name without the data having it: each cluster's number of rows, as in the
#: remedy the small_differ report gives, y ~ x + log(n) + (x | cluster)
CLUSTER_SIZE = "n"

# a column name: plain (letters, digits, _ and .) or in backticks, as R writes names with spaces
_NAME = r"(?:`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)"
_SUPPORTED = (
    "lme4 formulas with one grouping factor: y ~ fixed terms + (terms | g), (0 + terms | g), (terms || g), "
    "several bars on the same g"
)


@dataclass(frozen=True)
class Bar:
    """One random-effects term `(terms | group)`; `independent` for `||` (each column its own block)."""

    terms: str
    independent: bool = False

    def __str__(self) -> str:
        return f"({self.terms} {'||' if self.independent else '|'} {{group}})"


@dataclass(frozen=True)
class ModelFormula:
    """A formula read into its parts: the response, the fixed part (a formula without bars), the bars
    and the one grouping column."""

    text: str
    response: str
    fixed: str
    bars: tuple[Bar, ...]
    group: str

    def __str__(self) -> str:
        bars = " + ".join(str(bar).replace("{group}", self.group) for bar in self.bars)
        return f"{self.response} ~ {self.fixed} + {bars}"

    @property
    def columns(self) -> list[str]:
        """Every column name the formula mentions (functions and keywords left out), in order."""
        names = [self.response]
        for text in [self.fixed, *(bar.terms for bar in self.bars)]:
            names += _names_in(text)
        names.append(self.group)
        return list(dict.fromkeys(names))


def parse_model(text: str) -> ModelFormula:
    """Read an lme4 formula; a `UserError` names the part that cannot be read and says what can."""
    stripped = text.strip()
    _check_parentheses(stripped)
    left, tilde, right = stripped.partition("~")
    if not tilde:
        raise UserError(f"formula {stripped!r} has no '~': write it as y ~ fixed terms + (terms | group)")
    response = left.strip()
    if not re.fullmatch(_NAME, response):
        raise UserError(
            f"formula {stripped!r}: the response {response!r} must be one column name (transform it in the data)"
        )
    fixed_pieces, bars, groups = _split_bars(right, stripped)
    if any("|" in _top_level(piece) for piece in fixed_pieces):
        raise UserError(f"formula {stripped!r}: a random-effects term needs parentheses, as in (x | group)")
    if not bars:
        raise UserError(
            f"formula {stripped!r} has no random-effects term; add one such as (1 | group) ({_SUPPORTED})"
        )
    if len(set(groups)) > 1:
        raise UserError(
            f"formula {stripped!r} has {len(set(groups))} grouping factors ({', '.join(dict.fromkeys(groups))}); "
            "shrinkvis fits models with one grouping factor"
        )
    fixed = " + ".join(piece for piece in fixed_pieces if piece) or "1"
    return ModelFormula(
        text=stripped, response=_unquote(response), fixed=fixed, bars=tuple(bars), group=_unquote(groups[0])
    )


def _check_parentheses(text: str) -> None:
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise UserError(f"formula {text!r} has a ')' without its '(' at character {position + 1}")
    if depth > 0:
        raise UserError(f"formula {text!r} has {depth} '(' without a closing ')'")


def _split_bars(right: str, whole: str) -> tuple[list[str], list[Bar], list[str]]:
    """The top-level `+` pieces of the right-hand side: bars are read, the others are the fixed part."""
    fixed: list[str] = []
    bars: list[Bar] = []
    groups: list[str] = []
    for piece in _top_level_sum(right):
        inner = _parenthesised(piece)
        if inner is None or "|" not in _top_level(inner):
            fixed.append(piece)
            continue
        independent = "||" in inner
        terms, _, group = inner.partition("||" if independent else "|")
        group = group.strip()
        if not re.fullmatch(_NAME, group):
            if "/" in group or ":" in group:
                raise UserError(
                    f"formula {whole!r}: the grouping {group!r} (nested or crossed groups) is not supported; "
                    "shrinkvis fits models with one grouping factor, such as (1 | g)"
                )
            raise UserError(f"formula {whole!r}: the grouping {group!r} in ({inner}) must be one column name")
        if not terms.strip():
            raise UserError(f"formula {whole!r}: ({inner}) has nothing before the bar; write (1 | {group})")
        bars.append(Bar(terms=terms.strip(), independent=independent))
        groups.append(group)
    return fixed, bars, groups


def _top_level(text: str) -> str:
    """The text with everything inside parentheses blanked out."""
    out, depth = [], 0
    for char in text:
        if char == "(":
            depth += 1
        out.append(char if depth == 0 else " ")
        if char == ")":
            depth -= 1
    return "".join(out)


def _top_level_sum(text: str) -> list[str]:
    """Split at top-level `+`; a top-level `-` (as in `- 1`) stays with its piece."""
    pieces, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "+" and depth == 0:
            pieces.append(text[start:position].strip())
            start = position + 1
    pieces.append(text[start:].strip())
    return pieces


def _parenthesised(piece: str) -> str | None:
    """`inner` when the piece is `(inner)` as a whole, else None."""
    if not (piece.startswith("(") and piece.endswith(")")):
        return None
    depth = 0
    for position, char in enumerate(piece):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and position < len(piece) - 1:
            return None
    return piece[1:-1].strip()


_FUNCTIONS = {"log", "exp", "sqrt", "I", "poly", "C", "scale", "center", "abs", "log10", "log2", "sin", "cos"}


def _names_in(text: str) -> list[str]:
    names = []
    for match in re.finditer(rf"{_NAME}(?P<call>\s*\()?", text):
        name = match.group(0).rstrip("( ").strip()
        if match.group("call") or name in _FUNCTIONS or re.fullmatch(r"[0-9.]+", name):
            continue
        names.append(_unquote(name))
    return names


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


# --------------------------------------------------------------------------------------------------------
# Applying the formula to rows
# --------------------------------------------------------------------------------------------------------


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


def plain_sum(text: str) -> tuple[bool, list[str]] | None:
    """(intercept, column names) of a plain sum such as `1 + x1 + x2`, `0 + x` or `x - 1`; None otherwise."""
    intercept = True
    names = []
    for piece in _top_level_sum(text):
        if piece in ("1", ""):
            continue
        if piece in ("0", "-1", "- 1"):
            intercept = False
            continue
        word, minus, rest = piece.partition("-")
        if minus and rest.strip() == "1" and re.fullmatch(_NAME, word.strip()):
            intercept = False
            piece = word.strip()
        if not re.fullmatch(_NAME, piece):
            return None
        names.append(_unquote(piece))
    return intercept, list(dict.fromkeys(names))


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
