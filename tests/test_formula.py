from __future__ import annotations

import pytest

from shrinkvis.errors import UserError
from shrinkvis.formula import Formula, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("score ~ 1 + (1 | school)", Formula("score", None, "school", "intercept")),
        ("score ~ (1|school)", Formula("score", None, "school", "intercept")),
        ("y ~ x + (1 | g)", Formula("y", "x", "g", "intercept")),
        ("Reaction ~ Days + (Days | Subject)", Formula("Reaction", "Days", "Subject", "slope")),
        ("Reaction~Days+(1+Days|Subject)", Formula("Reaction", "Days", "Subject", "slope")),
        ("y ~ 1 + x + (x | g)", Formula("y", "x", "g", "slope")),
        (
            "`test score` ~ `hours.studied` + (1 | `school id`)",
            Formula("test score", "hours.studied", "school id", "intercept"),
        ),
    ],
)
def test_supported_formulas(text, expected):
    assert parse(text) == expected


def test_formula_prints_in_lme4_notation():
    assert str(parse("Reaction~Days+(1+Days|Subject)")) == "Reaction ~ Days + (Days | Subject)"
    assert str(parse("score ~ (1|school)")) == "score ~ 1 + (1 | school)"


@pytest.mark.parametrize(
    "text",
    [
        "y ~ x + z + (1 | g)",  # two predictors
        "y ~ x + (x || g)",  # uncorrelated random effects
        "y ~ 0 + x + (x | g)",  # no intercept
        "y ~ x - 1 + (x | g)",
        "y ~ x + (z | g)",  # random slope of a column not in the fixed part
        "y ~ (x | g)",
        "y ~ x + (1 | g) + (1 | h)",  # two grouping factors
        "y ~ x",  # no random effect
        "y ~ x * z + (1 | g)",
        "y ~ log(x) + (1 | g)",
        "y x (1 | g)",
        "~ x + (1 | g)",
        "y ~ x + (0 + x | g)",
    ],
)
def test_anything_else_names_what_is_supported(text):
    with pytest.raises(UserError) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith(f"formula {text!r} is not supported")
    assert "y ~ 1 + (1 | g), y ~ x + (1 | g), y ~ x + (x | g) or y ~ x + (1 + x | g)" in message
    assert "\n" not in message
