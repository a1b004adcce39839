"""Reference posteriors for the Bayesian engine's hard cases, from a general-purpose NUTS sampler (NumPyro).

Run from a separate environment (nothing in shrinkvis or its tests imports NumPyro):

    python3 -m venv /tmp/nuts && /tmp/nuts/bin/pip install numpyro pandas
    /tmp/nuts/bin/python tests/data/nuts/make_nuts.py [CASE ...]

For each case it writes CASE.csv (the data, made here from a fixed seed) and CASE_nuts.json (the same fields
as tests/data/brms/*_brms.json). The model is brms's for ``y ~ x + (x | g)`` with brms's default priors,
written out independently of shrinkvis: the full joint of fixed effects, every cluster's effects
(non-centred, ``r_j = diag(sd) L z_j`` with ``x`` as given, as brms's Stan code) and the variance parameters,
sampled by NUTS with a dense mass matrix. Nothing is integrated out analytically, unlike the engine.

y is divided by a power of ten near its SD before sampling (priors likewise, draws scaled back): an exact
change of units that spares NUTS hours of adaptation at y ~ 1e-4. offset100_nuts.json (63 s, 101
divergent transitions of 20,000) and scale_1e6_nuts.json (10 s, none) were made before that, on y as
given; the other cases have unit 1 or were made after it (`sampled_on_y_divided_by`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pandas as pd  # noqa: E402
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

numpyro.set_host_device_count(4)
HERE = Path(__file__).parent
CHAINS, WARMUP, DRAWS = 4, 2000, 5000


def simulate(seed, clusters, rows, offset=0.0, y_scale=1.0, sd=(1.0, 0.5), corr=0.0, sigma=1.0, sizes=None):
    """y = (2 + b0_j + (1 + b1_j)(x - offset) + e) * y_scale with x = offset + N(0, 1)."""
    rng = np.random.default_rng(seed)
    sizes = np.full(clusters, rows) if sizes is None else np.asarray(sizes)
    g = np.repeat(np.arange(clusters), sizes)
    x = offset + rng.standard_normal(g.size)
    cov = np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=clusters)
    y = (2.0 + b[g, 0] + (1.0 + b[g, 1]) * (x - offset) + sigma * rng.standard_normal(g.size)) * y_scale
    return pd.DataFrame({"y": y, "x": x, "cluster": [f"g{j:02d}" for j in g]})


CASES = {
    # the case: x far from 0, y on a scale of 1e4
    "offset100": lambda: simulate(23, 25, 12, offset=100.0, y_scale=1e4),
    "offset1000": lambda: simulate(24, 25, 12, offset=1000.0),
    "tiny": lambda: simulate(25, 8, 3),
    "corr_near_one": lambda: simulate(26, 30, 8, corr=0.98),
    "sd_near_zero": lambda: simulate(27, 30, 6, sd=(0.5, 0.0)),
    "one_row_cluster": lambda: simulate(28, 15, 6, sizes=[1] + [6] * 14),
    "scale_1e-4": lambda: simulate(29, 20, 8, y_scale=1e-4),
    "scale_1e6": lambda: simulate(30, 20, 8, y_scale=1e6),
}


def brms_scale(y):
    median = float(np.median(y))
    mad = 1.4826 * float(np.median(np.abs(y - median)))
    return round(median, 1), max(2.5, round(mad, 1))


def model(x, g, n_groups, y, location, scale):
    mean_x = jnp.mean(x)
    b_x = numpyro.sample("b_x", dist.ImproperUniform(dist.constraints.real, (), ()))
    intercept_c = numpyro.sample("Intercept", dist.StudentT(3.0, location, scale))
    sd = numpyro.sample(
        "sd", dist.TruncatedDistribution(dist.StudentT(3.0, 0.0, scale), low=0.0).expand([2]).to_event(1)
    )
    chol = numpyro.sample("L", dist.LKJCholesky(2, 1.0))
    z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([2, n_groups]).to_event(2))
    r = (sd[:, None] * (chol @ z)).T  # (groups, 2)
    sigma = numpyro.sample("sigma", dist.TruncatedDistribution(dist.StudentT(3.0, 0.0, scale), low=0.0))
    mu = intercept_c + b_x * (x - mean_x) + r[g, 0] + r[g, 1] * x
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)
    numpyro.deterministic("b_Intercept", intercept_c - b_x * mean_x)
    numpyro.deterministic("cor", chol[1, 0])
    numpyro.deterministic("coef0", intercept_c - b_x * mean_x + r[:, 0])
    numpyro.deterministic("coef1", b_x + r[:, 1])


def summary(draws):
    """draws (chains, n) -> the fields of the brms references."""
    flat = draws.reshape(-1)
    q = np.quantile(flat, [0.025, 0.5, 0.975])
    ess = float(effective_sample_size(draws))
    sd = float(flat.std(ddof=1))
    return {
        "mean": float(flat.mean()),
        "sd": sd,
        "q2.5": float(q[0]),
        "q50": float(q[1]),
        "q97.5": float(q[2]),
        "mcse_mean": sd / math.sqrt(ess),
        "rhat": float(split_gelman_rubin(draws)),
        "ess_bulk": ess,
    }


def run(case):
    data = CASES[case]()
    data.to_csv(HERE / f"{case}.csv", index=False)
    codes, labels = pd.factorize(data["cluster"], sort=True)
    y = data["y"].to_numpy()
    location, scale = brms_scale(y)
    # NUTS adapts its step size and mass matrix from unit scale: y of 1e-4 or 1e6 cost it hours of
    # maximal trees. The model is a location-scale family, so it is sampled on y / unit with the priors'
    # location and scale divided by unit too (the same posterior, scaled), and the draws are scaled back.
    unit = 10.0 ** round(math.log10(float(np.std(y))))
    # at x ~ 1000 brms's parametrisation is hard for NUTS too: at 0.95 it gave 1,786 divergent transitions
    # and R-hat 1.022; at 0.99, 234 and 1.003
    target = 0.99 if case == "offset1000" else 0.95
    kernel = NUTS(model, dense_mass=True, target_accept_prob=target, max_tree_depth=10)
    mcmc = MCMC(kernel, num_warmup=WARMUP, num_samples=DRAWS, num_chains=CHAINS, progress_bar=False)
    started = time.time()
    mcmc.run(
        jax.random.PRNGKey(2026),
        x=jnp.asarray(data["x"].to_numpy()),
        g=jnp.asarray(codes),
        n_groups=len(labels),
        y=jnp.asarray(y / unit),
        location=location / unit,
        scale=scale / unit,
    )
    seconds = time.time() - started
    s = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    for key in ("b_Intercept", "b_x", "sd", "sigma", "coef0", "coef1"):
        s[key] = s[key] * unit
    divergent = int(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"]).sum())
    population = {
        "b_Intercept": s["b_Intercept"],
        "b_x": s["b_x"],
        "sd_cluster__Intercept": s["sd"][..., 0],
        "sd_cluster__x": s["sd"][..., 1],
        "cor_cluster__Intercept__x": s["cor"],
        "sigma": s["sigma"],
    }
    clusters = []
    for j, label in enumerate(labels):
        for name, key in (("Intercept", "coef0"), ("x", "coef1")):
            row = summary(s[key][..., j])
            clusters.append(
                {
                    "cluster": str(label),
                    "coefficient": name,
                    **{k: row[k] for k in ("mean", "sd", "q2.5", "q97.5")},
                }
            )
    out = {
        "case": case,
        "formula": "y ~ x + (x | cluster)",
        "n_obs": len(data),
        "n_groups": len(labels),
        "columns": {"y": "y", "x": "x", "group": "cluster"},
        "random": "slope",
        "sampler": f"NumPyro {numpyro.__version__} NUTS, dense mass matrix, target_accept {target}, float64",
        "chains": CHAINS,
        "warmup": WARMUP,
        "draws": CHAINS * DRAWS,
        "seconds": seconds,
        "divergent": divergent,
        "priors": {"intercept_location": location, "scale": scale},
        "sampled_on_y_divided_by": unit,
        "population": [{"variable": k, **summary(v)} for k, v in population.items()],
        "clusters": clusters,
    }
    (HERE / f"{case}_nuts.json").write_text(json.dumps(out, indent=1) + "\n")
    worst = max(row["rhat"] for row in out["population"])
    least = min(row["ess_bulk"] for row in out["population"])
    print(
        f"{case}: {seconds:.0f} s, divergent {divergent}, max rhat {worst:.4f}, min ess {least:.0f}",
        flush=True,
    )


if __name__ == "__main__":
    for name in sys.argv[1:] or list(CASES):
        run(name)
