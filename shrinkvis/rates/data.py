"""The data of a rates scenario: one row per cluster (events and their denominator, or an estimate and its
known SE), from a table of the user's (under the same reading rules as every table) or the hospitals
simulation. Rows are summed per cluster; a model with a predictor keeps its rows as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import _numbers, cluster_order, model_frame, read_table, summed_by_duckdb
from ..errors import DataError
from ..scenario import DataFileSpec, HospitalsSpec, Scenario
from .simulate import simulate_hospitals


@dataclass(frozen=True)
class RateData:
    """`clusters`: one row per cluster in display order with `cluster`, `n_rows`, and
    binomial/Poisson: `events`, `size` (trials or exposure); known SE: `estimate`, `se`;
    with a truth: `truth` (a rate, or for known SEs an effect). `rows` (y, size, x, codes) when the model
    has a predictor. Summed by DuckDB (a glob, a directory, a large file), `clusters` also holds the sums
    of the rows' log-likelihood constants (`constant`, `saturated`) and `rows` is None. Names are the
    data's own, for labels."""

    kind: str  # "binomial", "poisson" or "meta"
    clusters: pd.DataFrame
    source: str
    y_name: str
    size_name: str | None
    group_name: str
    x_name: str | None
    dropped_rows: int
    n_obs: int
    rows: pd.DataFrame | None = None
    truth_name: str | None = None
    simulated: bool = False
    se_name: str | None = None


def rate_data(scenario: Scenario) -> RateData:
    data = scenario.data
    if isinstance(data, HospitalsSpec):
        return _hospitals(data, scenario.model.family)
    assert isinstance(data, DataFileSpec)
    return _from_table(data, scenario.model.family)


def _hospitals(spec: HospitalsSpec, family: str) -> RateData:
    table = simulate_hospitals(
        n_hospitals=spec.n_hospitals,
        median_cases=spec.median_cases,
        size_spread=spec.size_spread,
        min_cases=spec.min_cases,
        mortality=spec.mortality,
        size_effect=spec.size_effect,
        sd_hospital=spec.sd_hospital,
        rng=np.random.default_rng(spec.seed),
    ).table
    clusters = pd.DataFrame(
        {
            "cluster": table.hospital,
            "n_rows": 1,
            "events": table.deaths.astype(float),
            "size": table.cases.astype(float),
            "truth": table.true_rate,
        }
    )
    return RateData(
        kind=family,
        clusters=clusters,
        source=f"simulated hospitals (seed {spec.seed})",
        y_name="deaths",
        size_name="cases",
        group_name="hospital",
        x_name=None,
        dropped_rows=0,
        n_obs=len(table),
        truth_name="true mortality",
        simulated=True,
    )


def _from_table(spec: DataFileSpec, family: str) -> RateData:
    source = spec.file
    if spec.se is None and summed_by_duckdb(spec.file):
        return _summed(spec, family)
    table = read_table(spec.file, text_columns=(spec.group,))
    kind = "meta" if spec.se is not None else family
    size_column = spec.trials if kind == "binomial" else spec.exposure if kind == "poisson" else None
    extra = [column for column in (size_column, spec.se, spec.truth) if column is not None]
    for column in extra:
        if column not in table.columns:
            raise DataError(
                f"{source}: no column {column!r}; the file has: {', '.join(map(str, table.columns))}"
            )
    # the model's columns by the one set of reading rules; the extra columns on the rows it kept
    base = model_frame(table, y=spec.y, group=spec.group, x=spec.x, source=source)
    kept = table.loc[base.frame.index]
    complete = ~kept[extra].isna().any(axis=1) if extra else pd.Series(True, index=kept.index)
    frame = base.frame[complete.to_numpy()]
    kept = kept[complete]
    dropped = base.dropped_rows + int((~complete).sum())
    y = frame["y"].to_numpy(dtype=float)
    values = {column: _numbers(kept[column], column, source) for column in extra}
    codes, labels = cluster_order(frame["cluster"])
    n_groups = len(labels)
    if kind == "meta":
        if np.bincount(codes, minlength=n_groups).max() > 1:
            raise DataError(
                f"{source}: known standard errors need one row per {spec.group!r}; some appear twice"
            )
        se = values[spec.se]
        if np.any(se <= 0):
            raise DataError(f"{source}: column {spec.se!r} must hold standard errors above 0")
        order = np.argsort(codes)
        clusters = pd.DataFrame({"cluster": labels, "n_rows": 1, "estimate": y[order], "se": se[order]})
    else:
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise DataError(
                f"{source}: column {spec.y!r} must hold counts (whole numbers ≥ 0) for a {kind} model"
            )
        size = values[size_column] if size_column is not None else np.ones_like(y)
        if kind == "binomial":
            if size_column is None and np.any(y > 1):
                raise DataError(
                    f"{source}: column {spec.y!r} holds counts above 1; give the trials (data.trials, "
                    "or cbind(y, n - y) in the formula) or a 0/1 outcome"
                )
            if np.any(size != np.round(size)) or np.any(y > size):
                raise DataError(
                    f"{source}: column {size_column!r} must hold whole numbers of trials, each at least {spec.y!r}"
                )
        elif np.any(size <= 0):
            raise DataError(f"{source}: column {size_column!r} must hold exposures above 0")
        clusters = pd.DataFrame(
            {
                "cluster": labels,
                "n_rows": np.bincount(codes, minlength=n_groups),
                "events": np.bincount(codes, y, n_groups),
                "size": np.bincount(codes, size, n_groups),
            }
        )
    if spec.truth is not None:
        truth = pd.Series(values[spec.truth]).groupby(codes).mean()
        clusters["truth"] = truth.reindex(range(n_groups)).to_numpy()
    rows = None
    if spec.x is not None:
        rows = pd.DataFrame(
            {
                "y": y,
                "size": values.get(size_column, np.ones_like(y)),
                "x": frame["x"].to_numpy(),
                "codes": codes,
            }
        )
    elif kind != "meta":
        rows = pd.DataFrame({"y": y, "size": values.get(size_column, np.ones_like(y)), "codes": codes})
    return RateData(
        kind=kind,
        clusters=clusters,
        source=source,
        y_name=spec.y,
        size_name=size_column,
        group_name=spec.group,
        x_name=spec.x,
        dropped_rows=dropped,
        n_obs=len(frame),
        rows=rows,
        truth_name=spec.truth.replace("_", " ") if spec.truth else None,
        se_name=spec.se,
    )


def _summed(spec: DataFileSpec, family: str) -> RateData:
    """A glob, a directory or a large file: the clusters' sums by DuckDB (the intercept-only model needs
    nothing else); the rows are never in memory."""
    if spec.x is not None:
        raise DataError(
            f"{spec.file}: a glob, a directory or a file over 64 MB is summed per cluster, which serves the "
            f"model without a predictor only: drop data.x ({spec.x!r}) or give one file under 64 MB"
        )
    from ..aggregate.rates_on_duckdb import rate_sums

    size_column = spec.trials if family == "binomial" else spec.exposure
    sums = rate_sums(spec.file, family=family, y=spec.y, group=spec.group, size=size_column, truth=spec.truth)
    return RateData(
        kind=family,
        clusters=sums.clusters,
        source=spec.file,
        y_name=spec.y,
        size_name=size_column,
        group_name=spec.group,
        x_name=None,
        dropped_rows=sums.dropped_rows,
        n_obs=sums.n_obs,
        truth_name=spec.truth.replace("_", " ") if spec.truth else None,
    )
