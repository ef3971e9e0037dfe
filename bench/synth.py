"""Seeded synthetic data: lines (or patients) x genes expression and drug responses with holes.

Expression is drawn in float32 (a few shared factors, so genes are correlated as real co-expression
is, plus gene-specific means and spreads on a log scale); callers convert to float64 where a peer
needs it. Each drug's response is driven by a few genes plus noise, on the ln IC50 scale of GDSC
(centre ~2.5, spread ~2), with a given fraction of line-drug pairs missing completely at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Screen", "expression", "screen"]


def expression(n_samples: int, n_genes: int, *, seed: int = 0, n_factors: int = 10) -> np.ndarray:
    """Samples x genes float32 log-expression: ``mean + sd * (factors @ loadings + noise)``."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n_samples, n_factors), dtype=np.float32)
    loadings = rng.standard_normal((n_factors, n_genes), dtype=np.float32)
    loadings *= rng.uniform(0.0, 0.5, n_genes).astype(np.float32)  # genes differ in how shared
    x = rng.standard_normal((n_samples, n_genes), dtype=np.float32)
    x += factors @ loadings
    x *= rng.uniform(0.1, 0.5, n_genes).astype(np.float32)  # log-scale spreads across lines
    x += rng.uniform(0.0, 10.0, n_genes).astype(np.float32)
    return x


@dataclass
class Screen:
    """A synthetic drug screen: ``X`` lines x genes (float32), ``Y`` lines x drugs (NaN = missing)."""

    X: np.ndarray
    Y: np.ndarray
    drivers: np.ndarray  # drugs x n_drivers gene indices
    weights: np.ndarray  # drugs x n_drivers effect sizes (per SD of the gene)


def screen(
    n_lines: int,
    n_genes: int,
    n_drugs: int,
    *,
    missing: float = 0.2,
    n_drivers: int = 5,
    noise: float = 0.5,
    seed: int = 0,
) -> Screen:
    """Lines x genes expression and lines x drugs responses, ``missing`` of the pairs set to NaN.

    Every drug keeps at least 3 measured lines (what a ridge fit needs); with ``missing`` well below
    1 that never binds. Gene spreads and noise are set so that leave-one-out picks penalties across
    the inside of ``np.logspace(-1, 4, 10)`` at 17,000 genes, not only its edge, which makes the
    equality check of the chosen alphas a real test.
    """
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be in [0, 1), got {missing}")
    X = expression(n_lines, n_genes, seed=seed)
    rng = np.random.default_rng([seed, 1])
    n_drivers = min(n_drivers, n_genes)
    drivers = np.stack([rng.choice(n_genes, n_drivers, replace=False) for _ in range(n_drugs)])
    weights = rng.normal(0.0, 1.0, (n_drugs, n_drivers))
    Y = np.empty((n_lines, n_drugs))
    for j in range(n_drugs):
        xd = X[:, drivers[j]].astype(np.float64)
        xd = (xd - xd.mean(0)) / xd.std(0)
        Y[:, j] = xd @ weights[j]
    Y += noise * rng.standard_normal(Y.shape)
    Y = 2.5 + 2.0 * (Y - Y.mean(0)) / Y.std(0)
    holes = rng.random(Y.shape) < missing
    for j in range(n_drugs):  # keep at least 3 measured lines per drug
        kept = np.flatnonzero(~holes[:, j])
        if kept.size < 3:
            holes[rng.choice(n_lines, 3, replace=False), j] = False
    Y[holes] = np.nan
    return Screen(X=X, Y=Y, drivers=drivers, weights=weights)
