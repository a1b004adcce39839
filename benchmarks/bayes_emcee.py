"""What emcee as *the* sampler of the Bayesian engine would cost, against the engine's own sampler.

    python benchmarks/bayes_emcee.py [--clusters 100,10000] [--steps 2000] [--walkers 16]

For each size: the whole process `shrinkvis fit --engine bayes --json` as shipped, and the same process with
the engine's chains replaced by emcee's affine-invariant ensemble (emcee 3.1, the test extra) on the very
same log density: --walkers walkers, 300 steps of burn-in, then --steps steps; four "chains" of walkers
thinned to 1,000 draws each feed the rest of the engine unchanged. Prints wall seconds, density evaluations
and the bulk ESS of the variance parameters, so that cost per effective draw shows. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_scaling import write_data  # noqa: E402

BURN = 300


def _emcee_chains(walkers: int, steps: int):
    """A drop-in for the sampler's _run_chains (fit/sampler.py) that runs emcee instead (the pilot run is skipped:
    emcee adapts)."""
    import emcee
    import numpy as np

    from shrinkvis.fit import sampler as bayes

    counter = {"evaluations": 0}

    def run(target, proposal, rng, chains, draws, warmup, local=True):
        if not local:  # the pilot: emcee needs none, hand back the proposal's own draws
            u = proposal.draw(rng, chains * draws).reshape(chains, draws, -1)
            return bayes._Chains(u=u, beta_c=np.empty(0), a_inv=np.empty(0), accepted=1.0)

        def log_p(u):
            counter["evaluations"] += 1
            return target(u)[0]

        sampler = emcee.EnsembleSampler(walkers, target.dim, log_p)
        sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
        sampler.run_mcmc(proposal.draw(rng, walkers), BURN + steps)
        chain = sampler.get_chain(discard=BURN)  # (steps, walkers, dim)
        groups = np.array_split(np.arange(walkers), chains)
        thin = max(1, steps * len(groups[0]) // draws)
        kept = np.stack([np.concatenate([chain[::thin, w] for w in g])[:draws] for g in groups])
        states = [target(u)[1] for u in kept.reshape(-1, target.dim)]
        counter["evaluations"] += len(states)
        beta = np.stack([s.beta_c for s in states]).reshape(chains, draws, -1)
        a_inv = np.stack([s.a_inv for s in states]).reshape(chains, draws, *states[0].a_inv.shape)
        print(f"emcee: {counter['evaluations']} evaluations", file=sys.stderr)
        return bayes._Chains(
            u=kept, beta_c=beta, a_inv=a_inv, accepted=float(sampler.acceptance_fraction.mean())
        )

    bayes._run_chains = run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", default="100,10000")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--walkers", type=int, default=16)
    parser.add_argument("--as-cli", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_cli is not None:  # the child process: patch, then run the CLI as usual
        _emcee_chains(args.walkers, args.steps)
        from shrinkvis.cli import main as cli

        sys.argv = ["shrinkvis", *args.as_cli]
        cli()
        return
    print("| clusters | sampler | wall s | ESS sd(Intercept) / sd(x) / sigma |")
    print("|---:|---|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        for clusters in (int(c) for c in args.clusters.split(",")):
            path = write_data(clusters, Path(folder))
            options = ["--y", "y", "--x", "x", "--group", "cluster", "--engine", "bayes", "--json"]
            fit = ["fit", "--data", str(path), *options]
            exe = Path(sys.executable).parent / "shrinkvis"
            for name, command in (
                ("own", [str(exe), *fit]),
                (
                    "emcee",
                    [
                        sys.executable,
                        __file__,
                        "--walkers",
                        str(args.walkers),
                        "--steps",
                        str(args.steps),
                        "--as-cli",
                        *fit,
                    ],
                ),
            ):
                started = time.perf_counter()
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                wall = time.perf_counter() - started
                post = json.loads(out)["posterior"]
                ess = " / ".join(
                    f"{post[k]['ess_bulk']:.0f}" for k in ("sd_cluster__Intercept", "sd_cluster__x", "sigma")
                )
                print(f"| {clusters:,} | {name} | {wall:.1f} | {ess} |", flush=True)


if __name__ == "__main__":
    main()
