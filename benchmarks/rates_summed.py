"""`shrinkvis fit` on 10 million 0/1 rows (one per operation) of 100,000 hospitals in Parquet, summed per
hospital by DuckDB: the whole process timed, the estimates beside the truth they were drawn from.

    .venv/bin/python benchmarks/rates_summed.py [ROWS_PER_HOSPITAL]

glmer is not run beside it: on 10 million rows it is out of reach on this machine (benchmarks/rates.sh
compares glmer with shrinkvis on one row per hospital).
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HOSPITALS = 100_000
INTERCEPT, SD = -2.5, 0.4
per_hospital = int(sys.argv[1]) if len(sys.argv) > 1 else 100

with tempfile.TemporaryDirectory() as folder:
    target = Path(folder) / "operations"
    con = duckdb.connect()
    con.execute("SELECT setseed(0.27)")
    con.execute(
        f"CREATE TABLE h AS SELECT i AS hospital, {INTERCEPT} + {SD} * sqrt(-2 * ln(random())) "
        f"* cos(2 * pi() * random()) AS eta FROM range({HOSPITALS}) t(i)"
    )
    con.execute(
        "COPY (SELECT 'h' || lpad(CAST(h.hospital AS VARCHAR), 6, '0') AS hospital, "
        "CASE WHEN random() < 1 / (1 + exp(-h.eta)) THEN 1 ELSE 0 END AS died "
        f"FROM h, range({per_hospital}) r(k)) TO '{target}' (FORMAT parquet, PER_THREAD_OUTPUT true)"
    )
    con.close()
    command = [
        str(Path(sys.executable).parent / "shrinkvis"),
        "fit",
        "--data",
        str(target),
        "--y",
        "died",
        "--group",
        "hospital",
        "--family",
        "binomial",
        "--json",
    ]
    for run in range(3):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        answer = json.loads(result.stdout)
        print(
            f"run {run + 1}: {answer['n_obs']:,} rows, {answer['n_groups']:,} hospitals: whole process "
            f"{wall:.2f} s (sum and fit {answer['seconds']:.2f} s); intercept "
            f"{answer['fixed_effects']['Intercept']:.4f} (truth {INTERCEPT}), SD "
            f"{answer['random_effects']['sd']['(Intercept)']:.4f} (truth {SD})"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest resident memory of a run: {peak:.0f} MB")
