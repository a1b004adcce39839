"""How fast is shrinkvis, next to the same animation made with gganimate? Prints one Markdown table.

    python benchmarks/render.py [--runs 5] [--r-runs 3] [--no-r]

Every measurement is a fresh process, timed from start to exit, the median of several runs:
(a) `shrinkvis run baseline` (GIF + MP4 + PNG), also split into the fit (statsmodels, its import
included) and everything else; (b) the same animation through lme4 + ggplot2 + gganimate + magick
(benchmarks/gganimate_baseline.R) when Rscript has those packages, and the ratio; (c) `shrinkvis batch`
of the six built-in scenarios; (d) file sizes; (e) `shrinkvis --help`; (f) peak memory (max RSS) of a
baseline run. It also checks that repeated runs write byte-identical files.

The R script reads the rows shrinkvis simulates for the baseline scenario (written to a CSV here), so
both pipelines fit and draw the same data. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "gganimate_baseline.R"
OUTPUTS = ("shrinkage.gif", "shrinkage.mp4", "shrinkage.png")


def shrinkvis_command() -> list[str]:
    """The installed console script beside this Python, else `python -m shrinkvis`."""
    script = Path(sys.executable).parent / "shrinkvis"
    return [str(script)] if script.exists() else [sys.executable, "-m", "shrinkvis"]


def timed_with_memory(command: list[str]) -> tuple[float, float, str]:
    """Run a command to its end: wall seconds, its peak resident memory in MB, and its stdout.

    The peak comes from wait4 on this one child: ru_maxrss of RUSAGE_CHILDREN would be the maximum
    over every child so far.
    """
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr.read().decode()}")
        return elapsed, usage.ru_maxrss / 1024, stdout.read().decode()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, Python {platform.python_version()}, {platform.system()}"


def load_average() -> str:
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def has_gganimate() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = "for (p in c('lme4', 'ggplot2', 'gganimate', 'magick')) library(p, character.only = TRUE)"
    result = subprocess.run(["Rscript", "-e", check], capture_output=True)
    return result.returncode == 0


def bench_shrinkvis_run(work: Path, runs: int) -> dict:
    command = [*shrinkvis_command(), "run", "baseline", "--out", str(work / "run")]
    timed_with_memory(command)  # warm-up: bytecode and font caches, disk cache
    walls, peaks, fits, hashes = [], [], [], []
    for _ in range(runs):
        wall, peak, _ = timed_with_memory(command)
        summary = json.loads((work / "run" / "baseline" / "summary.json").read_text())
        walls.append(wall)
        peaks.append(peak)
        fits.append(summary["timings"]["fit"])
        hashes.append(tuple(digest(work / "run" / "baseline" / name) for name in OUTPUTS))
    sizes = {name: (work / "run" / "baseline" / name).stat().st_size for name in OUTPUTS}
    return {
        "wall": walls,
        "fit": fits,
        "without_fit": [wall - fit for wall, fit in zip(walls, fits, strict=True)],
        "peak_mb": peaks,
        "sizes": sizes,
        "reproducible": {name: len({h[i] for h in hashes}) == 1 for i, name in enumerate(OUTPUTS)},
    }


def bench_gganimate(work: Path, runs: int) -> dict:
    import shrinkvis  # the benchmark's own process: only to write the rows both pipelines use

    scenario = shrinkvis.load_scenario("baseline")
    data_csv = work / "baseline_data.csv"
    shrinkvis.simulate(scenario.data).to_csv(data_csv, index=False)
    gif = work / "gganimate.gif"
    walls, peaks, reports = [], [], []
    for _ in range(runs):
        wall, peak, stdout = timed_with_memory(["Rscript", str(R_SCRIPT), str(data_csv), str(gif)])
        walls.append(wall)
        peaks.append(peak)
        reports.append(stdout.strip())
    return {"wall": walls, "peak_mb": peaks, "gif": gif.stat().st_size, "report": reports}


def bench_batch(work: Path, runs: int) -> list[float]:
    command = [*shrinkvis_command(), "batch", "--out", str(work / "batch")]
    return [timed_with_memory(command)[0] for _ in range(runs)]


def bench_help(runs: int) -> list[float]:
    command = [*shrinkvis_command(), "--help"]
    timed_with_memory(command)
    return [timed_with_memory(command)[0] for _ in range(runs)]


def kb(size: int) -> str:
    return f"{size / 1024:.0f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each shrinkvis command (median)")
    parser.add_argument("--r-runs", type=int, default=3, help="runs of the gganimate pipeline (median)")
    parser.add_argument("--batch-runs", type=int, default=3, help="runs of the batch of six (median)")
    parser.add_argument("--no-r", action="store_true", help="skip the gganimate pipeline")
    args = parser.parse_args()

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="shrinkvis-bench-") as folder:
        work = Path(folder)
        print(f"machine: {machine()}; load average before: {load_before}", file=sys.stderr)
        run = bench_shrinkvis_run(work, args.runs)
        print(f"shrinkvis run baseline: {spread(run['wall'])}", file=sys.stderr)
        help_walls = bench_help(args.runs)
        batch = bench_batch(work, args.batch_runs)
        print(f"shrinkvis batch: {spread(batch)}", file=sys.stderr)
        r = None
        if not args.no_r and has_gganimate():
            r = bench_gganimate(work, args.r_runs)
            print(f"gganimate: {spread(r['wall'])}; {r['report'][-1]}", file=sys.stderr)
        elif not args.no_r:
            print(
                "gganimate pipeline skipped: Rscript with lme4, ggplot2, gganimate, magick not found",
                file=sys.stderr,
            )
    load_after = load_average()

    sizes = run["sizes"]
    rows = [
        ("`shrinkvis run baseline` (GIF + MP4 + PNG), whole process", spread(run["wall"]), "≤ 2.5 s"),
        ("… of which the fit (statsmodels, import included)", spread(run["fit"]), ""),
        ("… everything but the fit", spread(run["without_fit"]), ""),
    ]
    if r is not None:
        ratio = median(r["wall"]) / median(run["wall"])
        rows += [
            ("lme4 + ggplot2 + gganimate + magick, same animation, whole process", spread(r["wall"]), ""),
            ("… gganimate ÷ shrinkvis", f"{ratio:.0f}×", "≥ 20×"),
            ("… its GIF", kb(r["gif"]), ""),
        ]
    rows += [
        ("`shrinkvis batch` (six scenarios, all formats)", spread(batch), "≤ 10 s"),
        ("GIF (600×450, 120 frames)", kb(sizes["shrinkage.gif"]), "≤ 300 KB"),
        ("MP4 (H.264)", kb(sizes["shrinkage.mp4"]), "≤ 150 KB"),
        ("PNG (last frame)", kb(sizes["shrinkage.png"]), ""),
        ("`shrinkvis --help`", spread(help_walls), "≤ 0.5 s"),
        ("peak memory of `shrinkvis run baseline` (max RSS)", f"{max(run['peak_mb']):.0f} MB", "≤ 400 MB"),
        (
            "same bytes on every run (GIF, MP4, PNG)",
            ", ".join(
                f"{name.split('.')[1]}: {'yes' if same else 'NO'}"
                for name, same in run["reproducible"].items()
            ),
            "yes",
        ),
    ]
    print(f"Machine: {machine()}. Load average before {load_before}, after {load_after} (1, 5, 15 min).")
    print()
    print("| measurement | median | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


if __name__ == "__main__":
    main()
