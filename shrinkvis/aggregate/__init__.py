"""Per-cluster sums by an engine made for large data: DuckDB on one machine (files of any size, out of
core), Spark across machines. Each returns the same `ClusterSums`, which `shrinkvis.fit.fit_sums` fits.

Nothing heavy is imported here: duckdb and pyspark load when their function is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..fit.sums import ClusterSums
    from ..scenario import DataFileSpec
    from .tables import SummedData

__all__ = ["duckdb_sums", "file_sums", "read_summed", "spark_sums"]


def duckdb_sums(source: Any, **columns: Any) -> ClusterSums:
    from .on_duckdb import duckdb_sums

    return duckdb_sums(source, **columns)


def file_sums(path: Any, **columns: Any) -> ClusterSums:
    from .on_duckdb import file_sums

    return file_sums(path, **columns)


def spark_sums(frame: Any, **columns: Any) -> ClusterSums:
    from .on_spark import spark_sums

    return spark_sums(frame, **columns)


def read_summed(spec: DataFileSpec, on_progress: Callable[[float], None] | None = None) -> SummedData:
    """The data step of a run on a large table (see `shrinkvis.data.summed_by_duckdb`): its clusters' sums."""
    from .on_duckdb import file_sums
    from .tables import SummedData

    sums = file_sums(spec.file, y=spec.y, group=spec.group, x=spec.x, on_progress=on_progress)
    return SummedData(sums, spec.file, spec.y, spec.group, spec.x)
