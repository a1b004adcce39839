"""How fast is shrinkvis, next to the same animation made with gganimate? Prints one Markdown table.

    python benchmarks/render.py [--runs 5] [--r-runs 3] [--no-r]

Every measurement is a fresh process, timed from start to exit, the median of several runs:
(a) `shrinkvis run baseline` (every default output: GIF, MP4, PNG stills, SVG, report), also split into
the fit step (as summary.json times it) and everything else; (b) the same animation through lme4 + ggplot2 + gganimate + magick
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
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "gganimate_baseline.R"
OUTPUTS = ("shrinkage.gif", "shrinkage.mp4", "shrinkage.png", "shrinkage.svg")


def shrinkvis_command() -> list[str]:
    """The installed console script beside this Python, else `python -m shrinkvis`."""
    script = Path(sys.executable).parent / "shrinkvis"
    return [str(script)] if script.exists() else [sys.executable, "-m", "shrinkvis"]


@dataclass
class Run:
    """One finished process: wall seconds, CPU seconds (user + system, its children included), peak
    resident memory in MB, and what it printed."""

    wall: float
    cpu: float
    peak_mb: float
    stdout: str


def run_process(command: list[str]) -> Run:
    """Run a command to its end and measure it.

    wait4 gives this one child's resource use (with its own waited-for children, e.g. batch workers);
    RUSAGE_CHILDREN would mix every child so far, and its ru_maxrss would be a running maximum.
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
        cpu = usage.ru_utime + usage.ru_stime
        return Run(elapsed, cpu, usage.ru_maxrss / 1024, stdout.read().decode())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seconds(values: list[float]) -> str:
    """Median, with the range, of several runs."""
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


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
    folder = work / "run" / "baseline"
    command = [*shrinkvis_command(), "run", "baseline", "--out", str(work / "run")]
    run_process(command)  # warm-up: bytecode, font cache, disk cache
    measured, fits, hashes = [], [], []
    for _ in range(runs):
        measured.append(run_process(command))
        fits.append(json.loads((folder / "summary.json").read_text())["timings"]["fit"])
        hashes.append(tuple(digest(folder / name) for name in OUTPUTS))
    return {
        "runs": measured,
        "fit": fits,
        "sizes": {name: (folder / name).stat().st_size for name in OUTPUTS},
        "reproducible": {name: len({h[i] for h in hashes}) == 1 for i, name in enumerate(OUTPUTS)},
    }


def bench_gganimate(work: Path, runs: int) -> dict:
    import shrinkvis  # the benchmark's own process: only to write the rows both pipelines use

    scenario = shrinkvis.load_scenario("baseline")
    data_csv = work / "baseline_data.csv"
    shrinkvis.simulate(scenario.data).to_csv(data_csv, index=False)
    gif = work / "gganimate.gif"
    measured = [run_process(["Rscript", str(R_SCRIPT), str(data_csv), str(gif)]) for _ in range(runs)]
    return {"runs": measured, "gif": gif.stat().st_size}


def bench_batch(work: Path, runs: int) -> list[Run]:
    command = [*shrinkvis_command(), "batch", "--out", str(work / "batch")]
    return [run_process(command) for _ in range(runs)]


def bench_help(runs: int) -> list[Run]:
    command = [*shrinkvis_command(), "--help"]
    run_process(command)
    return [run_process(command) for _ in range(runs)]


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

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_before = load_average()
    progress(f"{machine()}; load average {load_before}")
    with tempfile.TemporaryDirectory(prefix="shrinkvis-bench-") as folder:
        work = Path(folder)
        run = bench_shrinkvis_run(work, args.runs)
        progress(f"shrinkvis run baseline: {seconds([r.wall for r in run['runs']])}")
        help_runs = bench_help(args.runs)
        batch = bench_batch(work, args.batch_runs)
        progress(f"shrinkvis batch: {seconds([r.wall for r in batch])}")
        r = None
        if not args.no_r and has_gganimate():
            r = bench_gganimate(work, args.r_runs)
            progress(f"gganimate: {seconds([r.wall for r in r['runs']])}; {r['runs'][-1].stdout.strip()}")
        elif not args.no_r:
            progress("gganimate skipped: no Rscript with lme4, ggplot2, gganimate and magick")
    load_after = load_average()

    def walls(runs: list[Run]) -> str:
        return seconds([r.wall for r in runs])

    def cpus(runs: list[Run]) -> str:
        return seconds([r.cpu for r in runs])

    baseline = run["runs"]
    without_fit = [r.wall - fit for r, fit in zip(baseline, run["fit"], strict=True)]
    rows = [
        (
            "`shrinkvis run baseline` (GIF, MP4, PNGs, SVG, report)",
            walls(baseline),
            cpus(baseline),
            "≤ 2.5 s",
        ),
        ("… its fit step (exact engine, as summary.json times it)", seconds(run["fit"]), "", ""),
        ("… everything but the fit step", seconds(without_fit), "", ""),
    ]
    if r is not None:
        ratio = statistics.median(x.wall for x in r["runs"]) / statistics.median(x.wall for x in baseline)
        rows += [
            ("same animation: lme4 + ggplot2 + gganimate + magick", walls(r["runs"]), cpus(r["runs"]), ""),
            ("… gganimate time ÷ shrinkvis time", f"{ratio:.0f}×", "", "≥ 20×"),
            ("… its GIF", kb(r["gif"]), "", ""),
        ]
    sizes = run["sizes"]
    same = run["reproducible"]
    rows += [
        ("`shrinkvis batch` (six scenarios, all formats)", walls(batch), cpus(batch), "≤ 10 s"),
        ("`shrinkvis --help`", walls(help_runs), cpus(help_runs), "≤ 0.5 s"),
        ("GIF, 600×450, 120 frames", kb(sizes["shrinkage.gif"]), "", "≤ 300 KB"),
        ("MP4, H.264", kb(sizes["shrinkage.mp4"]), "", "≤ 150 KB"),
        ("PNG, last frame", kb(sizes["shrinkage.png"]), "", ""),
        (
            "peak memory of `shrinkvis run baseline`",
            f"{max(x.peak_mb for x in baseline):.0f} MB",
            "",
            "≤ 400 MB",
        ),
        (
            "same bytes on every run",
            ", ".join(f"{name.split('.')[1]} {'yes' if ok else 'NO'}" for name, ok in same.items()),
            "",
            "yes",
        ),
    ]
    print(f"{machine()}. Load average (1, 5, 15 min) before: {load_before}; after: {load_after}.")
    print(
        f"Median of {args.runs} runs ({args.batch_runs} for batch, {args.r_runs} for gganimate), range in brackets."
    )
    print()
    print("| measurement | wall time / size | CPU time (user + system) | target |")
    print("|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
