"""The Bayesian engine on the whole class against brms, side by side in one run: the eight formulas of
tests/data/lme4_class/make_brms_class.R on class.csv (463 rows, 40 clusters).

    python benchmarks/bayes_class.py                # shrinkvis (3 repeats) and brms (1 run per formula)
    python benchmarks/bayes_class.py --no-brms      # shrinkvis only; brms's time from the stored references
    python benchmarks/bayes_class.py --cases log_n two_slopes

shrinkvis: whole `shrinkvis fit --formula F --engine bayes --json` processes (4 chains x 1,000 draws, its
defaults), median wall seconds and CPU seconds. brms: one `Rscript` per formula, brm() at its defaults
(4 chains x 1,000 draws after 1,000 warm-up, chains one after the other), compilation included, which is what
a brms user waits for. Without R the stored references' wall times (4 x 2,500 draws, 2 cores) are shown
instead and marked so. A benchmark, not a test: the machine is shared; the load average is printed.
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

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "lme4_class"
BRMS = """
suppressPackageStartupMessages(library(brms))
args <- commandArgs(trailingOnly = TRUE)
frame <- read.csv(args[1])
frame$treat <- factor(frame$treat)
fit <- brm(as.formula(args[2]), data = frame, family = gaussian(), refresh = 0, seed = 1, cores = 1)
draws <- posterior::summarise_draws(posterior::as_draws_df(fit), "mean")
keep <- grepl("^(b_|sd_|cor_|sigma$)", draws$variable)
cat(jsonlite::toJSON(setNames(as.list(draws$mean[keep]), draws$variable[keep]), auto_unbox = TRUE, digits = NA))
"""


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and stdout of one fresh process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) not in (0, 3):
            err.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {err.read().strip()[-500:]}")
        out.seek(0)
        return seconds, usage.ru_utime + usage.ru_stime, out.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="formulas to run (default: all eight)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-brms", action="store_true", help="do not run brms (needs R with brms)")
    args = parser.parse_args()
    references = {
        path.stem.removesuffix("_brms"): json.loads(path.read_text()) for path in DATA.glob("*_brms.json")
    }
    cases = args.cases or sorted(references)
    shrinkvis = [sys.executable, "-m", "shrinkvis"]
    run_brms = not args.no_brms and shutil.which("Rscript") is not None
    print(
        f"load average {os.getloadavg()[0]:.2f}; brms {'run here' if run_brms else 'from the stored references'}"
    )
    heading = f"{'case':16} {'shrinkvis wall (CPU) s':>22} {'brms s':>10} {'brms / shrinkvis':>16} {'largest |mean diff| / brms SD':>30}"
    print(heading)
    for case in cases:
        reference = references[case]
        formula = reference["formula"]
        command = [
            *shrinkvis,
            "fit",
            "--data",
            str(DATA / "class.csv"),
            "--formula",
            formula,
            "--engine",
            "bayes",
            "--json",
        ]
        runs = [timed(command) for _ in range(args.repeats)]
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        ours = json.loads(runs[-1][2])["posterior"]
        population = {row["variable"]: row for row in reference["population"]}
        worst = max(abs(ours[name]["mean"] - row["mean"]) / row["sd"] for name, row in population.items())
        if run_brms:
            with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
                script.write(BRMS)
            brms_seconds, _, _ = timed(["Rscript", script.name, str(DATA / "class.csv"), formula])
            os.unlink(script.name)
            brms_text = f"{brms_seconds:10.1f}"
        else:
            brms_seconds = reference["seconds_compile_and_sample"]
            brms_text = f"{brms_seconds:9.1f}*"
        print(f"{case:16} {wall:12.2f} ({cpu:5.2f})  {brms_text} {brms_seconds / wall:16.0f} {worst:30.3f}")
    if not run_brms:
        print(
            "* stored: make_brms_class.R's wall time (4 chains x 2,500 draws, compilation included, 2 cores)"
        )


if __name__ == "__main__":
    main()
