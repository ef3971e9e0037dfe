"""Dynamic ("hybrid"-style) tree cut of a gene dendrogram, after WGCNA's ``cutreeHybrid``.

:func:`dynamic_tree_cut` is the dendrogram stage; :func:`_pam_assign` is the PAM-like stage that
gives genes the cut left unassigned to the closest module.
"""

from __future__ import annotations

import numpy as np

from ..errors import RxrankInputError

__all__ = ["dynamic_tree_cut"]

# WGCNA cutreeHybrid: maximum core scatter (fraction of the height range) for deepSplit 0..4
_MAX_CORE_SCATTER = (0.64, 0.73, 0.82, 0.91, 0.95)


def dynamic_tree_cut(
    z: np.ndarray,
    dist: np.ndarray,
    *,
    min_cluster_size: int = 15,
    deep_split: int = 2,
    cut_height: float | None = None,
) -> np.ndarray:
    """Cut a scipy linkage adaptively, following the dendrogram stage of WGCNA's hybrid cut.

    Returns a label per leaf (0, 1, ...; -1 = unassigned). ``dist`` is the square distance matrix
    the tree was built from. Merges below ``cut_height`` (default: 99% of the height range above the
    5% height quantile ``ref``) are visited bottom-up. A *basic* branch (one that has not yet met
    another valid branch) fails when it has fewer than ``min_cluster_size`` leaves, when its core
    scatter (mean distance among its earliest-joined ``m/2 + 1 + sqrt(size - m/2 - 1)`` leaves)
    exceeds ``ref + s * (cut - ref)``, when it joins less than ``0.75 * (1 - s) * (cut - ref)``
    above that scatter, or below ``ref``; ``s`` = (0.64, 0.73, 0.82, 0.91, 0.95)[deep_split]. A
    failing branch is absorbed by its partner (left unassigned if the partner is composite); two
    passing branches stay apart as modules under a new composite branch. Leaves absorbed by
    composite branches stay unassigned here; :func:`find_modules` then assigns them in a PAM-like
    stage (``_pam_assign``).
    """
    z = np.asarray(z, dtype=np.float64)
    dist = np.asarray(dist)
    n = z.shape[0] + 1
    if dist.shape != (n, n):
        raise RxrankInputError(f"dist must be {n} x {n} to match the linkage, got {dist.shape}.")
    if deep_split not in range(len(_MAX_CORE_SCATTER)):
        raise RxrankInputError(f"deep_split must be 0-4 (as in WGCNA), got {deep_split!r}.")
    labels = np.full(n, -1, dtype=int)
    if n < 2:
        return labels
    heights = z[:, 2]
    ref = float(heights[max(int(round((n - 1) * 0.05)), 1) - 1])
    if cut_height is None:
        cut_height = ref + 0.99 * (float(heights.max()) - ref)
    span = max(cut_height - ref, 1e-12)
    max_core = ref + _MAX_CORE_SCATTER[deep_split] * span
    min_gap = 0.75 * (1.0 - _MAX_CORE_SCATTER[deep_split]) * span
    base_core = min_cluster_size / 2 + 1

    # basic branches: node id -> leaves in joining order; composite branches hold no leaves
    leaves: dict[int, list[int]] = {}
    composite: set[int] = set()
    closed: list[tuple[list[int], float]] = []  # basic branches that met a passing partner
    scatter_cache: dict[int, tuple[int, float]] = {}

    def core_size(n_leaves: int) -> int:
        return n_leaves if base_core >= n_leaves else int(base_core + np.sqrt(n_leaves - base_core))

    def core_scatter(members: list[int], core: int) -> float:
        idx = np.asarray(members[:core])
        return float(dist[np.ix_(idx, idx)].sum() / (core * max(core - 1, 1)))

    def scatter(node: int) -> float:
        core = core_size(len(leaves[node]))
        hit = scatter_cache.get(node)
        if hit is None or hit[0] != core:
            hit = scatter_cache[node] = (core, core_scatter(leaves[node], core))
        return hit[1]

    def fails(node: int, height: float) -> bool:
        if node in composite:
            return False
        if len(leaves[node]) < min_cluster_size or height < ref:
            return True
        s = scatter(node)
        return s > max_core or height - s < min_gap

    def size(node: int) -> int:
        return 1 if node < n else int(z[node - n, 3])

    for i, (c1, c2, height, _) in enumerate(z):
        if height > cut_height:
            break
        a, b, node = int(c1), int(c2), n + i
        for c in (a, b):
            if c < n:
                leaves[c] = [c]
        small, large = (a, b) if size(a) <= size(b) else (b, a)
        absorbed = None
        if fails(small, height):
            absorbed, keeper = small, large
        elif fails(large, height):
            absorbed, keeper = large, small
        if absorbed is not None:
            scatter_cache.pop(absorbed, None)
            if keeper in composite:
                leaves.pop(absorbed)  # its leaves stay unassigned
                composite.add(node)
            else:
                merged = leaves.pop(keeper)
                merged.extend(leaves.pop(absorbed))
                leaves[node] = merged
                if keeper in scatter_cache:
                    scatter_cache[node] = scatter_cache.pop(keeper)
            continue
        for c in (a, b):
            if c not in composite:
                closed.append((leaves.pop(c), height))
                scatter_cache.pop(c, None)
        composite.add(node)
    # branches still basic at the cut are judged against the cut height
    candidates = closed + [(members, cut_height) for members in leaves.values()]
    n_clusters = 0
    for members, attach in candidates:
        if len(members) < min_cluster_size:
            continue
        s = core_scatter(members, core_size(len(members)))
        if s < max_core and attach - s > min_gap:
            labels[members] = n_clusters
            n_clusters += 1
    return labels


def _pam_assign(dist: np.ndarray, labels: np.ndarray, max_dist: float) -> np.ndarray:
    """Give each unassigned gene the module with the least mean distance to it, if <= max_dist.

    The assignment step of a hybrid tree cut (WGCNA's PAM stage with average dissimilarity, not
    bound to the dendrogram); one matrix product for all genes and modules.
    """
    k = int(labels.max()) + 1
    free = np.flatnonzero(labels < 0)
    if k == 0 or free.size == 0:
        return labels
    assigned = np.flatnonzero(labels >= 0)
    onehot = np.zeros((assigned.size, k), dtype=np.float32)
    onehot[np.arange(assigned.size), labels[assigned]] = 1.0
    mean_d = (dist[np.ix_(free, assigned)] @ onehot) / onehot.sum(axis=0)
    best = mean_d.argmin(axis=1)
    ok = mean_d[np.arange(free.size), best] <= max_dist
    out = labels.copy()
    out[free[ok]] = best[ok]
    return out
