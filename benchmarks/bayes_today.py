"""The Bayesian engine of this checkout against today's (another checkout), side by side in one run:
whole `shrinkvis fit --engine bayes --json` processes on sleepstudy (18 x 10) and on 10,000 clusters x 10
rows (the baseline scenario's parameters), alternating the two so that the machine's load hits both alike.

    python benchmarks/bayes_today.py --today /path/to/other/checkout [--runs 5]

Prints the median wall seconds of each, their ratio, and whether each run said converged.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_scaling import write_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], checkout: Path) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (user + sys of the process) and the printed JSON."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=checkout)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 3):  # 3: written, but the posterior did not converge
        raise RuntimeError(done.stderr.strip())
    return seconds, cpu, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--today", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cases = {
            "sleepstudy (18 x 10)": [
                "--data",
                str(ROOT / "tests/data/classic/sleepstudy.csv"),
                "--y",
                "Reaction",
                "--x",
                "Days",
                "--group",
                "Subject",
            ],
            "10,000 x 10": [
                "--data",
                str(write_data(10_000, Path(folder))),
                "--y",
                "y",
                "--x",
                "x",
                "--group",
                "cluster",
            ],
        }
        print(
            "| case | this checkout: wall (CPU) s | today's: wall (CPU) s | ratio wall (CPU) | converged (this / today) |"
        )
        print("|---|---:|---:|---:|---|")
        for name, options in cases.items():
            command = [sys.executable, "-m", "shrinkvis", "fit", *options, "--engine", "bayes", "--json"]
            times: dict[str, list[float]] = {"new": [], "today": []}
            cpus: dict[str, list[float]] = {"new": [], "today": []}
            converged = {}
            for _ in range(args.runs):
                for key, checkout in (("new", ROOT), ("today", args.today.resolve())):
                    seconds, cpu, payload = run(command, checkout)
                    times[key].append(seconds)
                    cpus[key].append(cpu)
                    converged[key] = payload.get("converged")
            new, today = statistics.median(times["new"]), statistics.median(times["today"])
            new_cpu, today_cpu = statistics.median(cpus["new"]), statistics.median(cpus["today"])
            print(
                f"| {name} | {new:.2f} ({new_cpu:.2f}) | {today:.2f} ({today_cpu:.2f}) | {new / today:.2f} "
                f"({new_cpu / today_cpu:.2f}) | {converged['new']} / {converged['today']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
