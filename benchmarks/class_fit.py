"""The whole class at scale: 100,000 clusters x 10 rows, 3 fixed effects and 2 random effects, whole-process
`shrinkvis fit`, side by side with lme4 and with today's two-effect fit of the same rows.

    python benchmarks/class_fit.py                 # 100,000 clusters, 3 repeats
    python benchmarks/class_fit.py --clusters 1e4  # smaller
    python benchmarks/class_fit.py --no-lme4       # without R

The rows: y = 1 + 0.5 x1 − 0.3 x2 + 0.2 x3 + a_j + b_j x1 + e, x1 ~ N(0, 1) + 3, x2 ~ N(0, 1), x3 uniform on
[100, 110] (offsets on purpose), a_j ~ N(0, 1), b_j ~ N(0, 0.5²), e ~ N(0, 1); written once as Parquet (for
shrinkvis) and CSV (for lme4). Each command runs in a fresh process (median wall seconds of --repeats, peak
resident MB). lme4 is timed twice: the whole Rscript (reading the CSV included) and lmer alone. A benchmark,
not a test: the machine is shared, read the medians and say how busy it was (the load average is printed).
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

import numpy as np
import pandas as pd


def run(command: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system, all threads), peak resident MB and stdout of one fresh
    process. On a shared machine the CPU seconds say what the work costs; the wall seconds also count the
    time other processes had the cores."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {err.read().strip()[-500:]}")
        out.seek(0)
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


FORMULA = "y ~ x1 + x2 + x3 + (x1 | cluster)"
TWO_EFFECT = "y ~ x1 + (x1 | cluster)"
LME4 = """
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
data$cluster <- factor(data$cluster)
started <- proc.time()[["elapsed"]]
model <- lmer(as.formula(args[2]), data = data, REML = TRUE)
seconds <- proc.time()[["elapsed"]] - started
cat(sprintf('{"seconds": %.4f, "reml_criterion": %.10f, "fixef": [%s]}\\n', seconds, REMLcrit(model),
            paste(sprintf("%.10f", fixef(model)), collapse = ", ")))
"""


def rows(clusters: int, per_cluster: int, seed: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(clusters), per_cluster)
    n = clusters * per_cluster
    x1 = rng.normal(size=n) + 3.0
    x2 = rng.normal(size=n)
    x3 = rng.uniform(100.0, 110.0, size=n)
    a = rng.normal(size=clusters)[cluster]
    b = rng.normal(scale=0.5, size=clusters)[cluster]
    y = 1 + 0.5 * x1 - 0.3 * x2 + 0.2 * x3 + a + b * x1 + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3, "cluster": cluster})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=float, default=1e5)
    parser.add_argument("--per-cluster", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-lme4", action="store_true")
    args = parser.parse_args()
    clusters = int(args.clusters)
    shrinkvis = [sys.executable, "-m", "shrinkvis"]
    folder = Path(tempfile.mkdtemp(prefix="shrinkvis-class-"))
    try:
        table = rows(clusters, args.per_cluster)
        parquet, csv = folder / "rows.parquet", folder / "rows.csv"
        import duckdb  # a dependency: no pyarrow needed to write the Parquet

        duckdb.from_df(table).write_parquet(str(parquet))
        table.to_csv(csv, index=False)
        print(
            f"{clusters:,} clusters x {args.per_cluster} rows; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores"
        )
        for label, formula in (
            ("shrinkvis, 3 fixed + 2 random", FORMULA),
            ("shrinkvis, y ~ x1 + (x1 | g)", TWO_EFFECT),
        ):
            times, cpu, memory, out = [], [], 0.0, ""
            for _ in range(args.repeats):
                seconds, used, peak, out = run(
                    [*shrinkvis, "fit", "--data", str(parquet), "--formula", formula, "--json"]
                )
                times.append(seconds)
                cpu.append(used)
                memory = max(memory, peak)
            criterion = json.loads(out)["reml_criterion"]
            print(
                f"{label:<34} {statistics.median(times):7.2f} s wall {statistics.median(cpu):7.2f} s CPU "
                f"{memory:7.0f} MB  REML criterion {criterion:.6f}"
            )
        if not args.no_lme4 and shutil.which("Rscript"):
            script = folder / "fit.R"
            script.write_text(LME4)
            for label, formula in (
                ("lme4, 3 fixed + 2 random", FORMULA),
                ("lme4, y ~ x1 + (x1 | g)", TWO_EFFECT),
            ):
                seconds, used, peak, out = run(["Rscript", str(script), str(csv), formula])
                numbers = json.loads(out)
                print(
                    f"{label:<34} {seconds:7.2f} s wall {used:7.2f} s CPU {peak:7.0f} MB  REML criterion "
                    f"{numbers['reml_criterion']:.6f}  (lmer alone {numbers['seconds']:.2f} s wall)"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
