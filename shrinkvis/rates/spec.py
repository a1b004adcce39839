"""Which scenarios take the rates path, and what such a scenario may ask for (checked with the scenario).

A scenario is a rates scenario when its model is binomial or Poisson, when its table gives known standard
errors (`data.se`: a random-effects meta-analysis), or when it simulates hospitals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..scenario import Scenario

#: the views of a rates scenario (own modules: story/rates.py, render/rates.py)
RATE_VIEWS = ("caterpillar", "funnel", "shrinkage")

# what each view shows, for the gallery's alt text
RATE_VIEW_MOTION = {
    "rates:shrinkage": "each unit's rate moving from its own value (top rail) to its partial-pooling value "
    "(middle rail), toward the pooled rate, sized by its n; where a truth is known it appears on a rail below",
    "rates:caterpillar": "each unit on its own row with its 95 % interval, sliding from its own value toward "
    "the pooled value as its interval narrows",
    "rates:funnel": "rates against size with the funnel's 95 % and 99.8 % control limits, each unit sliding "
    "vertically toward the pooled rate",
}
RATE_VIEW_START = {
    f"rates:{view}": "each unit at its own rate or estimate (no pooling)" for view in RATE_VIEWS
}
RATE_VIEW_END = {
    f"rates:{view}": "each unit at its partial-pooling value (and the truth, where known)"
    for view in RATE_VIEWS
}


def _wants_rates(raw: Mapping[str, Any]) -> bool:
    model = raw.get("model")
    data = raw.get("data")
    family = model.get("family", "gaussian") if isinstance(model, Mapping) else "gaussian"
    if family in ("binomial", "poisson"):
        return True
    return isinstance(data, Mapping) and (data.get("simulate") == "hospitals" or data.get("se") is not None)


def random_intercept_default(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """A rates scenario without `model.random` gets the random intercept (the only one it fits), and
    without `animation.view` the caterpillar."""
    if not _wants_rates(raw):
        return raw
    model = raw.get("model")
    animation = raw.get("animation")
    updated = dict(raw)
    if model is None or (isinstance(model, Mapping) and "random" not in model):
        updated["model"] = {**(model or {}), "random": "intercept"}
    if animation is None or (isinstance(animation, Mapping) and "view" not in animation):
        updated["animation"] = {**(animation or {}), "view": "caterpillar"}
    return updated


def is_rates(scenario: Scenario) -> bool:
    from ..scenario import DataFileSpec, HospitalsSpec

    data = scenario.data
    return (
        scenario.model.family != "gaussian"
        or isinstance(data, HospitalsSpec)
        or (isinstance(data, DataFileSpec) and data.se is not None)
    )


def check_rates_scenario(scenario: Scenario) -> None:
    """What a rates scenario cannot do, each as one `ValueError` sentence (the scenario's checks turn it
    into one line naming the key)."""
    from ..scenario import DataFileSpec, HospitalsSpec

    data, model = scenario.data, scenario.model
    family = model.family
    if isinstance(data, DataFileSpec):
        if data.trials is not None and family != "binomial":
            raise ValueError(f"data.trials is for model.family: binomial (the model is {family})")
        if data.exposure is not None and family != "poisson":
            raise ValueError(f"data.exposure is for model.family: poisson (the model is {family})")
        if data.se is not None and family != "gaussian":
            raise ValueError(
                "data.se (known standard errors) is a Gaussian model: leave model.family gaussian"
            )
    if isinstance(data, HospitalsSpec) and family == "gaussian":
        raise ValueError("data.simulate: hospitals needs model.family: binomial or poisson")
    if not is_rates(scenario):
        return
    if model.random != "intercept":
        if family == "gaussian":
            raise ValueError("known-SE models have a random intercept only: use model.random: intercept")
        if model.engine != "exact":
            raise ValueError(
                f"model.engine = {model.engine}: binomial and Poisson random slopes are fitted by the exact "
                "engine (Laplace, as glmer)"
            )
        if model.nagq > 1:
            from ..fit.glmm_slopes import NAGQ_REFUSED

            raise ValueError(f"model.nagq = {model.nagq}: {NAGQ_REFUSED}")
    if model.engine == "statsmodels":
        raise ValueError(
            "model.engine = statsmodels: binomial, Poisson and known-SE models are fitted by the exact or the "
            "bayes engine"
        )
    if model.engine == "bayes" and isinstance(data, DataFileSpec) and data.x is not None:
        raise ValueError("model.engine = bayes fits rates without a predictor only: drop data.x")
    if family != "gaussian" and model.method != "ML" and "method" in model.model_fields_set:
        raise ValueError("binomial and Poisson models are fitted by ML (as glmer): use model.method: ML")
    if scenario.animation.view not in RATE_VIEWS:
        raise ValueError(
            f"animation.view = {scenario.animation.view}: a rates scenario shows {', '.join(RATE_VIEWS)}"
        )
    if isinstance(data, DataFileSpec) and data.se is not None and data.x is not None:
        raise ValueError("known standard errors: the model is y | se(se) ~ 1 + (1 | group); drop data.x")


def _number(value: Any, digits: int = 4) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.{digits}g}"


def gallery_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The gallery card's numbers for a rates or known-SE fit, as (label, plain text) pairs, from its
    summary.json."""
    scale = summary.get("scale") or {}
    rows = [
        ("Data", f"{summary.get('n_groups', '—')} clusters, {summary.get('n_obs', '—')} rows"),
        ("Model", f"{summary.get('formula', '—')} — {summary.get('fit', '')}"),
        ("Pooled value", f"{_number(summary.get('pooled_value'))} ({scale.get('label', '')})"),
    ]
    if summary.get("family") == "meta":
        rows.append(
            (
                "Between-study variance τ²",
                f"{_number(summary.get('tau2'))} (SE {_number(summary.get('se_tau2'))})",
            )
        )
    else:
        rows.append(("SD of the random intercepts", f"{_number(summary.get('sd_intercept'))} (link scale)"))
    bayes = summary.get("bayes")
    if isinstance(bayes, Mapping):
        priors = bayes.get("priors") or {}
        quantiles = bayes.get("sd_quantiles") or [None, None, None]
        rows.append(
            (
                "Bayes: SD of the intercepts",
                f"posterior mean {_number(bayes.get('sd_mean'))}, 95 % {_number(quantiles[0], 3)} to "
                f"{_number(quantiles[2], 3)}; priors Intercept ~ {priors.get('Intercept', '—')}, "
                f"sd ~ {priors.get('sd', '—')}",
            )
        )
    truth = summary.get("truth")
    if isinstance(truth, Mapping):
        rows.append(
            (
                "Error against the truth",
                f"RMSE own {_number(truth.get('own'))} → shrunk {_number(truth.get('partial'))}",
            )
        )
    else:
        rows.append(("Error against the truth", "no truth known for these data"))
    return rows
