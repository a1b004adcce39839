"""shrinkvis: animations of partial pooling, the way mixed models shrink per-cluster estimates.

The pipeline from Python, as a notebook uses it::

    import shrinkvis
    scenario = shrinkvis.load_scenario("baseline", ["data.sd_int=1"])
    data = shrinkvis.simulate(scenario.data)
    estimates = shrinkvis.fit(data, scenario.model)
    files = shrinkvis.render(estimates, scenario, "out/mine", data=data)
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ShrinkvisError, UserError

if TYPE_CHECKING:
    from .fit import Estimates, fit
    from .pipeline import RunResult, run, storyboard
    from .scenario import Scenario
    from .scenario import load as load_scenario
    from .simulate import simulate

__version__ = "0.1.0"

# The public names live in modules that import numpy, pandas and pydantic. They are loaded on first use
# (PEP 562), so `shrinkvis --help` and every `import shrinkvis.something` stay fast.
_LAZY = {
    "Estimates": ("fit", "Estimates"),
    "fit": ("fit", "fit"),
    "RunResult": ("pipeline", "RunResult"),
    "run": ("pipeline", "run"),
    "storyboard": ("pipeline", "storyboard"),
    "Scenario": ("scenario", "Scenario"),
    "load_scenario": ("scenario", "load"),
    "simulate": ("simulate", "simulate"),
}


class _Package(types.ModuleType):
    """This package's module type: `shrinkvis.fit`, `.simulate` and `.render` stay the functions.

    Importing a submodule binds it on its package under its own name, so loading the `fit`, `simulate`
    or `render` module (as any run does) would otherwise replace the function of that name.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


_FUNCTIONS_NAMED_LIKE_MODULES = {"fit", "simulate", "render"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'shrinkvis' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f".{module_name}", __name__), attribute)
    globals()[name] = value
    return value


def render(estimates: Estimates, scenario: Scenario, out_dir: str | Path, formats=None, data=None):  # type: ignore[no-untyped-def]
    """Write the animation files for a fit into `out_dir` (GIF, MP4, PNG, SVG by default).

    `data` (the modelled rows: a DataFrame with y, x, cluster, as `simulate` returns) is needed by the
    lines view, which draws them.
    """
    from .pipeline import render as render_files

    return render_files(estimates, scenario, Path(out_dir), formats, data)


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

sys.modules[__name__].__class__ = _Package
