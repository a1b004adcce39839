"""lme4 formulas, the few that shrinkvis fits: one outcome, at most one predictor, one grouping column.

    y ~ 1 + (1 | g)        random intercept, no predictor
    y ~ x + (1 | g)        random intercept, fixed slope
    y ~ x + (x | g)        random intercept and slope (lme4 adds the intercept inside the bar)
    y ~ x + (1 + x | g)    the same, spelled out

Equivalent spellings lme4 accepts (`y ~ (1 | g)`, `y ~ 1 + x + (x | g)`, spaces anywhere) are read the
same way; anything else is a `UserError` that lists what is supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UserError

SUPPORTED = "y ~ 1 + (1 | g), y ~ x + (1 | g), y ~ x + (x | g) or y ~ x + (1 + x | g)"

# a column name: plain (letters, digits, _ and .) or in backticks, as R writes names with spaces
_NAME = r"(?:`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)"
_RANDOM_TERM = re.compile(rf"\(\s*(?P<terms>[^|()]*?)\s*\|\s*(?P<group>{_NAME})\s*\)")


@dataclass(frozen=True)
class Formula:
    y: str
    x: str | None
    group: str
    random: str  # "slope" or "intercept", as in ModelSpec

    def __str__(self) -> str:
        if self.x is None:
            return f"{self.y} ~ 1 + (1 | {self.group})"
        inside = self.x if self.random == "slope" else "1"
        return f"{self.y} ~ {self.x} + ({inside} | {self.group})"


MAX_FORMULA_CHARS = 1_000  # far above any formula shrinkvis fits; keeps every parse short


def check_length(text: str) -> None:
    """A formula longer than `MAX_FORMULA_CHARS` is refused before it is parsed (a regular expression
    on "y ~ x + (" and 8,000 spaces ran for minutes)."""
    if len(text) > MAX_FORMULA_CHARS:
        raise UserError(
            f"formula: {len(text):,} characters; at most {MAX_FORMULA_CHARS:,} are allowed "
            f"(shrinkvis fits {SUPPORTED})"
        )


def parse(text: str) -> Formula:
    """Read one of the supported lme4 formulas into its columns and the kind of random effect."""
    check_length(text)
    unsupported = UserError(f"formula {text.strip()!r} is not supported; shrinkvis fits {SUPPORTED}")
    left, tilde, right = text.partition("~")
    y = _name(left)
    if not tilde or y is None:
        raise unsupported
    random_terms = list(_RANDOM_TERM.finditer(right))
    if len(random_terms) != 1:
        raise unsupported
    term = random_terms[0]
    fixed = _terms(right[: term.start()] + right[term.end() :])
    inside = _terms(term.group("terms"))
    group = _unquote(term.group("group"))
    if fixed is None or inside is None:
        raise unsupported
    predictors = fixed - {"1"}
    if len(predictors) > 1 or inside - {"1"} - predictors:
        raise unsupported  # a second predictor, or a random slope for a column not in the fixed part
    x = next(iter(predictors), None)
    if x is None:
        if inside != {"1"}:
            raise unsupported
        return Formula(y=y, x=None, group=group, random="intercept")
    if inside == {"1"}:
        return Formula(y=y, x=x, group=group, random="intercept")
    return Formula(y=y, x=x, group=group, random="slope")


def is_two_effect(text: str) -> bool:
    """Whether a formula is one of the four above (fitted by the two-effect path, whose outputs and
    pictures know intercept and slope); any other formula goes to the general model (model.py)."""
    try:
        parse(text)
    except UserError:
        return False
    return True


def _terms(text: str) -> set[str] | None:
    """The terms of a sum (`1 + x`), or None when it holds anything but names, `1` and `+`."""
    parts = [part.strip() for part in text.split("+")]
    if all(not part for part in parts):
        return set()
    parts = [part for part in parts if part]  # `+ (1 | g)` leaves an empty piece where the term was
    terms = set()
    for part in parts:
        if part == "1":
            terms.add("1")
            continue
        name = _name(part)
        if name is None:
            return None
        terms.add(name)
    return terms


def _name(text: str) -> str | None:
    text = text.strip()
    return _unquote(text) if re.fullmatch(_NAME, text) else None


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name
