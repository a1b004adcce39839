#!/bin/sh
# Binomial random intercept on N simulated hospitals (default 100,000), shrinkvis beside glmer, in one run.
# Whole process = start, read the CSV, fit, print (and for `shrinkvis run`: draw and write everything).
#   sh benchmarks/rates.sh [N]        (from the repository root, with .venv and Rscript)
set -e
N=${1:-100000}
DIR=$(mktemp -d)
PY=.venv/bin/python
$PY benchmarks/rates_make_data.py "$N" "$DIR/hospitals.csv"
t() { start=$(date +%s.%N); "$@"; end=$(date +%s.%N); echo "  whole process: $(echo "$end - $start" | bc) s (load average: $(cut -d" " -f1 /proc/loadavg))"; }
echo "== shrinkvis fit (python: read CSV, sum, fit)"; t $PY benchmarks/rates_fit.py "$DIR/hospitals.csv"
echo "== shrinkvis run (CLI: read, fit, draw a sample of 2,000, PNG + GIF, tables)"
run_cli() {
  .venv/bin/shrinkvis run --data "$DIR/hospitals.csv" --view funnel --format png,gif --out "$DIR/out" \
    --formula "cbind(deaths, cases - deaths) ~ 1 + (1 | hospital)" > /dev/null
}
t run_cli
echo "== glmer (R: read CSV, fit)"; t Rscript benchmarks/rates_glmer.R "$DIR/hospitals.csv"
rm -rf "$DIR"
