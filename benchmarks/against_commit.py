"""`shrinkvis run SCENARIO` from this tree next to the same command from another commit, in one run.

    python benchmarks/against_commit.py COMMIT [--scenario baseline] [--runs 5]

The other commit is unpacked (git archive) into a temporary folder and run with the same Python, its
package first on the path; the two commands alternate, each a fresh process timed from start to exit,
so a busy machine slows both alike. Prints the median of each and their ratio. Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def timed(source: Path, scenario: str, out: Path) -> float:
    environment = {**os.environ, "PYTHONPATH": str(source)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "shrinkvis", "run", scenario, "--out", str(out)],
        check=True,
        env=environment,
        cwd=out,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("commit")
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        other = Path(folder) / "other"
        other.mkdir()
        archive = subprocess.run(
            ["git", "archive", arguments.commit], cwd=HERE, check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(other)], input=archive.stdout, check=True)
        out = Path(folder) / "out"
        out.mkdir()
        times: dict[str, list[float]] = {arguments.commit: [], "this tree": []}
        for _ in range(arguments.runs):
            times[arguments.commit].append(timed(other, arguments.scenario, out))
            times["this tree"].append(timed(HERE, arguments.scenario, out))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"| `run {arguments.scenario}` | median of {arguments.runs} (s) | all runs (s) |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {medians[name]:.2f} | {', '.join(f'{value:.2f}' for value in values)} |")
    print(f"\nratio this tree / {arguments.commit}: {medians['this tree'] / medians[arguments.commit]:.3f}")


if __name__ == "__main__":
    main()
