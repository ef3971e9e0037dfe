"""Correlation kernels: standardise-then-GEMM correlations, masked Pearson, BH q values.

Correlations are computed by standardising columns and multiplying matrices in float32, in column
blocks so that memory stays bounded; one operand is always a separate contiguous copy so that BLAS
takes its GEMM path (numpy's OpenBLAS SYRK path crashes on ~19,000 genes on some machines). A gene x
gene matrix is symmetric, so only its upper triangle of blocks is multiplied and then mirrored
(little more than half the multiplications of a full GEMM).

Correlations with missing values are exact: pairwise-complete Pearson correlations are computed for
all pairs at once from masked matrix products (:func:`_pairwise_corr`, :func:`_masked_pearson`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from ..errors import RxrankInputError

__all__ = ["METHODS", "bh", "corr", "top_neighbours"]

METHODS = ("pearson", "spearman")


def _as_2d_float(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a finite 2-D numpy array (dense), or raise with a clear message."""
    if isinstance(x, pd.DataFrame):
        x = x.to_numpy()
    if sp.issparse(x):
        x = x.toarray()
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise RxrankInputError(f"{name} must be a 2-D samples x features array, got {arr.ndim}-D.")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise RxrankInputError(f"{name} must be numeric, got dtype {arr.dtype}.")
    if not np.isfinite(arr).all():
        raise RxrankInputError(
            f"{name} holds missing or infinite values; correlations need complete data "
            "(impute or drop those samples/features first, or pass missing='pairwise')."
        )
    return arr


def _rank(x: np.ndarray) -> np.ndarray:
    """Column-wise ranks (ties averaged), as Spearman's correlation uses."""
    return stats.rankdata(x, axis=0)


def _standardise(x: np.ndarray, *, block_size: int) -> np.ndarray:
    """Float32 copy of ``x`` with columns centred and scaled to unit norm (zero-variance: all 0).

    Means and norms are computed in float64 per column block so that the float64 temporary stays
    bounded; then ``z.T @ z`` is the correlation matrix.
    """
    n, p = x.shape
    z = np.empty((n, p), dtype=np.float32)
    for j0 in range(0, p, block_size):
        blk = np.asarray(x[:, j0 : j0 + block_size], dtype=np.float64)
        blk = blk - blk.mean(axis=0)
        norm = np.sqrt((blk * blk).sum(axis=0))
        scale = np.zeros_like(norm)
        ok = norm > 1e-12 * np.sqrt(n) * np.maximum(
            np.abs(x[:, j0 : j0 + block_size]).max(0), 1e-300
        )
        scale[ok] = 1.0 / norm[ok]
        z[:, j0 : j0 + block_size] = blk * scale
    return z


def corr(
    a: Any,
    b: Any = None,
    *,
    method: str = "pearson",
    block_size: int = 2000,
    missing: str = "error",
) -> np.ndarray:
    """Feature x feature correlation of samples x features arrays (``a`` with itself or ``b``).

    Standardise-then-GEMM in float32, processed in column blocks of ``b``; Spearman ranks first.
    Zero-variance columns correlate 0 with everything (including themselves).

    ``missing="error"`` (default) rejects NaN. ``missing="pairwise"`` gives pairwise-complete
    Pearson r (each pair on the samples where both are observed; NaN where fewer than 3 are, 0
    where either is constant there), exact, from six float64 matrix products per column block
    instead of one float32 product: 10-15x the time of the complete-data path (measured at 500
    samples x 4,000 genes, 10% missing) plus about six genes x ``block_size`` float64 temporaries,
    so it is used only when asked. Spearman has no pairwise form here (ranks would have to be
    recomputed per pair).
    """
    if method not in METHODS:
        raise RxrankInputError(f"method must be one of {METHODS}, got {method!r}.")
    if block_size < 1:
        raise RxrankInputError(f"block_size must be positive, got {block_size}.")
    if missing not in ("error", "pairwise"):
        raise RxrankInputError(f"missing must be 'error' or 'pairwise', got {missing!r}.")
    if missing == "pairwise":
        if method != "pearson":
            raise RxrankInputError(
                "pairwise-complete correlation is Pearson only; impute for Spearman."
            )
        return _pairwise_corr(a, b, block_size=block_size)
    xa = _as_2d_float(a, "a")
    xb = None if b is None else _as_2d_float(b, "b")
    if xa.shape[0] < 2:
        raise RxrankInputError(f"correlations need at least 2 samples, got {xa.shape[0]}.")
    if xb is not None and xb.shape[0] != xa.shape[0]:
        raise RxrankInputError(
            f"a and b must have the same samples (rows): {xa.shape[0]} vs {xb.shape[0]}."
        )
    if method == "spearman":
        xa = _rank(xa)
        xb = None if xb is None else _rank(xb)
    za = _standardise(xa, block_size=block_size)
    zb = None if xb is None else _standardise(xb, block_size=block_size)
    return _zcorr(za, zb, block_size=block_size)


def _zcorr(za: np.ndarray, zb: np.ndarray | None = None, *, block_size: int) -> np.ndarray:
    """:func:`corr` of columns already standardised by :func:`_standardise` (float32)."""
    if zb is None:  # symmetric: the upper triangle of blocks only (about half the GEMM work)
        out = _sym_gram(za, block_size)
        np.clip(out, -1.0, 1.0, out=out)
        return out
    zat = za.T
    out = np.empty((za.shape[1], zb.shape[1]), dtype=np.float32)
    for j0 in range(0, zb.shape[1], block_size):
        blk = np.ascontiguousarray(zb[:, j0 : j0 + block_size])
        np.matmul(zat, blk, out=out[:, j0 : j0 + block_size])
    np.clip(out, -1.0, 1.0, out=out)
    return out


def _with_nan(x: Any, name: str) -> np.ndarray:
    """``x`` as a 2-D float64 array in which NaN marks a missing value (infinite: an error)."""
    if isinstance(x, pd.DataFrame):
        x = x.to_numpy(dtype=np.float64, na_value=np.nan)
    if sp.issparse(x):
        x = x.toarray()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise RxrankInputError(f"{name} must be a 2-D samples x features array, got {arr.ndim}-D.")
    if np.isinf(arr).any():
        raise RxrankInputError(f"{name} holds infinite values.")
    return arr


def _pairwise_corr(a: Any, b: Any, *, block_size: int) -> np.ndarray:
    """Pairwise-complete Pearson r (float32) of the columns of ``a`` with those of ``b`` (or a)."""
    xa = _with_nan(a, "a")
    xb = xa if b is None else _with_nan(b, "b")
    if xb.shape[0] != xa.shape[0]:
        raise RxrankInputError(
            f"a and b must have the same samples (rows): {xa.shape[0]} vs {xb.shape[0]}."
        )

    def parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = np.isfinite(x)
        with np.errstate(invalid="ignore"):
            mu = np.nanmean(np.where(m, x, np.nan), axis=0) if m.any() else np.zeros(x.shape[1])
        x0 = np.where(m, x - np.nan_to_num(mu), 0.0)  # centred on the observed mean
        return m.astype(np.float64), x0, x0 * x0

    ma, a0, a2 = parts(xa)
    out = np.empty((xa.shape[1], xb.shape[1]), dtype=np.float32)
    for j0 in range(0, xb.shape[1], block_size):
        mb, b0, b2 = parts(xb[:, j0 : j0 + block_size])
        n = ma.T @ mb
        sa, sb = a0.T @ mb, ma.T @ b0
        saa, sbb = a2.T @ mb, ma.T @ b2
        sab = a0.T @ b0
        with np.errstate(invalid="ignore", divide="ignore"):
            safe = np.maximum(n, 1.0)
            cov = sab - sa * sb / safe
            va = saa - sa * sa / safe
            vb = sbb - sb * sb / safe
            const = (va <= 1e-10 * np.maximum(saa, 1e-300)) | (
                vb <= 1e-10 * np.maximum(sbb, 1e-300)
            )
            r = cov / np.sqrt(np.where(const, 1.0, va * vb))
        r = np.clip(r, -1.0, 1.0)
        r[const] = 0.0
        r[n < 3] = np.nan
        out[:, j0 : j0 + block_size] = r
    return out


def _sym_gram(z: np.ndarray, block_size: int) -> np.ndarray:
    """``z.T @ z`` (float32): the upper triangle of column tiles multiplied, then mirrored.

    Tiles are about an eighth of the columns (at most ``block_size``), so the products skip most
    of the lower triangle (56% of a full GEMM's work instead of 68% with three tiles). Each tile's
    row strip is written straight into the result; its left operand is a copy of the tile's
    columns, so BLAS runs GEMM, never SYRK (see the module note).
    """
    z = np.asarray(z, dtype=np.float32)
    g = z.shape[1]
    out = np.empty((g, g), dtype=np.float32)
    tile = max(min(block_size, -(-g // 8)), 1)
    for i0 in range(0, g, tile):
        i1 = min(i0 + tile, g)
        left = np.array(z[:, i0:i1], order="C")
        np.matmul(left.T, z[:, i0:], out=out[i0:i1, i0:])
        out[i1:, i0:i1] = out[i0:i1, i1:].T
    return out


def top_neighbours(
    x: Any,
    k: int = 10,
    *,
    genes: Iterable[str] | None = None,
    method: str = "pearson",
    absolute: bool = False,
    block_size: int = 2000,
) -> pd.DataFrame:
    """The ``k`` most correlated other genes of every gene, never holding a genes x genes matrix.

    ``x`` is samples x genes (a DataFrame gives the gene names). Correlations are computed one
    column block at a time (genes x ``block_size`` float32) and only each column's top ``k`` are
    kept; ``absolute`` ranks by ``|r|``. Returns gene, neighbour, r, rank (1 = closest).
    """
    if isinstance(x, pd.DataFrame) and genes is None:
        genes = x.columns.astype(str)
    if k < 1:
        raise RxrankInputError(f"k must be positive, got {k}.")
    arr = _as_2d_float(x, "x")
    g = arr.shape[1]
    names = np.asarray(
        list(genes) if genes is not None else [f"g{i}" for i in range(g)], dtype=object
    )
    if names.size != g:
        raise RxrankInputError(f"{names.size} gene names for {g} genes.")
    k = min(k, g - 1)
    if k < 1:
        raise RxrankInputError("top neighbours need at least 2 genes.")
    if method == "spearman":
        arr = _rank(arr)
    elif method not in METHODS:
        raise RxrankInputError(f"method must be one of {METHODS}, got {method!r}.")
    z = _standardise(arr, block_size=block_size)
    zt = z.T
    idx = np.empty((g, k), dtype=np.int64)
    val = np.empty((g, k), dtype=np.float32)
    for j0 in range(0, g, block_size):
        j1 = min(j0 + block_size, g)
        r = zt @ np.ascontiguousarray(z[:, j0:j1])  # genes x block
        np.clip(r, -1.0, 1.0, out=r)
        score = np.abs(r) if absolute else r.copy()
        score[np.arange(j0, j1), np.arange(j1 - j0)] = -np.inf  # not its own neighbour
        part = np.argpartition(-score, k - 1, axis=0)[:k]  # k x block, unordered
        cols = np.arange(j1 - j0)
        order = np.argsort(-score[part, cols], axis=0, kind="stable")
        top = np.take_along_axis(part, order, axis=0)
        idx[j0:j1] = top.T
        val[j0:j1] = r[top, cols].T
    return pd.DataFrame(
        {
            "gene": np.repeat(names, k),
            "neighbour": names[idx.ravel()],
            "r": val.ravel().astype(np.float64),
            "rank": np.tile(np.arange(1, k + 1), g),
        }
    )


def _masked_pearson(
    x: np.ndarray, y: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete Pearson r of every column of ``x`` with every column of ``y``.

    ``x`` (n x p) is complete; ``y`` (n x q) is used only where ``mask`` (n x q) is true. Sums of
    x, x^2 and x*y over each column's observed rows come from matrix products with the mask, so all
    p x q pairs cost three GEMMs. Returns ``(r, n_obs)``; r is 0 where either side is constant in
    the observed rows and NaN where fewer than 3 rows are observed.
    """
    x = np.asarray(x, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    m = mask.astype(np.float64)
    n_obs = mask.sum(axis=0)
    xc = x - x.mean(axis=0)  # a global shift leaves r unchanged and avoids cancellation
    safe_n = np.maximum(n_obs, 1)
    y0 = np.where(mask, y, 0.0).astype(np.float64)
    ybar = y0.sum(axis=0) / safe_n
    yc = np.where(mask, y0 - ybar, 0.0)
    sx = xc.T @ m
    sxx = (xc * xc).T @ m
    sxy = xc.T @ yc
    syy = (yc * yc).sum(axis=0)
    varx = sxx - sx * sx / safe_n
    cov = sxy - sx * yc.sum(axis=0) / safe_n
    ymax = np.where(mask, y0, -np.inf).max(axis=0, initial=-np.inf)
    ymin = np.where(mask, y0, np.inf).min(axis=0, initial=np.inf)
    const_y = ~(ymax > ymin)
    const_x = varx <= 1e-10 * sxx
    denom = np.sqrt(np.where(const_x, 1.0, varx) * np.where(const_y, 1.0, syy)[None, :])
    r = np.clip(cov / denom, -1.0, 1.0)
    r[const_x | const_y[None, :]] = 0.0
    r[:, n_obs < 3] = np.nan
    return r, n_obs


def _pearson_p(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p of Pearson r with n observations (t distribution, n - 2 degrees of freedom)."""
    r = np.asarray(r, dtype=np.float64)
    df = np.broadcast_to(np.asarray(n, dtype=np.float64) - 2, r.shape)
    p = np.full(r.shape, np.nan)
    ok = np.isfinite(r) & (df > 0)
    rr = np.abs(r[ok])
    with np.errstate(divide="ignore"):
        t = np.where(rr >= 1.0, np.inf, rr * np.sqrt(df[ok] / np.maximum(1.0 - rr * rr, 1e-300)))
    p[ok] = np.minimum(2.0 * stats.t.sf(t, df[ok]), 1.0)
    return p


def bh(p: Any) -> np.ndarray:
    """Benjamini-Hochberg q values of ``p`` (any shape); NaNs stay NaN and are not counted."""
    arr = np.asarray(p, dtype=np.float64)
    flat = arr.ravel()
    q = np.full(flat.shape, np.nan)
    ok = np.isfinite(flat)
    if ok.any():
        ps = flat[ok]
        if (ps < 0).any() or (ps > 1).any():
            raise ValueError("p values must lie in [0, 1].")
        m = ps.size
        order = np.argsort(ps, kind="stable")
        scaled = ps[order] * m / np.arange(1, m + 1)
        q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
        q_ok = np.empty(m)
        q_ok[order] = np.minimum(q_sorted, 1.0)
        q[ok] = q_ok
    return q.reshape(arr.shape)


def _dense_x(adata: ad.AnnData) -> np.ndarray:
    x = adata.X
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def _examples(names: Any, n: int = 5) -> str:
    names = [str(v) for v in names]
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
