"""Expression harmonisation between cell lines (reference) and patient tumours (target).

Drug-response models are trained on cell-line expression and applied to patient expression, so the
two datasets must be put on a common scale first. :class:`Harmoniser` splits fitting from applying:
everything is learned from the *training* cell lines (plus, where a method needs it, the unlabelled
patient cohort, which carries no response information), and held-out cell lines are transformed
with parameters learned without them. Three methods:

``standardise``
    per-dataset per-gene z-scores: cell lines with the training lines' mean/SD, patients with the
    patient cohort's own mean/SD.
``quantile``
    every sample is quantile-normalised to the training lines' mean sorted profile, then z-scored
    per gene with the training lines' mean/SD. This aligns each sample's *distribution*; it does not
    remove gene-specific offsets between the datasets (use ``standardise`` or ``combat`` for those).
``combat``
    parametric empirical-Bayes ComBat (Johnson, Li & Rabinovic 2007, Biostatistics 8:118) with the
    two datasets as batches and no covariates, then per-gene z-scores with the adjusted training
    lines' mean/SD. On the fitting data it reproduces ``scanpy.pp.combat``.

Every fitted array is available from :meth:`Harmoniser.parameters` (for ``np.savez``, no pickles)
and :meth:`Harmoniser.from_saved` rebuilds a fitted harmoniser from it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .io import RxrankInputError

__all__ = ["METHODS", "BLOCK", "Harmoniser", "TargetSummary", "column_stats"]

log = logging.getLogger(__name__)

METHODS = ("standardise", "quantile", "combat")
MIN_SAMPLES = 3
_TINY_SD = 1e-10  # an SD at or below this is treated as zero (a constant gene)
COMBAT_CONV = 1e-4  # relative change at which the EB iteration stops (as in scanpy and sva)
COMBAT_MAX_ITER = 1000
#: samples handled at once where a whole cohort would make a samples x genes float64 temporary
BLOCK = 2048


def _zscore(X: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """(X - mean) / sd per gene; genes with zero SD give 0 (no division by zero)."""
    ok = sd > _TINY_SD
    return np.where(ok, (X - mean) / np.where(ok, sd, 1.0), 0.0)


def column_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and SD (ddof 0) in float64, over blocks of rows: no full-size temporary
    (Chan et al.'s pairwise update merges the blocks' means and sums of squares)."""
    n, mean, m2 = 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for start in range(0, X.shape[0], BLOCK):
        block = np.asarray(X[start : start + BLOCK], dtype=np.float64)
        k = len(block)
        b_mean = block.mean(0)
        b_m2 = ((block - b_mean) ** 2).sum(0)
        delta = b_mean - mean
        mean = mean + delta * k / (n + k)
        m2 = m2 + b_m2 + delta**2 * n * k / (n + k)
        n += k
    return mean, np.sqrt(m2 / max(n, 1))


@dataclass(frozen=True)
class TargetSummary:
    """What ``standardise`` learns from the target cohort: per-gene mean and SD, and its size.

    Computed once (:meth:`of`) and passed to every fold's :meth:`Harmoniser.fit`, so that a large
    cohort is not read again per fold."""

    mean: np.ndarray
    sd: np.ndarray
    n: int

    @classmethod
    def of(cls, Z: np.ndarray) -> TargetSummary:
        Z = _check_matrix(Z, "target", min_samples=MIN_SAMPLES)
        mean, sd = column_stats(Z)
        return cls(mean, sd, int(Z.shape[0]))


def _check_matrix(X, what: str, *, n_genes: int | None = None, min_samples: int = 1) -> np.ndarray:
    """Samples x genes finite float32 or float64 array, or an error that says what to change.

    Not copied when it already is one (nothing here writes into it)."""
    try:
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise RxrankInputError(
            f"{what} expression could not be read as numbers ({err}). Pass a samples x genes "
            "numeric array of log-scale expression."
        ) from None
    if X.ndim != 2:
        raise RxrankInputError(
            f"{what} expression must be a 2-D samples x genes array; got {X.ndim} dimension(s) "
            f"with shape {X.shape}. Reshape it (one row per sample, one column per gene)."
        )
    if X.shape[0] < min_samples:
        raise RxrankInputError(
            f"{what} expression has {X.shape[0]} sample(s); harmonisation needs at least "
            f"{min_samples}. Provide more samples (per-gene means and SDs from fewer are unusable)."
        )
    if n_genes is not None and X.shape[1] != n_genes:
        raise RxrankInputError(
            f"{what} expression has {X.shape[1]} genes but the harmoniser expects {n_genes}. "
            "Subset both datasets to the same shared genes, in the same order, before harmonising."
        )
    if not all(np.isfinite(X[s : s + BLOCK]).all() for s in range(0, len(X), BLOCK)):
        bad = ~np.isfinite(X)
        rows, cols = np.nonzero(bad)
        raise RxrankInputError(
            f"{what} expression has {int(bad.sum())} NaN/infinite value(s) in "
            f"{len(np.unique(cols))} gene(s), first at sample {rows[0]}, gene {cols[0]}. "
            "Impute or drop those genes (or samples) before harmonising."
        )
    return X


# --------------------------------------------------------------------------- quantile helpers
def _quantile_map(X: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Replace each sample's values by the profile value at their rank (ties: average rank).

    Ranks are placed on [0, 1] and the profile is interpolated there, so average ranks of ties fall
    between neighbouring profile values and a sample with a different number of genes than the
    profile is still mapped onto it.
    """
    p, n_prof = X.shape[1], len(profile)
    ranks = stats.rankdata(X, method="average", axis=1)
    pos = (ranks - 1.0) / max(p - 1, 1)
    grid = np.linspace(0.0, 1.0, n_prof)
    return np.interp(pos.ravel(), grid, profile).reshape(X.shape)


# --------------------------------------------------------------------------- ComBat helpers
def _relative_change(new: np.ndarray, old: np.ndarray) -> float:
    return float(np.max(np.abs(new - old) / np.maximum(np.abs(old), 1e-12)))


def _eb_priors(delta_hat: np.ndarray) -> tuple[float, float]:
    """Inverse-gamma hyperparameters a, b by the method of moments over genes (ddof=1, as scanpy)."""
    m = float(delta_hat.mean())
    s2 = max(float(delta_hat.var(ddof=1)), 1e-12)
    return (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2


def _eb_solve(
    s: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float, t2: float, a: float, b: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Posterior means gamma*, delta* of one batch, iterated to a relative change of 1e-4.

    ``s`` is that batch's standardised data (samples x genes). Same updates as scanpy / sva
    (``it.sol``); the stopping rule uses |old| in the denominator, so it is at least as strict.
    The sum of squares about gamma comes from per-gene sums, so no samples x genes temporary is
    made per iteration.
    """
    n = s.shape[0]
    s1, s2 = s.sum(0), (s**2).sum(0)
    g_old, d_old = g_hat, d_hat
    for it in range(1, COMBAT_MAX_ITER + 1):
        g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
        ss = np.maximum(s2 - 2 * g_new * s1 + n * g_new**2, 0.0)  # sum((s - g_new)^2)
        d_new = (0.5 * ss + b) / (n / 2.0 + a - 1.0)
        change = max(_relative_change(g_new, g_old), _relative_change(d_new, d_old))
        g_old, d_old = g_new, d_new
        if change <= COMBAT_CONV:
            return g_new, d_new, it
    log.warning("ComBat EB iteration stopped after %d steps without converging", COMBAT_MAX_ITER)
    return g_old, d_old, COMBAT_MAX_ITER


class Harmoniser(BaseEstimator):
    """Fit/apply harmonisation of cell-line (reference) and patient (target) expression.

    Parameters
    ----------
    method
        ``"standardise"``, ``"quantile"`` or ``"combat"`` (see the module docstring).
    min_sd
        genes whose SD is below this in the reference, or in the target when one is given to
        :meth:`fit`, are dropped; genes constant in either dataset are always dropped.
    n_top_genes
        then keep only this many genes with the largest reference SD (ties by gene order);
        ``None`` keeps all that pass ``min_sd``.

    Fitted attributes: ``n_genes_in_``, ``keep_`` (boolean mask over input genes), ``report_``
    (gene counts per filter and fit sizes), ``mean_``/``sd_`` (final per-gene z-score of the
    reference, over kept genes) and the method's own arrays: ``target_mean_``/``target_sd_``
    (standardise, ``None`` without a fitted target), ``profile_`` (quantile), ``grand_mean_``,
    ``var_pooled_``, ``gamma_star_``, ``delta_star_`` (combat; rows = reference, target).

    Why ComBat is implemented here rather than calling ``scanpy.pp.combat``: scanpy's function
    estimates and applies the batch adjustment in one call on the samples it is given. Inside
    cross-validation the held-out cell lines would then either have to be left out (and could not be
    adjusted at all) or be included in the fit (leaking them into the parameters used to train the
    model that is scored on them). Here the same estimator is split into ``fit`` (pooled mean and
    variance, per-batch gamma*/delta*) and ``transform_*`` (apply one batch's adjustment to any
    samples), so held-out lines are adjusted with parameters learned without them; on the fitting
    data the result equals ``scanpy.pp.combat`` (tested).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lines, patients = rng.normal(size=(20, 50)), rng.normal(3, 2, size=(30, 50))
    >>> h = Harmoniser("combat").fit(lines[:15], patients)
    >>> h.transform_reference(lines[15:]).shape, h.transform_target(patients).dtype
    ((5, 50), dtype('float32'))
    """

    def __init__(self, method: str = "standardise", min_sd: float = 0.1, n_top_genes=None):
        self.method = method
        self.min_sd = min_sd
        self.n_top_genes = n_top_genes

    # ------------------------------------------------------------------ settings and filter
    def _check_settings(self) -> None:
        if self.method not in METHODS:
            raise RxrankInputError(
                f"harmonisation method {self.method!r} is unknown; use one of {list(METHODS)}."
            )
        try:
            min_sd = float(self.min_sd)
        except (TypeError, ValueError):
            min_sd = np.nan
        if not (np.isfinite(min_sd) and min_sd >= 0):
            raise RxrankInputError(
                f"min_sd must be a finite number >= 0, got {self.min_sd!r}; set it to e.g. 0.1."
            )
        n_top = self.n_top_genes
        if n_top is not None and (isinstance(n_top, bool) or int(n_top) != n_top or n_top < 1):
            raise RxrankInputError(
                f"n_top_genes must be a positive integer or None, got {n_top!r}; e.g. 500."
            )

    def _fit_filter(self, X: np.ndarray, Z: TargetSummary | None) -> None:
        p = X.shape[1]
        ref_sd = X.std(0)
        low_ref = (ref_sd < self.min_sd) | (ref_sd <= _TINY_SD)
        keep = ~low_ref
        n_low_target = 0
        if Z is not None:
            tgt_sd = Z.sd
            low_tgt = keep & ((tgt_sd < self.min_sd) | (tgt_sd <= _TINY_SD))
            n_low_target = int(low_tgt.sum())
            keep &= ~low_tgt
        n_not_top = 0
        if self.n_top_genes is not None and keep.sum() > self.n_top_genes:
            idx = np.flatnonzero(keep)
            order = idx[np.argsort(-ref_sd[idx], kind="stable")]
            top = np.zeros(p, dtype=bool)
            top[order[: int(self.n_top_genes)]] = True
            n_not_top = int(keep.sum() - top.sum())
            keep = top
        n_kept = int(keep.sum())
        where = "the reference" + (" or the target" if Z is not None else "")
        if n_kept == 0:
            raise RxrankInputError(
                f"all {p} genes were filtered out: none has SD >= min_sd={self.min_sd} in {where}. "
                "Lower min_sd, or check that the expression is log-scale and not already collapsed."
            )
        if self.method in ("quantile", "combat") and n_kept < 2:
            raise RxrankInputError(
                f"method {self.method!r} needs at least 2 kept genes (it works across genes) but "
                f"only {n_kept} passed the filters; lower min_sd, raise n_top_genes or use "
                "method='standardise'."
            )
        self.n_genes_in_ = p
        self.keep_ = keep
        self.report_ = {
            "n_genes_in": p,
            "dropped_low_sd_reference": int(low_ref.sum()),
            "dropped_low_sd_target": n_low_target,
            "dropped_not_top": n_not_top,
            "n_genes_kept": n_kept,
            "n_reference": int(X.shape[0]),
            "n_target": None if Z is None else Z.n,
        }
        log.info(
            "harmonise (%s): kept %d of %d genes (%d low-SD in reference, %d low-SD in target, "
            "%d outside the top %s)",
            self.method,
            n_kept,
            p,
            self.report_["dropped_low_sd_reference"],
            n_low_target,
            n_not_top,
            self.n_top_genes,
        )

    # ------------------------------------------------------------------ fit
    def fit(
        self, reference: np.ndarray, target: np.ndarray | TargetSummary | None = None
    ) -> Harmoniser:
        """Learn the gene filter and the method's parameters from training lines (+ target).

        With ``standardise`` the target counts only through its :class:`TargetSummary`, which may
        be passed instead of the matrix (computed once for many fits)."""
        self._check_settings()
        X = np.asarray(_check_matrix(reference, "reference", min_samples=MIN_SAMPLES), np.float64)
        Z = summary = None
        if isinstance(target, TargetSummary):
            if self.method != "standardise":
                raise RxrankInputError(
                    f"method {self.method!r} needs the target matrix, not its summary; pass the "
                    "patients' expression."
                )
            summary = target
        elif target is not None:
            Z = _check_matrix(target, "target", n_genes=X.shape[1], min_samples=MIN_SAMPLES)
            summary = TargetSummary(*column_stats(Z), int(Z.shape[0]))
        elif self.method == "combat":
            raise RxrankInputError(
                "method 'combat' estimates the target batch's adjustment, so fit() needs the "
                "target (patient) expression; pass target=..., or use method='standardise'."
            )
        if summary is not None and len(summary.mean) != X.shape[1]:
            raise RxrankInputError(
                f"target expression has {len(summary.mean)} genes but the reference has "
                f"{X.shape[1]}. Subset both datasets to the same shared genes, in the same order, "
                "before harmonising."
            )
        self._fit_filter(X, summary)
        X = X[:, self.keep_]
        self.target_mean_ = self.target_sd_ = self.profile_ = None
        self.grand_mean_ = self.var_pooled_ = self.gamma_star_ = self.delta_star_ = None
        if self.method == "standardise":
            aligned = X
            if summary is not None:
                self.target_mean_ = summary.mean[self.keep_]
                self.target_sd_ = summary.sd[self.keep_]
        elif self.method == "quantile":
            self.profile_ = np.sort(X, axis=1).mean(0)
            aligned = _quantile_map(X, self.profile_)
        else:
            self._fit_combat(X, np.asarray(Z[:, self.keep_], dtype=np.float64))
            aligned = self._combat_apply(X, 0)
        self.mean_, self.sd_ = aligned.mean(0), aligned.std(0)
        n_const = int((self.sd_ <= _TINY_SD).sum())
        if n_const:
            log.info("%d kept gene(s) are constant after %s; they map to 0", n_const, self.method)
        return self

    def _fit_combat(self, X: np.ndarray, Z: np.ndarray) -> None:
        """Parametric EB ComBat on two batches without covariates (scanpy's conventions)."""
        n1, n2 = X.shape[0], Z.shape[0]
        n = n1 + n2
        m1, m2 = X.mean(0), Z.mean(0)
        grand = (n1 * m1 + n2 * m2) / n
        # pooled variance: residuals from the per-batch means, divided by the total n (as sva)
        var_pooled = (((X - m1) ** 2).sum(0) + ((Z - m2) ** 2).sum(0)) / n
        sq = np.sqrt(var_pooled)
        gammas, deltas, iters = [], [], []
        for batch in (X, Z):
            s = (batch - grand) / sq
            g_hat, d_hat = s.mean(0), s.var(0, ddof=1)
            a, b = _eb_priors(d_hat)
            g, d, it = _eb_solve(s, g_hat, d_hat, g_hat.mean(), g_hat.var(), a, b)
            gammas.append(g)
            deltas.append(d)
            iters.append(it)
        self.grand_mean_, self.var_pooled_ = grand, var_pooled
        self.gamma_star_, self.delta_star_ = np.vstack(gammas), np.vstack(deltas)
        self.report_["combat_iterations"] = iters
        log.info("ComBat EB converged in %s iterations (reference, target)", iters)

    def _combat_apply(self, X: np.ndarray, batch: int) -> np.ndarray:
        sq = np.sqrt(self.var_pooled_)
        s = (X - self.grand_mean_) / sq
        adj = (s - self.gamma_star_[batch]) / np.sqrt(self.delta_star_[batch])
        return adj * sq + self.grand_mean_

    # ------------------------------------------------------------------ apply
    def _align(self, X: np.ndarray, batch: int) -> np.ndarray:
        """Method-specific alignment of kept genes before the final per-gene z-score (not for
        standardise, whose z-score is the whole method)."""
        if self.method == "quantile":
            return _quantile_map(X, self.profile_)
        if self.method == "combat":
            return self._combat_apply(X, batch)
        return X

    def _blocks(self, X, what: str, f) -> np.ndarray:
        """``f`` over blocks of rows of the kept genes (float64 in, float32 out): the temporaries of
        a large cohort stay at :data:`BLOCK` rows."""
        check_is_fitted(self, "keep_")
        X = _check_matrix(X, what, n_genes=self.n_genes_in_)
        out = np.empty((X.shape[0], int(self.keep_.sum())), dtype=np.float32)
        for s in range(0, X.shape[0], BLOCK):
            out[s : s + BLOCK] = f(np.asarray(X[s : s + BLOCK, self.keep_], dtype=np.float64))
        return out

    def transform_reference(self, X: np.ndarray) -> np.ndarray:
        """Harmonise cell lines (training or held-out) with the fitted parameters; kept genes only."""
        return self._blocks(
            X, "reference", lambda B: _zscore(self._align(B, 0), self.mean_, self.sd_)
        )

    def transform_target(self, Z: np.ndarray) -> np.ndarray:
        """Harmonise patients with the fitted parameters; kept genes only.

        With ``standardise`` and no target given to :meth:`fit`, ``Z`` is z-scored by its own
        per-gene mean/SD (per-dataset standardisation), which needs at least 3 samples.
        """
        if self.method != "standardise":
            return self._blocks(
                Z, "target", lambda B: _zscore(self._align(B, 1), self.mean_, self.sd_)
            )
        h = self.fixed_for(Z)
        return h._blocks(Z, "target", lambda B: _zscore(B, h.target_mean_, h.target_sd_))

    def fixed_for(self, Z: np.ndarray) -> Harmoniser:
        """This harmoniser, or with ``standardise`` fitted without a target a copy holding ``Z``'s
        own per-gene mean/SD: then any block of ``Z`` transforms as the whole would."""
        check_is_fitted(self, "keep_")
        if self.method != "standardise" or self.target_mean_ is not None:
            return self
        Z = _check_matrix(Z, "target", n_genes=self.n_genes_in_)
        if Z.shape[0] < MIN_SAMPLES:
            raise RxrankInputError(
                f"target expression has {Z.shape[0]} sample(s) and no target was given to fit(), "
                f"so its own per-gene mean/SD are needed (at least {MIN_SAMPLES} samples). Pass the "
                "patient cohort to fit(reference, target) to standardise single patients."
            )
        log.info(
            "no target at fit: standardising %d target samples by their own statistics", len(Z)
        )
        mean, sd = column_stats(Z)
        new = copy.copy(self)
        new.target_mean_, new.target_sd_ = mean[self.keep_], sd[self.keep_]
        return new

    def for_target(self, Z: np.ndarray) -> Harmoniser:
        """A copy whose target-side parameters are learned from another cohort ``Z``.

        The gene filter and everything learned from the reference stay as fitted, so a model
        trained on the reference applies unchanged: with ``standardise`` the new cohort is z-scored
        by its own per-gene mean/SD, exactly as :meth:`fit` would have; ``quantile`` has nothing
        target-side. ``combat`` adjusts the reference together with the target, so a model trained
        after it belongs to that cohort and is refused here. Kept genes whose SD in ``Z`` is below
        ``min_sd`` (which :meth:`fit` would have dropped) map to 0, the reference mean.
        """
        check_is_fitted(self, "keep_")
        if self.method == "combat":
            raise RxrankInputError(
                "a model harmonised with ComBat adjusted the cell lines together with the cohort it "
                "was fitted with, so it cannot be applied to another cohort; rerun the sensitivity "
                "stage for this cohort, or fit the model with harmonisation standardise or quantile."
            )
        Z = _check_matrix(Z, "target", n_genes=self.n_genes_in_, min_samples=MIN_SAMPLES)
        new = copy.copy(self)
        new.report_ = {**self.report_, "n_target": int(Z.shape[0])}
        if self.method == "standardise":
            mean, sd = column_stats(Z)
            mean, sd = mean[self.keep_], sd[self.keep_]
            low = (sd < self.min_sd) | (sd <= _TINY_SD)
            new.target_mean_, new.target_sd_ = mean, np.where(low, 0.0, sd)
            new.report_["kept_low_sd_target"] = int(low.sum())
            if low.any():
                log.warning(
                    "%d of the model's %d genes vary less than min_sd=%s in this cohort; they are "
                    "set to the reference mean (z = 0)",
                    int(low.sum()),
                    len(sd),
                    self.min_sd,
                )
        return new

    # ------------------------------------------------------------------ provenance and storage
    def to_dict(self) -> dict:
        """JSON-ready settings and fit summary for provenance."""
        out = {"method": self.method, "min_sd": float(self.min_sd), "n_top_genes": self.n_top_genes}
        if hasattr(self, "keep_"):
            out["n_genes_in"] = int(self.n_genes_in_)
            out["n_genes_kept"] = int(self.keep_.sum())
            out["target_fitted"] = self.report_.get("n_target") is not None
            out["report"] = dict(self.report_)
        return out

    _ARRAYS = {
        "standardise": ("target_mean_", "target_sd_"),
        "quantile": ("profile_",),
        "combat": ("grand_mean_", "var_pooled_", "gamma_star_", "delta_star_"),
    }

    def parameters(self) -> dict[str, np.ndarray]:
        """Every fitted array needed to re-apply the harmoniser (for ``np.savez``; no pickles)."""
        check_is_fitted(self, "keep_")
        out = {"keep": self.keep_.copy(), "mean": self.mean_.copy(), "sd": self.sd_.copy()}
        for attr in self._ARRAYS[self.method]:
            value = getattr(self, attr)
            if value is not None:
                out[attr.rstrip("_")] = np.array(value, copy=True)
        return out

    @classmethod
    def from_saved(cls, settings: Mapping, arrays: Mapping[str, np.ndarray]) -> Harmoniser:
        """Rebuild a fitted harmoniser from :meth:`to_dict` and :meth:`parameters` output."""
        h = cls(settings["method"], settings["min_sd"], settings["n_top_genes"])
        h._check_settings()
        missing = [k for k in ("keep", "mean", "sd") if k not in arrays]
        if h.method == "quantile" and "profile" not in arrays:
            missing.append("profile")
        if h.method == "combat":
            missing += [a.rstrip("_") for a in cls._ARRAYS["combat"] if a.rstrip("_") not in arrays]
        if missing:
            raise RxrankInputError(
                f"saved harmoniser ({h.method}) lacks array(s) {missing}; save it again with "
                "Harmoniser.parameters()."
            )
        h.keep_ = np.asarray(arrays["keep"], dtype=bool)
        h.n_genes_in_ = int(h.keep_.size)
        h.report_ = dict(settings.get("report", {}))
        h.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        h.sd_ = np.asarray(arrays["sd"], dtype=np.float64)
        for attrs in cls._ARRAYS.values():
            for attr in attrs:
                key = attr.rstrip("_")
                value = arrays.get(key) if attr in cls._ARRAYS[h.method] else None
                setattr(h, attr, None if value is None else np.asarray(value, dtype=np.float64))
        return h
