"""Exact ridge regression of many drug responses with per-drug missing values, all at once.

Each drug is a ridge regression (unpenalised intercept) on the cell lines where it was measured, with
its penalty chosen by exact leave-one-out error. Solving drugs one by one (scikit-learn's ``RidgeCV``
in a loop) repeats an expensive factorisation per drug. Here the lines x lines kernel ``K = X X'`` is
decomposed once, ``K = U diag(lam) U'``; for each penalty ``a`` the full inverse
``B = (K + a I)^-1`` follows from it, and a drug with measured lines ``O`` and missing lines ``M``
needs ``(K_OO + a I)^-1``, which is the Schur complement ``B_OO - B_OM B_MM^-1 B_MO``: only an
``|M| x |M|`` factorisation per drug, cheap when a drug misses a minority of lines. Drugs missing
most lines are solved directly on their measured lines. Both routes are exact, not imputations.

With the dual variables ``a`` solving ``(K_OO + a I) a + b 1 = y`` and ``1'a = 0`` (the intercept
``b`` is unpenalised), the coefficients are ``w = X_O' a`` and the leave-one-out residual of line
``i`` is ``a_i / P_ii`` with ``P = A^-1 - A^-1 1 1' A^-1 / (1' A^-1 1)``.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.linalg import blas, lapack
from threadpoolctl import threadpool_limits

__all__ = ["DEFAULT_ALPHAS", "MaskedRidge", "shared_factors"]

log = logging.getLogger(__name__)

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 11))
#: shared factors are used only with at least this many drugs; with fewer there is nothing to pool
MIN_TARGETS_FOR_FACTORS = 10


def shared_factors(
    Y: np.ndarray, k: int, *, iterations: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` response factors shared by all drugs: per-drug means, line scores, drug loadings.

    A rank-``k`` fit of the drug-centred lines x drugs matrix with missing values filled in by the
    fit itself (hard-rank iterative SVD imputation), so ``mean + scores @ loadings`` approximates
    ``Y``. The first factor is a line's general sensitivity: on GDSC2 it is what every drug shares.
    """
    mean = np.nanmean(Y, axis=0)
    centred = Y - mean
    obs = ~np.isnan(centred)
    filled = np.where(obs, centred, 0.0)
    for _ in range(iterations):
        U, s, Vt = _top_singular(filled, k)
        filled = np.where(obs, centred, (U * s) @ Vt)
    return mean, U * s, Vt


def _top_singular(A: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` leading singular triplets of ``A`` from the top eigenpairs of its smaller Gram
    matrix (only those k are computed): a full SVD of lines x drugs per imputation step was half
    of a 1,400-drug fit. Signs follow the largest entry of each left vector, as nothing else
    fixes them."""
    import scipy.linalg

    wide = A.shape[0] <= A.shape[1]
    G = A @ A.T if wide else A.T @ A
    n = G.shape[0]
    lam, W = scipy.linalg.eigh(G, subset_by_index=[n - k, n - 1])
    lam, W = lam[::-1], W[:, ::-1]
    s = np.sqrt(np.clip(lam, 0.0, None))
    safe = np.where(s > 0, s, 1.0)
    if wide:
        U, Vt = W, (A.T @ W / safe).T
    else:
        Vt, U = W.T, A @ W / safe
    sign = np.sign(U[np.abs(U).argmax(0), np.arange(k)])
    sign[sign == 0] = 1.0
    return U * sign, s, Vt * sign[:, None]


def _cores() -> int:
    """The cores this process may use (the scheduler's allocation on a cluster)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _dual_solution(Ay, A1, dA, y):
    """Intercept, dual coefficients and LOO RMSE from A^-1 y, A^-1 1 and diag(A^-1)."""
    s = A1.sum()
    b = (A1 @ y) / s
    a = Ay - b * A1
    p_diag = dA - A1**2 / s
    loo = a / np.where(np.abs(p_diag) > 1e-300, p_diag, 1e-300)
    return b, a, float(np.sqrt(np.mean(loo**2)))


class MaskedRidge:
    """Ridge for many targets with missing values (NaN) per target, solved exactly per target.

    ``fit(X, Y)`` takes samples x features ``X`` and samples x targets ``Y``; ``alpha_`` holds each
    target's penalty chosen from ``alphas`` by exact leave-one-out error. With ``screen=k`` each
    target uses only the ``k`` features most correlated with it on the training samples (a
    supervised screen, so it must sit inside any cross-validation); that path solves per target.

    With ``factors=k`` (and at least :data:`MIN_TARGETS_FOR_FACTORS` targets) the ``k`` factors all
    targets share (:func:`shared_factors`) are learnt first, from all targets at once, by one
    ridge per factor; each target's own ridge then fits what the factors leave. Both parts are
    linear, so ``coef_`` and ``intercept_`` hold their sum and prediction is unchanged.
    On GDSC2 (leave-line-out, 286 drugs) one factor lowers pooled RMSE from 1.173 to 1.167.
    """

    def __init__(
        self,
        alphas: tuple[float, ...] = DEFAULT_ALPHAS,
        screen: int | None = None,
        factors: int = 0,
    ):
        self.alphas = alphas
        self.screen = screen
        self.factors = factors

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MaskedRidge:
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
        counts = (~np.isnan(Y)).sum(0)
        if (counts < 3).any():
            raise ValueError(f"targets {np.flatnonzero(counts < 3).tolist()} have < 3 values")
        alphas = np.asarray(self.alphas, dtype=np.float64)
        shared_coef, shared_intercept = 0.0, 0.0
        self.factors_ = self.factors if Y.shape[1] >= MIN_TARGETS_FOR_FACTORS else 0
        if self.factors_:
            mean, scores, loadings = shared_factors(Y, self.factors_)
            scorer = MaskedRidge(self.alphas).fit(X, scores)
            shared_coef = scorer.coef_ @ loadings
            shared_intercept = mean + scorer.intercept_ @ loadings
            Y = Y - mean - scores @ loadings
        if self.screen is not None and self.screen < X.shape[1]:
            dual, self.intercept_, self.alpha_, self.loo_rmse_, cols = self._fit_screened(
                X, Y, alphas
            )
            self.coef_ = np.zeros((X.shape[1], Y.shape[1]))
            for j, c in enumerate(cols):
                self.coef_[c, j] = X[:, c].T @ dual[:, j]
        else:
            dual, self.intercept_, self.alpha_, self.loo_rmse_ = self._fit_shared(X, Y, alphas)
            self.coef_ = X.T @ dual
        self.coef_ = self.coef_ + shared_coef
        self.intercept_ = self.intercept_ + shared_intercept
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    @staticmethod
    def _fit_shared(X, Y, alphas, blas_threads=1):
        n, n_targets = Y.shape
        kernel = X @ X.T.copy()  # the copy makes BLAS use GEMM, not the SYRK path that crashes
        lam, U = np.linalg.eigh(kernel)
        lam = np.clip(lam, 0.0, None)
        obs = ~np.isnan(Y)
        y0 = np.where(obs, Y, 0.0)
        missing = [np.flatnonzero(~obs[:, j]) for j in range(n_targets)]
        # Schur route costs ~ m^2 (m/3 + n_obs) per penalty; the direct route one n_obs^3 eigh
        direct = [
            len(m) ** 2 * (len(m) / 3 + n - len(m)) * len(alphas) > 1.5 * (n - len(m)) ** 3
            for m in missing
        ]
        dual = np.zeros((n, n_targets))
        intercept = np.zeros(n_targets)
        best_alpha = np.zeros(n_targets)
        best_err = np.full(n_targets, np.inf)

        def keep(j, alpha, b, a, err, o):
            if err < best_err[j]:
                best_err[j], best_alpha[j], intercept[j] = err, alpha, b
                dual[:, j] = 0.0
                dual[o, j] = a

        schur = [j for j in range(n_targets) if not direct[j]]
        # per penalty: the full inverse B = (K + a I)^-1 and its products shared by all drugs
        shared = []
        for alpha in alphas:
            B = (U / (lam + alpha)) @ U.T
            shared.append((alpha, B, B.astype(np.float32), B @ y0, B @ obs, np.diag(B).copy()))

        def one(j):
            """Best penalty of drug j; exact LOO only for penalties whose lower bound can still win."""
            o, m, y = obs[:, j], missing[j], Y[obs[:, j], j]
            candidates = []
            for alpha, B, B32, BY, B1, dB in shared:
                Ay, A1, L = BY[:, j], B1[:, j], None
                if len(m):
                    BM = B[m]
                    L, _ = lapack.dpotrf(BM[:, m], lower=1, clean=1)
                    # A^-1 v = B v - B_.M B_MM^-1 B_M. v, exactly in float64
                    w, _ = lapack.dpotrs(L, np.column_stack([BY[m, j], B1[m, j]]), lower=1)
                    corr = BM.T @ w
                    Ay, A1 = Ay - corr[:, 0], A1 - corr[:, 1]
                Ay, A1 = Ay[o], A1[o]
                s = A1.sum()
                b = (A1 @ y) / s
                a = Ay - b * A1
                # diag(A^-1) <= diag(B) on O, so this P_ii is an upper bound: a lower LOO bound
                upper = dB[o] - A1**2 / s
                bound = float(np.sqrt(np.mean((a / upper) ** 2)))
                candidates.append((bound, alpha, L, B32, a, A1, s, b, dB))
            best = (np.inf, 0.0, 0.0, None)
            for bound, alpha, L, B32, a, A1, s, b, dB in sorted(candidates, key=lambda c: c[0]):
                if bound >= best[0]:
                    break
                dA = dB
                if L is not None:
                    # the m^2 n triangular solve of the LOO diagonal, in float32 (it only ranks)
                    T = blas.strsm(1.0, L.astype(np.float32), B32[m], lower=1)
                    dA = dB - np.einsum("ij,ij->j", T, T)
                p_diag = dA[o] - A1**2 / s
                err = float(np.sqrt(np.mean((a / p_diag) ** 2)))
                if err < best[0]:
                    best = (err, alpha, b, a)
            return j, best

        # small BLAS calls: one thread each is faster than two (measured); the drugs run on
        # every core instead, each thread with its own single-threaded LAPACK calls
        with (
            threadpool_limits(limits=blas_threads, user_api="blas"),
            ThreadPoolExecutor(max_workers=_cores()) as pool,
        ):
            for j, (err, alpha, b, a) in pool.map(one, schur, chunksize=8):
                keep(j, alpha, b, a, err, obs[:, j])
        for j in np.flatnonzero(direct):
            o = obs[:, j]
            y = Y[o, j]
            mu, Q = np.linalg.eigh(kernel[np.ix_(o, o)])
            mu = np.clip(mu, 0.0, None)
            Qy, Q1, Q2 = Q.T @ y, Q.sum(0), Q**2
            for alpha in alphas:
                inv = 1.0 / (mu + alpha)
                b, a, err = _dual_solution(Q @ (inv * Qy), Q @ (inv * Q1), Q2 @ inv, y)
                keep(j, alpha, b, a, err, o)
        return dual, intercept, best_alpha, best_err

    def _fit_screened(self, X, Y, alphas):
        n, n_targets = Y.shape
        dual = np.zeros((n, n_targets))
        intercept = np.zeros(n_targets)
        best_alpha = np.zeros(n_targets)
        best_err = np.zeros(n_targets)
        cols_all = []
        for j in range(n_targets):
            o = ~np.isnan(Y[:, j])
            y = Y[o, j]
            xo = X[o]
            xc = xo - xo.mean(0)
            score = np.abs(xc.T @ (y - y.mean())) / np.maximum(np.sqrt((xc**2).sum(0)), 1e-12)
            cols = np.sort(np.argpartition(score, -self.screen)[-self.screen :])
            mu, Q = np.linalg.eigh(xo[:, cols] @ xo[:, cols].T.copy())
            mu = np.clip(mu, 0.0, None)
            Qy, Q1, Q2 = Q.T @ y, Q.sum(0), Q**2
            errs = []
            for alpha in alphas:
                inv = 1.0 / (mu + alpha)
                errs.append(_dual_solution(Q @ (inv * Qy), Q @ (inv * Q1), Q2 @ inv, y))
            k = int(np.argmin([e[2] for e in errs]))
            intercept[j], dual[o, j], best_err[j] = errs[k]
            best_alpha[j] = alphas[k]
            cols_all.append(cols)
        return dual, intercept, best_alpha, best_err, cols_all
