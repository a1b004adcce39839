from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

LME4_DIR = Path(__file__).parent / "data" / "lme4"
LME4_CASES = sorted(path.stem for path in LME4_DIR.glob("*.json"))


def load_reference(case: str) -> tuple[pd.DataFrame, dict]:
    """The data (group labels as text, as lme4 saw them) and lme4's results for one reference case."""
    expected = json.loads((LME4_DIR / f"{case}.json").read_text())
    group = expected["columns"]["group"]
    data = pd.read_csv(LME4_DIR / f"{case}.csv", dtype={group: str})
    return data, expected


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
