"""Profiling benchmark: rxrank's profiling stage vs the plain scanpy recipe, samples x genes counts.

rxrank's :func:`~rxrank.profiling.profile` runs QC (library size, detected genes, MAD outliers),
CPM + log1p, highly variable genes, PCA, neighbours, Leiden at several resolutions with the choice by
silhouette, UMAP, markers per subtype and target z-scores. The peer is the scanpy tutorial recipe a
user would otherwise run on the same AnnData (``normalize_total``, ``log1p``,
``highly_variable_genes``, ``pca``, ``neighbors``, one ``leiden``, ``umap``): less work, so the
ratio shows what rxrank's extra steps cost. Counts are negative binomial around planted subtypes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import Peer, interleaved

__all__ = ["bench_profiling", "synthetic_counts"]

RXRANK = "rxrank profiling.profile (QC, subtypes by silhouette, UMAP, markers)"
SCANPY = "scanpy recipe (normalise, log1p, HVG, PCA, neighbours, one Leiden, UMAP)"


def synthetic_counts(samples: int, genes: int, *, subtypes: int = 4, seed: int = 0):
    """An AnnData of integer counts (float32 storage) with planted subtypes, and the labels."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    label = rng.integers(0, subtypes, samples)
    log_mean = rng.normal(1.5, 1.2, genes).astype(np.float32)
    shift = np.zeros((subtypes, genes), dtype=np.float32)
    for s in range(subtypes):
        shift[s, rng.choice(genes, 100, replace=False)] = 1.5
    mu = np.exp(log_mean[None, :] + shift[label]) * rng.lognormal(0, 0.2, (samples, 1))
    counts = rng.poisson(rng.gamma(10.0, mu / 10.0)).astype(np.float32)
    adata = ad.AnnData(counts)
    adata.obs_names = [f"S{i:05d}" for i in range(samples)]
    adata.var_names = [f"G{j:05d}" for j in range(genes)]
    return adata, label


def _scanpy_recipe(adata) -> int:
    import scanpy as sc

    a = adata.copy()
    sc.pp.normalize_total(a, target_sum=1e6)
    sc.pp.log1p(a)
    sc.pp.highly_variable_genes(a, n_top_genes=1000, subset=True)
    sc.pp.pca(a, n_comps=20, random_state=0)
    sc.pp.neighbors(a, n_neighbors=10, random_state=0)
    sc.tl.leiden(a, resolution=0.5, random_state=0, flavor="igraph", n_iterations=2)
    sc.tl.umap(a, random_state=0)
    return int(a.obs["leiden"].nunique())


def _rxrank(adata) -> Any:
    from rxrank.profiling import profile

    clinical = pd.DataFrame(index=adata.obs_names)
    out = profile(adata.copy(), clinical, expression_type="counts")
    return out.obs["subtype"].to_numpy()


def bench_profiling(
    samples: int,
    genes: int,
    *,
    repeats: int = 2,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both peers on the same counts; time, peak memory, and the subtypes' agreement (ARI)."""
    from sklearn.metrics import adjusted_rand_score

    log(f"  profiling: {samples:,} samples x {genes:,} genes (counts)")
    adata, label = synthetic_counts(samples, genes, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy/anndata chatter about copies and future defaults
        # numba compiles UMAP's and the neighbour search's kernels on first use (tens of seconds):
        # a small warm-up keeps that out of both peers' times
        small, _ = synthetic_counts(120, 1500, seed=seed + 1)
        _rxrank(small), _scanpy_recipe(small)
        t = interleaved(
            [
                Peer(RXRANK, lambda: _rxrank(adata), repeats),
                Peer(SCANPY, lambda: _scanpy_recipe(adata), repeats),
            ],
            log=log,
        )
    rows = []
    for name, timing in t.items():
        rows.append(
            {
                "samples": samples,
                "genes": genes,
                "impl": name,
                **timing.stats(t[RXRANK].median),
            }
        )
    ari = float(adjusted_rand_score(label, t[RXRANK].result))
    return {"rows": rows, "ari_planted": ari, "input_mib": adata.X.nbytes / 2**20}
