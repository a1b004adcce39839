"""glmer's and brms's spellings of the rates models, read into the data's columns.

    cbind(deaths, n - deaths) ~ 1 + (1 | hospital)          binomial: successes out of trials
    deaths ~ 1 + offset(log(exposure)) + (1 | hospital)      Poisson: counts per unit of exposure
    y | se(sigma) ~ 1 + (1 | study)                          known standard errors (brms)

and each of them with one predictor beside the 1 (`~ 1 + x + …`); binomial and Poisson models may give
it a random slope too (`~ x + (x | hospital)`). A formula with none of cbind(),
offset() or se() is not one of these (`parse` returns None) and goes to the linear model's parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UserError
from ..formula import parse as parse_linear

_NAME = r"(?:`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)"
_CBIND = re.compile(rf"^\s*cbind\(\s*(?P<y>{_NAME})\s*,\s*(?P<rest>[^()]*)\)\s*$")
_REST = re.compile(rf"^\s*(?P<n>{_NAME})\s*-\s*(?P<y>{_NAME})\s*$")
_SE = re.compile(rf"^\s*(?P<y>{_NAME})\s*\|\s*se\(\s*(?P<se>{_NAME})\s*\)\s*$")
_OFFSET = re.compile(rf"\+?\s*offset\(\s*log\(\s*(?P<exposure>{_NAME})\s*\)\s*\)\s*")

SUPPORTED = (
    "cbind(y, n - y) ~ 1 + (1 | g), y ~ 1 + offset(log(exposure)) + (1 | g) or y | se(sigma) ~ 1 + (1 | g)"
)


@dataclass(frozen=True)
class RatesFormula:
    y: str
    group: str
    x: str | None
    family: str  # "binomial", "poisson" or "gaussian" (known SEs)
    trials: str | None = None
    exposure: str | None = None
    se: str | None = None
    random: str = "intercept"  # or "slope": (x | group), binomial and Poisson (Laplace, as glmer)


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


def parse(text: str) -> RatesFormula | None:
    left, tilde, right = text.partition("~")
    if not tilde or not any(word in text for word in ("cbind(", "offset(", "se(")):
        return None
    bad = UserError(f"formula {text.strip()!r} is not supported; for rates shrinkvis fits {SUPPORTED}")
    trials = exposure = se = None
    family = "gaussian"
    cbind = _CBIND.match(left)
    known = _SE.match(left)
    if cbind:
        rest = _REST.match(cbind.group("rest"))
        if rest is None or _unquote(rest.group("y")) != _unquote(cbind.group("y")):
            raise UserError(
                f"formula {text.strip()!r}: write cbind({cbind.group('y')}, n - {cbind.group('y')}) with n the "
                "column of trials"
            )
        y, trials, family = _unquote(cbind.group("y")), _unquote(rest.group("n")), "binomial"
    elif known:
        y, se = _unquote(known.group("y")), _unquote(known.group("se"))
    elif "cbind(" in left or "se(" in left:
        raise bad
    else:
        y = _unquote(left.strip())
    offset = _OFFSET.search(right)
    if offset:
        exposure, family = _unquote(offset.group("exposure")), "poisson"
        right = (
            right[: offset.start()]
            + ("+ " if right[: offset.start()].strip() else "")
            + right[offset.end() :]
        )
        right = re.sub(r"\+\s*\+", "+", right)
    if "offset(" in right:
        raise bad
    if exposure and (trials or se):
        raise bad
    # what is left is a linear model's formula: one outcome, an optional predictor, one random intercept
    linear = parse_linear(f"y_placeholder ~ {right}")
    if linear.random != "intercept" and family == "gaussian":
        raise UserError(f"formula {text.strip()!r}: known-SE models have (1 | group) only")
    return RatesFormula(
        y=y,
        group=linear.group,
        x=linear.x,
        family=family,
        trials=trials,
        exposure=exposure,
        se=se,
        random=linear.random,
    )
