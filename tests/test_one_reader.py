"""One reader: a folder, a glob, a big file and a small file are read under the same rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shrinkvis.aggregate import file_sums
from shrinkvis.errors import DataError
from shrinkvis.fit import fit
from shrinkvis.fit.sums import fit_sums


def _two_groups_of_rows(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cluster = np.repeat([f"c{k}" for k in range(8)], 25)
    x = rng.normal(size=len(cluster))
    y = 2.0 + 5.0 * x + rng.normal(scale=1.5, size=len(cluster))
    return pd.DataFrame({"y": y, "x": x, "g": cluster})


def test_a_file_with_its_columns_in_another_order_is_read_by_name(tmp_path):
    """The worst defect: x,y,g in one file of a folder was read as y,x,g (slope −0.5 instead of 5)."""
    frame = _two_groups_of_rows(1)
    frame.iloc[:100][["y", "x", "g"]].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[100:][["x", "y", "g"]].to_csv(tmp_path / "b.csv", index=False)
    summed = fit_sums(file_sums(tmp_path, y="y", x="x", group="g"))
    in_memory = fit(frame.rename(columns={"g": "cluster"}))
    assert summed.fixed_effects["x"] == pytest.approx(in_memory.fixed_effects["x"], rel=1e-9)
    assert summed.residual_sd == pytest.approx(in_memory.residual_sd, rel=1e-9)
    assert summed.n_obs == 200


def test_a_file_without_a_model_column_is_named(tmp_path):
    frame = _two_groups_of_rows(2)
    frame.iloc[:100].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[100:].rename(columns={"y": "response"}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b\.csv: no column 'y'; the file has: response, x, g"):
        file_sums(tmp_path / "*.csv", y="y", x="x", group="g")
