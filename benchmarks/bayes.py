"""The Bayesian engine against brms: whole-process `shrinkvis fit --engine bayes --json` and
`Rscript benchmarks/fit_brms.R` on the same CSV (10 rows per cluster, the baseline scenario's parameters).

    python benchmarks/bayes.py [--clusters 100,10000,100000] [--brms-clusters 100] [--brms-timeout 1800]

brms is run only for the sizes in --brms-clusters (default 100: it compiles a Stan model and samples every
cluster's effects, minutes at 100 clusters and far longer beyond) and given up after --brms-timeout seconds.
Prints seconds, the ratio, and the posterior means of both so that agreement shows. A benchmark, not a test:
the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_scaling import timed, write_data  # noqa: E402


def timed_group(command: list[str], timeout: float) -> tuple[float, str]:
    """Like fit_scaling.timed, but in its own process group that is stopped whole on timeout: brms's chains
    run in child R processes that would otherwise outlive Rscript and hold its output open."""
    import os
    import signal
    import time

    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {err.strip()}")
    return time.perf_counter() - started, out


HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", default="100,10000,100000")
    parser.add_argument("--brms-clusters", default="100")
    parser.add_argument("--brms-timeout", type=float, default=1800.0)
    args = parser.parse_args()
    sizes = [int(v) for v in args.clusters.split(",")]
    brms_sizes = {int(v) for v in args.brms_clusters.split(",") if v}
    rscript = shutil.which("Rscript")
    shrinkvis = [sys.executable, "-m", "shrinkvis"]
    print(
        "| clusters | rows | brms (s) | shrinkvis bayes (s) | ratio | b_x brms / ours | sd_int brms / ours |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for clusters in sizes:
            path = write_data(clusters, Path(folder))
            command = [*shrinkvis, "fit", "--data", str(path), "--y", "y", "--x", "x", "--group", "cluster"]
            ours_s, out = timed([*command, "--engine", "bayes", "--json"])
            ours = json.loads(out)["posterior"]
            brms_text, ratio, agree_x, agree_sd = "not run", "—", f"— / {ours['b_x']['mean']:.4f}", ""
            agree_sd = f"— / {ours['sd_cluster__Intercept']['mean']:.4f}"
            if rscript and clusters in brms_sizes:
                try:
                    brms_s, brms_out = timed_group(
                        [rscript, str(HERE / "fit_brms.R"), str(path)], args.brms_timeout
                    )
                    brms = json.loads(brms_out.strip().splitlines()[-1])
                    brms_text, ratio = f"{brms_s:.0f}", f"{brms_s / ours_s:.0f}×"
                    agree_x = f"{brms['b_x']:.4f} / {ours['b_x']['mean']:.4f}"
                    agree_sd = (
                        f"{brms['sd_cluster__Intercept']:.4f} / {ours['sd_cluster__Intercept']['mean']:.4f}"
                    )
                except subprocess.TimeoutExpired:
                    brms_text = f"> {args.brms_timeout:.0f} (stopped)"
            print(
                f"| {clusters:,} | {clusters * 10:,} | {brms_text} | {ours_s:.1f} | {ratio} | {agree_x} | {agree_sd} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
