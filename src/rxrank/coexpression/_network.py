"""WGCNA network construction: soft-thresholded adjacency, scale-free fit, topological overlap.

The soft-threshold power is chosen by a scale-free topology fit of the connectivity (WGCNA's
``pickSoftThreshold``), computed in gene blocks so that no genes x genes matrix is needed (a single
block's own correlation matrix is used when there is one); the topological overlap (TOM) distance
of a block's adjacency is what the tree is built on. Elementwise passes over a genes x genes matrix
run a few cache-sized rows at a time and in place: whole-matrix passes were memory-bound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..errors import RxrankInputError
from ._kernels import _sym_gram, corr

__all__ = ["pick_soft_threshold"]

log = logging.getLogger(__name__)

# elements of a float32 chunk that elementwise passes walk through while it is in cache
_CHUNK = 1 << 16


def _adjacency(r: np.ndarray, power: float, *, signed: bool, overwrite: bool = False) -> np.ndarray:
    """Soft-thresholded adjacency (float32, zero diagonal): ((1+r)/2)^power or |r|^power.

    Computed a few cache-sized rows at a time; ``overwrite``: a float32 ``r`` becomes the
    adjacency in place (no second gene x gene buffer).
    """
    a = np.asarray(r, dtype=np.float32)
    if not overwrite and np.may_share_memory(a, r):
        a = a.copy()
    integer = float(power).is_integer() and 1 <= power <= 64
    rows = max(_CHUNK // max(a.shape[1], 1), 1)
    scratch = np.empty((min(rows, a.shape[0]), a.shape[1]), dtype=np.float32)
    for i0 in range(0, a.shape[0], rows):
        b = a[i0 : i0 + rows]
        if signed:
            b += np.float32(1.0)
            b /= np.float32(2.0)
        np.abs(b, out=b)
        if integer:
            _int_power(b, int(power), scratch[: b.shape[0]])
        else:
            np.power(b, np.float32(power), out=b)
    np.fill_diagonal(a, 0.0)
    return a


def _int_power(b: np.ndarray, e: int, scratch: np.ndarray) -> None:
    """``b **= e`` in place by repeated squaring (a handful of multiplies instead of a ``pow``).

    The running square lives in ``b`` until the result first needs ``b``, then in ``scratch``.
    """
    started, sq = False, b
    while e:
        if e & 1:
            if started:
                b *= sq
            started = True  # the result so far is b itself (sq is still b here)
        e >>= 1
        if e:
            sq = np.multiply(sq, sq, out=scratch if started and sq is b else sq)


def _scale_free_fit(k: np.ndarray, n_breaks: int = 10) -> tuple[float, float]:
    """WGCNA's scaleFreeFitIndex: (R^2, slope) of log10 p(k) on log10 k over equal-width k bins."""
    k = np.asarray(k, dtype=np.float64)
    lo, hi = float(k.min()), float(k.max())
    if not hi > lo or lo < 0:
        return float("nan"), float("nan")
    breaks = np.linspace(lo, hi, n_breaks + 1)
    idx = np.clip(np.searchsorted(breaks, k, side="left") - 1, 0, n_breaks - 1)
    counts = np.bincount(idx, minlength=n_breaks).astype(np.float64)
    sums = np.bincount(idx, weights=k, minlength=n_breaks)
    mids = (breaks[:-1] + breaks[1:]) / 2
    dk = np.where(counts > 0, sums / np.maximum(counts, 1), mids)
    if (dk <= 0).any():
        return float("nan"), float("nan")
    log_dk = np.log10(dk)
    log_pdk = np.log10(counts / k.size + 1e-9)
    slope, _ = np.polyfit(log_dk, log_pdk, 1)
    rr = np.corrcoef(log_dk, log_pdk)[0, 1] if np.ptp(log_pdk) > 0 else 0.0
    return float(rr * rr), float(slope)


def _fit_table(powers: list[float], conn: np.ndarray) -> pd.DataFrame:
    rows = []
    for power, k in zip(powers, conn, strict=True):
        r2, slope = _scale_free_fit(k)
        sft = -np.sign(slope) * r2 if np.isfinite(slope) else float("nan")
        rows.append((power, sft, slope, float(k.mean())))
    return pd.DataFrame(rows, columns=["power", "sft_r2", "slope", "mean_k"])


def _soft_threshold_table(r: np.ndarray, powers: Iterable[float], *, signed: bool) -> pd.DataFrame:
    """Scale-free fit for each power from a gene x gene correlation matrix."""
    powers = list(powers)
    conn = [_adjacency(r, p, signed=signed).sum(axis=1, dtype=np.float64) for p in powers]
    return _fit_table(powers, np.asarray(conn))


def _connectivity(
    z: np.ndarray,
    powers: list[float],
    *,
    signed: bool,
    block_size: int,
    r: np.ndarray | None = None,
) -> np.ndarray:
    """Whole-network connectivity of every gene at every power (powers x genes), in gene blocks.

    ``z`` is the standardised float32 matrix of :func:`_standardise`; only a genes x ``block_size``
    slab of correlations exists at a time, unless the whole correlation matrix ``r`` of ``z`` is
    given (then it is read, not changed). Each slab is walked a few cache-sized rows at a time
    through all the powers (a pass over the whole slab per power was memory-bound); integer powers
    are reached by repeated multiplication (one multiply per power step instead of a ``pow``).
    """
    g = z.shape[1]
    steps = sorted({float(p) for p in powers})
    integer = all(p.is_integer() and p >= 1 for p in steps)
    conn = np.zeros((len(steps), g))
    zt = z.T
    for j0 in range(0, g, block_size):
        j1 = min(j0 + block_size, g)
        slab = zt @ np.ascontiguousarray(z[:, j0:j1]) if r is None else r[:, j0:j1]
        rows = max(_CHUNK // (j1 - j0), 1)
        base = np.empty((min(rows, g), j1 - j0), dtype=np.float32)
        cur = np.empty_like(base)
        for i0 in range(0, g, rows):
            i1 = min(i0 + rows, g)
            b, c = base[: i1 - i0], cur[: i1 - i0]
            np.clip(slab[i0:i1], -1.0, 1.0, out=b)
            if signed:
                b += np.float32(1.0)
                b /= np.float32(2.0)
            else:
                np.abs(b, out=b)
            lo, hi = max(i0, j0), min(i1, j1)  # this chunk's part of the diagonal
            if lo < hi:
                b[np.arange(lo - i0, hi - i0), np.arange(lo - j0, hi - j0)] = 0.0
            if integer:
                np.copyto(c, b)
                at = 1.0
                for s, p in enumerate(steps):
                    while at < p:
                        c *= b
                        at += 1.0
                    conn[s, j0:j1] += c.sum(axis=0, dtype=np.float64)
            else:
                for s, p in enumerate(steps):
                    np.power(b, np.float32(p), out=c)
                    conn[s, j0:j1] += c.sum(axis=0, dtype=np.float64)
    return conn[[steps.index(float(p)) for p in powers]]


def _choose_power(table: pd.DataFrame, r2_cut: float) -> int | float:
    """Lowest power whose signed R^2 reaches ``r2_cut``, else the power with the best fit."""
    reach = np.flatnonzero(table["sft_r2"].to_numpy() >= r2_cut)
    if reach.size:
        return table["power"].iloc[reach[0]].item()
    if table["sft_r2"].notna().any():
        best = int(np.nanargmax(table["sft_r2"].to_numpy()))
        log.info(
            "no power reached scale-free R^2 %.2f; using power %s (R^2 %.3f)",
            r2_cut,
            table["power"].iloc[best],
            table["sft_r2"].iloc[best],
        )
        return table["power"].iloc[best].item()
    raise RxrankInputError("scale-free fit failed for every power (constant connectivity).")


def pick_soft_threshold(
    x: Any,
    *,
    powers: Iterable[float] = range(1, 21),
    signed: bool = True,
    r2_cut: float = 0.8,
    block_size: int = 2000,
) -> tuple[int | float, pd.DataFrame]:
    """Choose the WGCNA soft-threshold power for samples x genes data ``x`` by scale-free fit.

    Returns ``(power, table)``; table columns power, sft_r2 (-sign(slope) * R^2), slope, mean_k.
    """
    r = corr(x, block_size=block_size)
    table = _soft_threshold_table(r, list(powers), signed=signed)
    return _choose_power(table, r2_cut), table


def _tom_distance(adj: np.ndarray, block_size: int = 2000) -> np.ndarray:
    """1 - topological overlap of a (symmetric, zero-diagonal, non-negative) adjacency, float32.

    TOM = (A A + A) / (min(k_i, k_j) + 1 - A); A A is symmetric and computed by
    :func:`_sym_gram`, the rest in place a few cache-sized rows at a time (no second gene x gene
    buffer), so the result is exactly symmetric.
    """
    k = adj.sum(axis=1, dtype=np.float64).astype(np.float32)
    dist = _sym_gram(adj, block_size)
    g = k.size
    rows = max(_CHUNK // max(g, 1), 1)
    den = np.empty((min(rows, g), g), dtype=np.float32)
    for i0 in range(0, g, rows):
        i1 = min(i0 + rows, g)
        t, a, d = dist[i0:i1], adj[i0:i1], den[: i1 - i0]
        t += a
        np.minimum(k[i0:i1, None], k, out=d)
        d += np.float32(1.0)
        d -= a
        t /= d
        np.subtract(np.float32(1.0), t, out=t)
        np.clip(t, 0.0, 1.0, out=t)
    np.fill_diagonal(dist, 0.0)
    return dist
