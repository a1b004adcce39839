"""Per-cluster sums by an engine made for large data: DuckDB on one machine (files of any size, out of
core), Spark across machines. Each returns the same `ClusterSums`, which `shrinkvis.fit.fit_sums` fits.

Nothing heavy is imported here: duckdb and pyspark load when their function is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..fit.sums import ClusterSums

__all__ = ["duckdb_sums", "file_sums", "spark_sums"]


def duckdb_sums(source: Any, **columns: Any) -> ClusterSums:
    from .on_duckdb import duckdb_sums

    return duckdb_sums(source, **columns)


def file_sums(path: Any, **columns: Any) -> ClusterSums:
    from .on_duckdb import file_sums

    return file_sums(path, **columns)


def spark_sums(frame: Any, **columns: Any) -> ClusterSums:
    from .on_spark import spark_sums

    return spark_sums(frame, **columns)
