"""Blockwise mode: pre-cluster genes into blocks of co-varying genes (WGCNA's projective k-means).

Spherical k-means on standardised genes, an average-linkage tree of the centres, and a split of
that tree into blocks of at most ``max_block_size`` genes, so that only a block-sized TOM is built.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from ..errors import RxrankInputError
from ._kernels import _as_2d_float, _standardise

__all__ = ["gene_blocks"]

log = logging.getLogger(__name__)


def _spherical_kmeans(
    z: np.ndarray, k: int, *, signed: bool, n_iter: int, rng: np.random.Generator
) -> np.ndarray:
    """Cluster the unit-norm columns of ``z`` around ``k`` centres by correlation; labels 0..k-1.

    Each gene goes to the centre it correlates with most (``|r|`` when unsigned); a centre is the
    normalised mean of its genes (sign-aligned when unsigned). Empty centres restart at the genes
    that fit their centre worst.
    """
    g = z.shape[1]
    centres = np.ascontiguousarray(z[:, rng.choice(g, size=k, replace=False)])
    labels = np.full(g, -1)
    for _ in range(n_iter):
        sim = z.T @ centres
        if not signed:
            sim = np.abs(sim)
        new = sim.argmax(axis=1)
        fit = sim[np.arange(g), new]
        if (new == labels).all():
            break
        labels = new
        sign = np.ones(g, dtype=np.float32)
        if not signed:
            sign = np.sign(z.T @ centres)[np.arange(g), labels].astype(np.float32)
            sign[sign == 0] = 1.0
        onehot = sp.csr_matrix((sign, (np.arange(g), labels)), shape=(g, k))
        centres = np.asarray((onehot.T @ z.T).T, dtype=np.float32)
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        if empty.size:
            worst = np.argsort(fit, kind="stable")[: empty.size]
            centres[:, empty] = z[:, worst]
        norm = np.sqrt((centres * centres).sum(axis=0))
        centres /= np.where(norm > 0, norm, 1.0)
    return labels


def gene_blocks(
    x: Any,
    max_block_size: int = 5000,
    *,
    signed: bool = True,
    n_centres: int | None = None,
    n_iter: int = 30,
    seed: int = 0,
    block_size: int = 2000,
) -> list[np.ndarray]:
    """Split the genes (columns) of samples x genes ``x`` into blocks of at most ``max_block_size``.

    Like WGCNA's projective k-means pre-clustering, in our own form: genes are clustered by
    correlation around ``n_centres`` centres (default ``min(genes / 20, 100 * genes /
    max_block_size)``), the centres are joined into an average-linkage tree on ``1 - r`` (``1 -
    |r|`` unsigned), the tree is split from the root until every subtree holds at most
    ``max_block_size`` genes, and neighbouring subtrees (in the tree's leaf order) are packed
    together while they fit. Genes that co-vary therefore share a block, so modules are found
    within blocks and only a ``max_block_size``-square TOM is ever built. Returns sorted gene-index
    arrays that partition ``range(genes)``; a single centre's cluster larger than the limit is cut
    into pieces (logged).
    """
    if max_block_size < 2:
        raise RxrankInputError(f"max_block_size must be at least 2, got {max_block_size}.")
    arr = _as_2d_float(x, "x")
    g = arr.shape[1]
    if g <= max_block_size:
        return [np.arange(g)]
    z = _standardise(arr, block_size=block_size)
    if n_centres is None:
        n_centres = int(min(g / 20, 100 * g / max_block_size))
    k = int(min(max(n_centres, 2), g))
    rng = np.random.default_rng(seed)
    labels = _spherical_kmeans(z, k, signed=signed, n_iter=n_iter, rng=rng)
    used = np.unique(labels)
    members = {int(c): np.flatnonzero(labels == c) for c in used}
    # centre profiles of the used clusters, as unit vectors (unsigned: genes sign-aligned first,
    # so that a module's anti-correlated genes do not cancel its centre out)
    cols = []
    for c in used:
        zc = z[:, members[int(c)]].astype(np.float64)
        if not signed:  # align to the first gene, then to the aligned sum (robust to that pick)
            ref = zc @ np.where(zc.T @ zc[:, 0] < 0, -1.0, 1.0)
            zc = zc * np.where(zc.T @ ref < 0, -1.0, 1.0)
        cols.append(zc.mean(axis=1))
    cent = np.stack(cols, axis=1)
    cent /= np.maximum(np.sqrt((cent * cent).sum(axis=0)), 1e-300)
    sizes = np.array([members[int(c)].size for c in used])
    if used.size == 1:
        order_groups = [[0]]
    else:
        rc = np.clip(cent.T @ cent, -1.0, 1.0)
        d = 1.0 - (rc if signed else np.abs(rc))
        d = np.clip((d + d.T) / 2, 0.0, 2.0)
        np.fill_diagonal(d, 0.0)
        tree = linkage(squareform(d, checks=False), "average")
        order_groups = _split_tree(tree, sizes, max_block_size)
    blocks: list[np.ndarray] = []
    current: list[np.ndarray] = []
    filled = 0
    for group in order_groups:
        genes = np.concatenate([members[int(used[i])] for i in group])
        if genes.size > max_block_size:  # one centre's cluster alone exceeds the limit
            log.warning(
                "gene blocks: a cluster of %d genes exceeds max_block_size %d and is cut",
                genes.size,
                max_block_size,
            )
            fit = z[:, genes].T @ cent[:, group[0]].astype(np.float32)
            genes = genes[np.argsort(-fit, kind="stable")]
            pieces = [genes[i : i + max_block_size] for i in range(0, genes.size, max_block_size)]
        else:
            pieces = [genes]
        for piece in pieces:
            if filled + piece.size > max_block_size and current:
                blocks.append(np.sort(np.concatenate(current)))
                current, filled = [], 0
            current.append(piece)
            filled += piece.size
    if current:
        blocks.append(np.sort(np.concatenate(current)))
    log.info(
        "gene blocks: %d genes in %d blocks (sizes %s) from %d centres",
        g,
        len(blocks),
        [b.size for b in blocks],
        used.size,
    )
    return blocks


def _split_tree(tree: np.ndarray, sizes: np.ndarray, limit: int) -> list[list[int]]:
    """Leaf groups of a linkage: subtrees of total ``sizes`` <= ``limit``, in leaf order."""
    n = sizes.size
    weight = np.concatenate([sizes, np.zeros(n - 1, dtype=sizes.dtype)])
    for i, (a, b, _, _) in enumerate(tree):
        weight[n + i] = weight[int(a)] + weight[int(b)]
    out: list[list[int]] = []
    stack = [2 * n - 2]
    while stack:
        node = stack.pop()
        if node < n or weight[node] <= limit:
            leaves, todo = [], [node]
            while todo:
                m = todo.pop()
                if m < n:
                    leaves.append(m)
                else:
                    todo.extend((int(tree[m - n, 1]), int(tree[m - n, 0])))
            out.append(leaves)
        else:
            stack.extend((int(tree[node - n, 1]), int(tree[node - n, 0])))
    return out
