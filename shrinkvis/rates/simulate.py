"""Simulated hospitals: many hospitals of very different sizes, and a true size–mortality relation.

George, Ročková, Rosenbaum, Satopää and Silber (2016, JASA 112, "Mortality rate estimation and
standardization for public reporting: Medicare's Hospital Compare") showed that a random-intercept model
that ignores hospital size pulls small hospitals toward the overall rate, while in truth small hospitals
do worse: their shrunk rates look better than they are. This simulation has that structure:

    cases_j        ~ round(exp(N(log median_cases, size_spread²))), at least min_cases
    logit p_j      = logit(mortality) + size_effect · (log cases_j − mean log cases) + N(0, sd_hospital²)
    deaths_j       ~ Binomial(cases_j, p_j)

Draws in this order (sizes, effects, deaths) from one generator made from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class HospitalSimulation:
    """One row per hospital: hospital, deaths, cases, and the true mortality `true_rate`."""

    table: pd.DataFrame


def simulate_hospitals(
    *,
    n_hospitals: int,
    median_cases: float,
    size_spread: float,
    min_cases: int,
    mortality: float,
    size_effect: float,
    sd_hospital: float,
    rng: np.random.Generator,
) -> HospitalSimulation:
    log_cases = rng.normal(np.log(median_cases), size_spread, n_hospitals)
    cases = np.maximum(np.round(np.exp(log_cases)), min_cases).astype(np.int64)
    centred = np.log(cases) - np.log(cases).mean()
    logit = (
        np.log(mortality / (1 - mortality)) + size_effect * centred + rng.normal(0, sd_hospital, n_hospitals)
    )
    true_rate = 1 / (1 + np.exp(-logit))
    deaths = rng.binomial(cases, true_rate)
    width = len(str(n_hospitals))
    table = pd.DataFrame(
        {
            "hospital": [f"H{index + 1:0{width}d}" for index in range(n_hospitals)],
            "deaths": deaths,
            "cases": cases,
            "true_rate": true_rate,
        }
    )
    return HospitalSimulation(table)
