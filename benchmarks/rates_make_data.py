"""Write the simulated hospitals for benchmarks/rates.sh: `python benchmarks/rates_make_data.py N OUT.csv`."""

import sys

import numpy as np

from shrinkvis.rates.simulate import simulate_hospitals

count, out = int(sys.argv[1]), sys.argv[2]
table = simulate_hospitals(
    n_hospitals=count,
    median_cases=120,
    size_spread=1.0,
    min_cases=5,
    mortality=0.05,
    size_effect=-0.35,
    sd_hospital=0.15,
    rng=np.random.default_rng(2016),
).table
table[["hospital", "deaths", "cases"]].to_csv(out, index=False)
