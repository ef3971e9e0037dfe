"""WGCNA-style co-expression modules: find, merge, eigengenes, hub genes.

Modules follow WGCNA: soft-thresholded adjacency with the power chosen by a scale-free topology
fit, topological overlap (TOM), average-linkage clustering of 1 - TOM, a dynamic ("hybrid"-style)
tree cut implemented here (:func:`~rxrank.coexpression.dynamic_tree_cut`), and merging of modules
whose eigengenes are close.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import linalg
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from threadpoolctl import ThreadpoolController

from ..errors import RxrankInputError
from ._blocks import gene_blocks
from ._kernels import _dense_x, _examples, _standardise, _zcorr, corr
from ._network import _adjacency, _choose_power, _connectivity, _fit_table, _tom_distance
from ._treecut import _pam_assign, dynamic_tree_cut

__all__ = ["GREY", "ModuleResult", "eigengenes", "find_modules", "hub_genes"]

log = logging.getLogger(__name__)
_BLAS = ThreadpoolController()

GREY = "grey"


def _module_eigengenes(
    x: np.ndarray, labels: np.ndarray, cache: dict[bytes, tuple[np.ndarray, float]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Eigengenes (samples x modules, standardised) and variance explained for labels 0..k-1.

    Many small products and eigenproblems: BLAS is held to one thread (faster than two threads
    contending on a shared machine). ``cache`` (keyed by a module's genes) keeps the eigengenes of
    modules that the merging and kME steps leave unchanged from being computed again.
    """
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    me = np.zeros((x.shape[0], k))
    ve = np.zeros(k)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    with _BLAS.limit(limits=1, user_api="blas"):
        for m in range(k):
            genes = order[bounds[m] : bounds[m + 1]]
            key = genes.tobytes()
            hit = None if cache is None else cache.get(key)
            if hit is None:
                hit = _eigengene(x[:, genes])
                if cache is not None:
                    cache[key] = hit
            me[:, m], ve[m] = hit
    return me, ve


def _top_eigh(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest eigenvalue and its eigenvector of a symmetric matrix (LAPACK's ?syevx, one thread).

    Only the top pair is computed, with BLAS held to one thread: on a shared 2-core machine a
    multi-threaded full ``eigh`` of a few hundred rows was 10-50x slower.
    """
    m = gram.shape[0]
    with _BLAS.limit(limits=1, user_api="blas"):
        return linalg.eigh(gram, subset_by_index=[m - 1, m - 1], driver="evx")


def _eigengene(x: np.ndarray) -> tuple[np.ndarray, float]:
    """First principal component of standardised columns (sign: with their mean), and its R^2."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    sd = np.sqrt((xc * xc).mean(axis=0))
    keep = sd > 0
    if not keep.any():
        return np.zeros(x.shape[0]), 0.0
    zs = xc[:, keep] / sd[keep]
    # top eigenvector of the smaller Gram matrix (much faster than an SVD of the whole block)
    if zs.shape[1] >= zs.shape[0]:
        gram = zs @ np.ascontiguousarray(zs.T)
        w, vec = _top_eigh(gram)
        pc = vec[:, -1] * np.sqrt(max(w[-1], 0.0))
    else:
        gram = zs.T @ zs.copy()
        w, vec = _top_eigh(gram)
        pc = zs @ vec[:, -1]
    if pc @ zs.mean(axis=1) < 0:
        pc = -pc
    pc_sd = pc.std(ddof=1) if pc.size > 1 else 0.0
    pc = pc / pc_sd if pc_sd > 0 else pc * 0.0
    total = float(np.trace(gram))
    return pc, (float(w[-1]) / total if total > 0 else 0.0)


def _merge_close(
    x: np.ndarray, labels: np.ndarray, cut: float, cache: dict | None = None
) -> np.ndarray:
    """Merge modules whose eigengenes' 1 - r is below ``cut`` (average linkage), to a fixpoint."""
    labels = labels.copy()
    while True:
        k = int(labels.max()) + 1
        if k < 2:
            return labels
        me, _ = _module_eigengenes(x, labels, cache)
        diss = 1.0 - corr(me).astype(np.float64)
        diss = np.clip((diss + diss.T) / 2, 0.0, 2.0)
        np.fill_diagonal(diss, 0.0)
        groups = fcluster(linkage(squareform(diss, checks=False), "average"), cut, "distance") - 1
        if groups.max() + 1 == k:
            return labels
        labels = np.where(labels >= 0, groups[np.maximum(labels, 0)], -1)
        labels = _relabel_dense(labels)


def _relabel_dense(labels: np.ndarray) -> np.ndarray:
    """Relabel non-negative labels to 0..k-1 in order of first appearance; -1 stays."""
    out = np.full_like(labels, -1)
    seen: dict[int, int] = {}
    for i, lab in enumerate(labels):
        if lab >= 0:
            out[i] = seen.setdefault(int(lab), len(seen))
    return out


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Relabel so that module 0 is the largest (ties: the one whose first gene comes first)."""
    ids = [int(v) for v in np.unique(labels) if v >= 0]
    order = sorted(ids, key=lambda v: (-(labels == v).sum(), int(np.flatnonzero(labels == v)[0])))
    mapping = {old: new for new, old in enumerate(order)}
    return np.array([mapping.get(int(v), -1) for v in labels], dtype=int)


@dataclass
class ModuleResult:
    """Result of :func:`find_modules`: gene modules, eigengenes, scale-free fit and parameters."""

    modules: pd.DataFrame
    eigengenes: pd.DataFrame
    soft_threshold: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _column_stats(x: Any, *, block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column, one block at a time (dense or sparse): variance, #non-finite values, any inf."""
    var = np.empty(x.shape[1])
    n_bad = np.empty(x.shape[1], dtype=np.int64)
    has_inf = np.empty(x.shape[1], dtype=bool)
    for j0 in range(0, x.shape[1], block_size):
        blk = x[:, j0 : j0 + block_size]
        blk = np.asarray(blk.toarray() if sp.issparse(blk) else blk, dtype=np.float64)
        finite = np.isfinite(blk)
        n_bad[j0 : j0 + block_size] = (~finite).sum(axis=0)
        has_inf[j0 : j0 + block_size] = np.isinf(blk).any(axis=0)
        ok = finite.all(axis=0)
        var[j0 : j0 + block_size] = np.where(ok, np.where(finite, blk, 0.0).var(axis=0), np.nan)
    return var, n_bad, has_inf


def _block_modules(
    r: np.ndarray,
    power: float,
    *,
    signed: bool,
    min_module_size: int,
    deep_split: int,
    block_size: int,
    detect_cut_height: float | None = None,
    pam_stage: bool = True,
) -> np.ndarray:
    """Tree-cut labels (0..k-1, -1 unassigned) of one block's genes from their correlations ``r``.

    ``r`` (float32, genes x genes) becomes the adjacency in place, then the TOM distance is cut.
    ``detect_cut_height`` caps the tree cut (WGCNA blockwiseModules' default 0.995; None: 99% of
    the height range); with ``pam_stage`` genes the cut left unassigned join the module whose
    genes they are closest to on average (TOM distance), if that is below the cut height.
    """
    if r.shape[0] < 2:
        return np.full(r.shape[0], -1)
    adj = _adjacency(r, power, signed=signed, overwrite=True)
    dist = _tom_distance(adj, block_size)
    del adj, r
    tree = linkage(_condensed(dist), method="average")
    heights = tree[:, 2]
    if detect_cut_height is None:  # dynamic_tree_cut's own default
        ref = float(heights[max(int(round(heights.size * 0.05)), 1) - 1])
        cut = ref + 0.99 * (float(heights.max()) - ref)
    else:
        cut = min(detect_cut_height, float(heights.max()))
    labels = dynamic_tree_cut(
        tree, dist, min_cluster_size=min_module_size, deep_split=deep_split, cut_height=cut
    )
    if pam_stage:
        labels = _pam_assign(dist, labels, cut)
    return labels


def _condensed(dist: np.ndarray) -> np.ndarray:
    """The upper triangle of a square distance matrix row by row, float64: scipy's condensed form.

    Built row by row, so the only float64 buffer is the condensed one that ``linkage`` takes as it
    is (``squareform`` of a float32 matrix would leave linkage another conversion to make).
    """
    n = dist.shape[0]
    out = np.empty(n * (n - 1) // 2)
    pos = 0
    for i in range(n - 1):
        out[pos : pos + n - 1 - i] = dist[i, i + 1 :]
        pos += n - 1 - i
    return out


def _kme(z: np.ndarray, me: np.ndarray, block_size: int) -> np.ndarray:
    """Genes x modules kME: correlation of each gene (standardised column of ``z``) with each ME."""
    return _zcorr(z, _standardise(me, block_size=block_size), block_size=block_size)


def _reassign(
    x: np.ndarray,
    z: np.ndarray,
    labels: np.ndarray,
    *,
    signed: bool,
    block_size: int,
    cache: dict | None = None,
) -> np.ndarray:
    """Move module genes to the module whose eigengene they correlate with most (blockwise mode).

    A gene's block decides which modules it can join; after modules of all blocks are merged, a gene
    that fits another module's eigengene better than its own is moved there.
    """
    if labels.max() < 1:
        return labels
    me, _ = _module_eigengenes(x, labels, cache)
    kme = _kme(z, me, block_size)
    fit = kme if signed else np.abs(kme)
    best = fit.argmax(axis=1)
    assigned = labels >= 0
    moved = assigned & (best != labels)
    if moved.any():
        log.info("blockwise: %d genes moved to a better-fitting module", int(moved.sum()))
    return np.where(assigned, best, -1)


def find_modules(
    adata: ad.AnnData,
    *,
    n_genes: int = 1000,
    power: float | None = None,
    powers: Iterable[float] = range(1, 21),
    r2_cut: float = 0.8,
    signed: bool = True,
    min_module_size: int = 15,
    merge_cut_height: float = 0.25,
    deep_split: int = 2,
    min_kme: float = 0.3,
    block_size: int = 2000,
    max_block_size: int = 5000,
    min_samples: int = 10,
    seed: int = 0,
    pam_stage: bool = True,
) -> ModuleResult:
    """WGCNA-style co-expression modules on the ``n_genes`` most variable genes of log-scale ``.X``.

    Modules are named M1, M2, ... by decreasing size; ``grey`` genes are unassigned (kME NaN). Genes
    whose kME falls below ``min_kme`` go to grey, as WGCNA's ``minKMEtoStay`` does.

    The tree cut is followed by a PAM-like stage (``pam_stage``, as WGCNA's default): genes the cut
    left unassigned join the module they are closest to on average (TOM distance) when that is
    below the cut height; genes below ``min_kme`` then still go grey.

    Blockwise mode: when more than ``max_block_size`` genes enter, they are first split into blocks
    of at most that many co-varying genes (:func:`gene_blocks`, seeded by ``seed``); modules are cut
    within each block (so the largest TOM is ``max_block_size`` square), then modules of all blocks
    are merged by eigengene correlation and genes are moved to the module that fits them best. The
    soft-threshold power is always chosen on the whole network (connectivity summed in gene blocks).

    Genes with every value missing and genes without variation are left out (logged); genes with
    some values missing, infinite values or fewer than ``min_samples`` samples raise
    :class:`~rxrank.io.RxrankInputError`.
    """
    min_samples = max(int(min_samples), 4)
    if adata.n_obs < min_samples:
        raise RxrankInputError(
            f"co-expression modules need at least {min_samples} samples (min_samples), got "
            f"{adata.n_obs}: correlations between genes are not estimable that way."
        )
    if max_block_size < 2 * min_module_size:
        raise RxrankInputError(
            f"max_block_size ({max_block_size}) must be at least twice min_module_size "
            f"({min_module_size})."
        )
    var, n_bad, has_inf = _column_stats(adata.X, block_size=block_size)
    names = adata.var_names.astype(str)
    if has_inf.any():
        raise RxrankInputError(
            f"{int(has_inf.sum())} gene(s) hold infinite values ({_examples(names[has_inf])}); "
            "check the log transform of the expression matrix."
        )
    all_missing = n_bad == adata.n_obs
    partial = (n_bad > 0) & ~all_missing
    if partial.any():
        raise RxrankInputError(
            f"{int(partial.sum())} gene(s) have missing values in some samples "
            f"({_examples(names[partial])}); co-expression modules need complete genes: impute "
            "them or drop those genes or samples first."
        )
    if all_missing.any():
        log.warning(
            "co-expression: %d gene(s) with every value missing left out (%s)",
            int(all_missing.sum()),
            _examples(names[all_missing]),
        )
    constant = ~all_missing & ~(var > 0)
    if constant.any():
        log.info(
            "co-expression: %d gene(s) without variation left out (%s)",
            int(constant.sum()),
            _examples(names[constant]),
        )
    varying = np.flatnonzero(var > 0)
    order = varying[np.argsort(-var[varying], kind="stable")][:n_genes]
    order = np.sort(order)  # keep the input gene order
    if order.size < 2 * min_module_size:
        raise RxrankInputError(
            f"only {order.size} of {adata.n_vars} genes vary across samples "
            f"({int(all_missing.sum())} all missing, {int(constant.sum())} constant); modules "
            f"need at least {2 * min_module_size} (twice min_module_size)."
        )
    genes = adata.var_names[order].astype(str)
    x_sel = adata.X[:, order]
    x = np.asarray(x_sel.toarray() if sp.issparse(x_sel) else x_sel, dtype=np.float64)

    powers = list(powers)
    z = _standardise(x, block_size=block_size)
    blockwise = order.size > max_block_size
    # a single block's correlations serve the fit table too; held in a list that the block's
    # call empties, so that the block's adjacency (made in place) is freed once its TOM exists
    whole = [] if blockwise else [_zcorr(z, block_size=block_size)]
    conn = _connectivity(z, powers, signed=signed, block_size=block_size, r=next(iter(whole), None))
    table = _fit_table(powers, conn)
    chosen = _choose_power(table, r2_cut) if power is None else power
    log.info("soft-threshold power %s (%s)", chosen, "scale-free fit" if power is None else "given")

    if blockwise:
        blocks = gene_blocks(z, max_block_size, signed=signed, seed=seed, block_size=block_size)
    else:
        blocks = [np.arange(order.size)]
    labels = np.full(order.size, -1)
    for blk in blocks:
        lab = _block_modules(
            whole.pop() if whole else _zcorr(z[:, blk], block_size=block_size),
            chosen,
            signed=signed,
            min_module_size=min_module_size,
            deep_split=deep_split,
            block_size=block_size,
            pam_stage=pam_stage,
        )
        offset = int(labels.max()) + 1
        labels[blk[lab >= 0]] = lab[lab >= 0] + offset
    n_initial = int(labels.max()) + 1
    cache: dict[bytes, tuple[np.ndarray, float]] = {}
    labels = _merge_close(x, labels, merge_cut_height, cache)
    if blockwise:
        labels = _reassign(x, z, labels, signed=signed, block_size=block_size, cache=cache)
        labels = _relabel_dense(labels)
    n_merged = int(labels.max()) + 1

    # genes far from their module's eigengene go grey; modules left too small go grey too
    for _ in range(3):
        if labels.max() < 0:
            break
        me, _ = _module_eigengenes(x, labels, cache)
        kme_all = _kme(z, me, block_size)
        own = np.where(labels >= 0, kme_all[np.arange(len(labels)), np.maximum(labels, 0)], 1.0)
        if not signed:  # unsigned modules hold anti-correlated genes too
            own = np.abs(own)
        labels = np.where(own < min_kme, -1, labels)
        sizes = np.bincount(labels[labels >= 0], minlength=int(labels.max()) + 1)
        small = np.flatnonzero(sizes < min_module_size)
        labels = np.where(np.isin(labels, small), -1, labels)
        labels = _relabel_dense(labels)
        if not ((own < min_kme).any() or small.size):
            break

    labels = _relabel_by_size(labels)
    names = np.array([f"M{v + 1}" if v >= 0 else GREY for v in labels], dtype=object)
    k = int(labels.max()) + 1
    me, ve = _module_eigengenes(x, labels, cache)
    del cache
    kme = np.full(len(labels), np.nan)
    if k:
        kme_all = _kme(z, me, block_size)
        assigned = labels >= 0
        kme[assigned] = kme_all[np.flatnonzero(assigned), labels[assigned]]
    modules = pd.DataFrame({"gene": genes, "module": names, "kME": kme})
    modules = _sort_modules(modules)
    module_names = [f"M{i + 1}" for i in range(k)]
    eig = pd.DataFrame(
        me, index=pd.Index(adata.obs_names.astype(str), name="patient_id"), columns=module_names
    )
    params = {
        "power": chosen,
        "power_source": "scale-free fit" if power is None else "given",
        "n_genes": int(order.size),
        "signed": signed,
        "min_module_size": min_module_size,
        "merge_cut_height": merge_cut_height,
        "deep_split": deep_split,
        "min_kme": min_kme,
        "r2_cut": r2_cut,
        "n_blocks": len(blocks),
        "max_block_size": max_block_size,
        "n_left_out_all_missing": int(all_missing.sum()),
        "n_left_out_constant": int(constant.sum()),
        "n_modules_cut": n_initial,
        "n_modules_merged": n_merged,
        "n_modules": k,
        "n_grey": int((labels < 0).sum()),
        "variance_explained": {
            m: round(float(v), 4) for m, v in zip(module_names, ve, strict=True)
        },
    }
    log.info(
        "%d modules (%d from the tree cut, %d after merging), %d of %d genes grey",
        k,
        n_initial,
        n_merged,
        params["n_grey"],
        order.size,
    )
    return ModuleResult(modules=modules, eigengenes=eig, soft_threshold=table, params=params)


def _sort_modules(modules: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by module (M1, M2, ..., grey) then by decreasing kME."""
    key = modules["module"].map(lambda m: 10**9 if m == GREY else int(str(m)[1:]))
    out = modules.assign(_key=key, _kme=-modules["kME"].fillna(-np.inf))
    return (
        out.sort_values(["_key", "_kme", "gene"])
        .drop(columns=["_key", "_kme"])
        .reset_index(drop=True)
    )


def eigengenes(adata: ad.AnnData, modules: pd.DataFrame) -> pd.DataFrame:
    """Eigengenes of module definitions (gene, module) on a (possibly new) samples x genes AnnData.

    Each module's first principal component is recomputed on the genes present; modules with fewer
    than two genes present are dropped (logged).
    """
    missing_cols = {"gene", "module"} - set(modules.columns)
    if missing_cols:
        raise RxrankInputError(f"module table lacks column(s) {sorted(missing_cols)}.")
    x = _dense_x(adata)
    if not np.isfinite(x).all():
        raise RxrankInputError("expression matrix holds missing or infinite values.")
    pos = pd.Series(np.arange(adata.n_vars), index=adata.var_names.astype(str))
    pos = pos[~pos.index.duplicated()]
    defs = modules[modules["module"].astype(str) != GREY]
    names = sorted(defs["module"].astype(str).unique(), key=lambda m: (len(m), m))  # M2 before M10
    cols = {}
    for name in names:
        genes = defs.loc[defs["module"].astype(str) == name, "gene"].astype(str)
        present = genes[genes.isin(pos.index)]
        if len(present) < len(genes):
            log.info("module %s: %d of %d genes present", name, len(present), len(genes))
        if len(present) < 2:
            log.warning("module %s dropped: fewer than 2 of its genes are present", name)
            continue
        cols[name], _ = _eigengene(x[:, pos[present].to_numpy()])
    return pd.DataFrame(cols, index=pd.Index(adata.obs_names.astype(str), name="patient_id"))


def hub_genes(modules: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The ``top`` genes of each module by kME (module, rank, gene, kME); grey has no hubs."""
    mods = _sort_modules(modules[modules["module"].astype(str) != GREY])
    hubs = mods.groupby("module", sort=False).head(top).copy()
    hubs["rank"] = hubs.groupby("module", sort=False).cumcount() + 1
    return hubs[["module", "rank", "gene", "kME"]].reset_index(drop=True)
