"""Fit scaling: whole-process `shrinkvis fit` (CSV reading included) against MixedLM and lme4, one run.

    python benchmarks/fit_scaling.py [--clusters 1000,10000,100000] [--repeats 3]

For each size it writes one CSV (10 rows per cluster, the baseline scenario's parameters), then times
`shrinkvis fit --json` with the exact engine, with `--engine statsmodels` (skipped past 60 s) and
`Rscript benchmarks/fit_lme4.R` (when R with lme4 is installed), and prints the medians, the ratios, the
peak memory of the exact engine's process, and each engine's REML criterion and fixed effects so that
agreement at scale shows. A benchmark, not a test: the machine is noisy, read the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATSMODELS_LIMIT = 60.0  # seconds; beyond this MixedLM is not waited for


def timed(command: list[str], timeout: float | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of one fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {err.strip()}")
    return seconds, out


def peak_memory_mb(command: list[str]) -> float:
    """Peak resident memory of a fresh process, read from the kernel's accounting of that one child."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024


def write_data(clusters: int, folder: Path) -> Path:
    import numpy as np

    from shrinkvis.scenario import DataSpec
    from shrinkvis.simulate import simulate

    path = folder / f"fit_{clusters}.csv"
    data = simulate(DataSpec(n_cluster=clusters, obs_per_cluster=10, seed=1), np.random.default_rng(1))
    data.to_csv(path, index=False, float_format="%.10g")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(part) for part in args.clusters.split(",")]
    shrinkvis = [
        sys.executable,
        "-m",
        "shrinkvis",
        "fit",
        "--y",
        "y",
        "--group",
        "cluster",
        "--x",
        "x",
        "--json",
    ]
    have_r = (
        shutil.which("Rscript") is not None
        and subprocess.run(["Rscript", "-e", "library(lme4)"], capture_output=True).returncode == 0
    )

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for clusters in sizes:
            path = write_data(clusters, Path(folder))
            exact_runs = [timed([*shrinkvis, "--data", str(path)]) for _ in range(args.repeats)]
            exact_seconds = statistics.median(run[0] for run in exact_runs)
            exact = json.loads(exact_runs[-1][1])
            peak = peak_memory_mb([*shrinkvis, "--data", str(path)])
            row = {
                "clusters": clusters,
                "exact_s": exact_seconds,
                "exact_peak_mb": peak,
                "exact": (
                    exact["reml_criterion"],
                    exact["fixed_effects"]["Intercept"],
                    exact["fixed_effects"]["x"],
                ),
            }
            try:
                seconds, out = timed(
                    [*shrinkvis, "--data", str(path), "--engine", "statsmodels"], timeout=STATSMODELS_LIMIT
                )
                mixed = json.loads(out)
                row["statsmodels_s"] = seconds
                row["statsmodels"] = (
                    mixed["reml_criterion"],
                    mixed["fixed_effects"]["Intercept"],
                    mixed["fixed_effects"]["x"],
                )
                row["statsmodels_converged"] = mixed["converged"]
            except subprocess.TimeoutExpired:
                row["statsmodels_s"] = None
            if have_r:
                runs = [timed(["Rscript", str(HERE / "fit_lme4.R"), str(path)]) for _ in range(args.repeats)]
                lme4 = json.loads(runs[-1][1])
                row["lme4_s"] = statistics.median(run[0] for run in runs)
                row["lme4"] = (lme4["reml_criterion"], lme4["Intercept"], lme4["x"])
            rows.append(row)
            print(f"done: {clusters} clusters", file=sys.stderr)

    print(f"fit y ~ x + (x | cluster), 10 rows per cluster; median of {args.repeats} fresh processes\n")
    print("| clusters | rows | shrinkvis exact (s) | peak MB | MixedLM (s) | lme4 (s) | lme4 / exact |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mixed = (
            f"{row['statsmodels_s']:.2f}"
            if row.get("statsmodels_s")
            else f"> {STATSMODELS_LIMIT:.0f} (skipped)"
        )
        if row.get("statsmodels_s") and not row.get("statsmodels_converged"):
            mixed += " (not converged)"
        lme4 = f"{row['lme4_s']:.2f}" if "lme4_s" in row else "R not installed"
        ratio = f"{row['lme4_s'] / row['exact_s']:.1f}×" if "lme4_s" in row else "–"
        print(
            f"| {row['clusters']:,} | {row['clusters'] * 10:,} | {row['exact_s']:.2f} | {row['exact_peak_mb']:.0f} "
            f"| {mixed} | {lme4} | {ratio} |"
        )
    print("\nAgreement: REML criterion, Intercept, x")
    print("| clusters | engine | REML criterion | Intercept | x |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        for engine in ("exact", "statsmodels", "lme4"):
            if engine in row:
                crit, intercept, slope = row[engine]
                print(f"| {row['clusters']:,} | {engine} | {crit:.4f} | {intercept:.8f} | {slope:.8f} |")


if __name__ == "__main__":
    main()
