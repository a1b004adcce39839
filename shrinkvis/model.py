"""The model description: an lme4 formula with one grouping factor, read into its parts and applied to rows.

    y ~ x1 + x2 + log(n) + treat + (1 + x1 | g)     fixed part + one correlated bar
    y ~ 0 + x1 + (0 + x1 + x2 | g)                  no fixed intercept, no random intercept
    y ~ x1 + (x1 || g)                              independent random effects (one bar per column)
    y ~ x1 + (1 | g) + (0 + x1 | g)                 several bars on the same g: independent blocks

The bars are read here; the fixed part and the inside of each bar are model formulas without bars. Plain
sums of numeric columns (`1 + x1 + x2`, `0 + x`) are built directly; anything else (factors, `a:b`,
`a*b`, `log(n)`, `I(x^2)`, `poly(x, 2)`) is handed to formulaic, imported only then (about 0.5 s on
top of pandas). Coefficients are named as lme4 names them: `(Intercept)`, `treatB`, `x1:treatB`,
`I(x2^2)`. design.py applies a formula to rows. A formula may use `n` without the data having that column: it is then each cluster's number of
rows (`y ~ x + log(n) + (x | cluster)`, the remedy the small_differ report gives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UserError

__all__ = ["Bar", "ModelFormula", "parse_model", "plain_sum"]

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
