#!/usr/bin/env bash
# Run a command with the CPU it may use capped at PERCENT of one core, as a virtual machine whose host takes
# its CPUs away ("steal") runs everything: the processes are ready to run, but get a CPU only now and then.
# This is how CI's "the render never started writing" was reproduced (both processes of the run in state R
# with about a second of CPU after 120 s): at 2 %, the old process tests failed the same way.
#
#   sudo benchmarks/starved.sh 2 .venv/bin/python -m pytest -q tests/test_interrupt.py
#
# Needs root and the cgroup CPU controller (v1 or v2). Not part of the suite: at a few percent, a test that
# takes a second of CPU takes a minute.
set -euo pipefail
percent=${1:?usage: starved.sh PERCENT COMMAND...}
shift
period=100000
quota=$((period * percent / 100))
name="shrinkvis-starved-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then  # v2
    group="/sys/fs/cgroup/$name"
    mkdir "$group"
    echo "$quota $period" >"$group/cpu.max"
else  # v1
    group="/sys/fs/cgroup/cpu/$name"
    mkdir "$group"
    echo "$period" >"$group/cpu.cfs_period_us"
    echo "$quota" >"$group/cpu.cfs_quota_us"
fi
cleanup() {
    # move this shell out, then remove the group (it must be empty: the command has ended)
    echo $$ >"$(dirname "$group")/cgroup.procs" 2>/dev/null || true
    rmdir "$group" 2>/dev/null || true
}
trap cleanup EXIT
echo $$ >"$group/cgroup.procs"
"$@"
