"""shrinkvis: animations of partial pooling, the way mixed models shrink per-cluster estimates.

The pipeline from Python, as a notebook uses it::

    import shrinkvis
    scenario = shrinkvis.load_scenario("baseline", ["data.sd_int=1"])
    data = shrinkvis.simulate(scenario.data)
    estimates = shrinkvis.fit(data, scenario.model)
    files = shrinkvis.render(estimates, scenario, "out/mine", data=data)
"""

from __future__ import annotations

from pathlib import Path

from .errors import ShrinkvisError, UserError
from .fit import Estimates, fit
from .pipeline import RunResult, run, storyboard
from .pipeline import render as _render
from .scenario import Scenario
from .scenario import load as load_scenario
from .simulate import simulate

__version__ = "0.1.0"


def render(estimates: Estimates, scenario: Scenario, out_dir: str | Path, formats=None, data=None):  # type: ignore[no-untyped-def]
    """Write the animation files for a fit into `out_dir` (GIF, MP4, PNG, SVG by default).

    `data` (the modelled rows: y, x, cluster) is needed by the lines view, which draws them.
    """
    return _render(estimates, scenario, Path(out_dir), formats, data)


__all__ = [
    "Estimates",
    "RunResult",
    "Scenario",
    "ShrinkvisError",
    "UserError",
    "fit",
    "load_scenario",
    "render",
    "run",
    "simulate",
    "storyboard",
]
