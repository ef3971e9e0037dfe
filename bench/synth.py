"""Seeded synthetic data: lines (or patients) x genes expression and drug responses with holes.

Expression is drawn in float32 (a few shared factors, so genes are correlated as real co-expression
is, plus gene-specific means and spreads on a log scale); callers convert to float64 where a peer
needs it. Each drug's response is driven by a few genes plus noise, on the ln IC50 scale of GDSC
(centre ~2.5, spread ~2), with a given fraction of line-drug pairs missing completely at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Planted", "Screen", "expression", "planted_modules", "screen"]


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


@dataclass
class Planted:
    """Samples x genes expression with planted co-expression modules.

    ``modules`` maps gene -> planted module (``grey``: no module); ``hubs`` maps module -> its hub
    genes (the most strongly loaded); ``factors`` holds each module's driving factor (samples x
    modules), the eigengene a method should recover.
    """

    X: np.ndarray
    genes: pd.Index
    modules: pd.Series
    hubs: dict[str, list[str]]
    factors: pd.DataFrame


def planted_modules(
    n_samples: int,
    n_genes: int,
    n_modules: int,
    *,
    grey_fraction: float = 0.3,
    loading: tuple[float, float] = (0.4, 0.8),
    hub_loading: tuple[float, ...] = (0.97, 0.95, 0.93),
    factor_r: float = 0.0,
    seed: int = 0,
) -> Planted:
    """Seeded planted-module expression: each module gene is ``a * factor + sqrt(1 - a^2) * noise``.

    Module sizes vary (up to 3x between modules); loadings ``a`` are uniform in ``loading`` except
    for each module's hubs, loaded ``hub_loading``, so that the hubs are the genes a method's kME
    should rank first. ``factor_r`` correlates the factors of module pairs (1-2, 3-4, ...), which
    makes them harder to tell apart (and tests merging). Grey genes are pure noise. Genes get log-scale means (2-10) and spreads
    (0.2-1), and are shuffled, so module members are not adjacent columns.
    """
    rng = np.random.default_rng(seed)
    n_grey = int(round(grey_fraction * n_genes))
    weights = rng.uniform(1.0, 3.0, n_modules)
    sizes = np.floor(weights / weights.sum() * (n_genes - n_grey)).astype(int)
    sizes[: (n_genes - n_grey) - sizes.sum()] += 1
    factors = rng.standard_normal((n_samples, n_modules))
    if factor_r:  # modules 2, 4, ... driven by factors correlated ~factor_r with 1, 3, ...
        odd = np.arange(1, n_modules, 2)
        factors[:, odd] = (
            factor_r * factors[:, odd - 1] + np.sqrt(1 - factor_r**2) * factors[:, odd]
        )
    factors = (factors - factors.mean(0)) / factors.std(0)
    x = rng.standard_normal((n_samples, n_genes))
    labels = np.array(["grey"] * n_genes, dtype=object)
    hubs_idx: dict[str, list[int]] = {}
    start = 0
    for m, size in enumerate(sizes):
        name = f"P{m + 1}"
        a = rng.uniform(*loading, size)
        a[: len(hub_loading)] = hub_loading
        cols = np.arange(start, start + size)
        x[:, cols] = factors[:, [m]] * a + np.sqrt(1.0 - a * a) * x[:, cols]
        labels[cols] = name
        hubs_idx[name] = list(cols[: len(hub_loading)])
        start += size
    x = x * rng.uniform(0.2, 1.0, n_genes) + rng.uniform(2.0, 10.0, n_genes)
    perm = rng.permutation(n_genes)  # column j of the output is planted gene perm[j]
    genes = pd.Index([f"G{i:05d}" for i in range(n_genes)], name="gene")
    where = np.empty(n_genes, dtype=int)
    where[perm] = np.arange(n_genes)
    modules = pd.Series(labels[perm], index=genes, name="module")
    hubs = {m: [str(genes[where[i]]) for i in idx] for m, idx in hubs_idx.items()}
    samples = pd.Index([f"S{i:04d}" for i in range(n_samples)], name="sample")
    fac = pd.DataFrame(factors, index=samples, columns=[f"P{m + 1}" for m in range(n_modules)])
    return Planted(X=x[:, perm], genes=genes, modules=modules, hubs=hubs, factors=fac)
