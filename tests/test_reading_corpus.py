"""The two-readers corpus: every awkward file read in memory (pandas) and by DuckDB (as a big file, a
folder or a glob would be) gives the same rows per cluster, or the same one-line error."""

from __future__ import annotations

import numpy as np
import pytest

from shrinkvis.aggregate import file_sums
from shrinkvis.data import cluster_order, read_model_data
from shrinkvis.errors import DataError
from shrinkvis.scenario import DataFileSpec

from .corpus import write_corpus

CORPUS: dict = {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_corpus(folder)


def _in_memory(path, columns):
    try:
        data = read_model_data(DataFileSpec(file=str(path), **columns))
    except DataError as error:
        return str(error)
    codes, labels = cluster_order(data.frame["cluster"])
    n = np.bincount(codes, minlength=len(labels))
    mean_y = np.bincount(codes, weights=data.frame["y"], minlength=len(labels)) / n
    mean_x = (
        np.bincount(codes, weights=data.frame["x"], minlength=len(labels)) / n if "x" in data.frame else None
    )
    return [str(label) for label in labels], n, mean_y, mean_x, data.dropped_rows


def _by_duckdb(path, columns):
    try:
        sums = file_sums(path, **columns)
    except DataError as error:
        return str(error)
    stats = sums.stats
    mean_x = stats.mean_x if stats.has_x else None
    return [str(label) for label in sums.labels], np.asarray(stats.n), stats.mean_y, mean_x, sums.dropped_rows


def _names():
    from .corpus import TEXT, parquet_tables

    return sorted(TEXT) + sorted(parquet_tables())


@pytest.mark.parametrize("name", _names())
def test_both_readers_give_the_same_rows_or_the_same_error(corpus, name):
    folder, columns = corpus
    path = folder / name
    memory, duck = _in_memory(path, columns[name]), _by_duckdb(path, columns[name])
    if isinstance(memory, str) or isinstance(duck, str):
        assert memory == duck
        assert "\n" not in memory and memory.startswith(str(path))
        return
    labels, n, mean_y, mean_x, dropped = memory
    assert duck[0] == labels
    assert list(duck[1]) == list(n)
    assert np.allclose(duck[2], mean_y, rtol=1e-12)
    if mean_x is not None:
        assert np.allclose(duck[3], mean_x, rtol=1e-12)
    assert duck[4] == dropped
