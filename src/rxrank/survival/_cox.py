"""Penalised Cox model (lifelines) with the penalty chosen by (nested) K-fold CV C-index, Uno's
IPCW C-index and the survival-curve helpers over a fitted ``CoxPHFitter``."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index
from sklearn.model_selection import KFold, StratifiedKFold

from rxrank.config import SurvivalParams
from rxrank.io import RxrankInputError

from ._checks import check_survival_data

log = logging.getLogger(__name__)

DEFAULT_PENALIZERS = SurvivalParams.penalizers  # the config's default grid
INNER_FOLDS = 3  # inner CV of the nested C-index
SUMMARY_COLUMNS = [
    "covariate", "coef", "hr", "hr_lower", "hr_upper", "p", "ph_p", "inference_penalizer",
]  # fmt: skip
#: penalties tried, in order, for the hazard ratios when the unpenalised fit does not converge
INFERENCE_FALLBACK = (0.01, 0.1, 1.0)
MAX_INFERENCE_COEF = 10.0  # |log HR| above this (HR > 22,000): separation, not an estimate
_DURATION = "__duration"
_EVENT = "__event"


@contextlib.contextmanager
def _quiet_lifelines(level: int = logging.DEBUG) -> Iterator[None]:
    """Turn warnings raised inside the block (lifelines convergence, overflow) into log records."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        log.log(level, "lifelines: %s: %s", w.category.__name__, w.message)


def _censoring_survival(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier of the censoring distribution G(t) (events at a tied time leave first)."""
    order = np.unique(time)
    at_risk = np.array([(time >= t).sum() for t in order], dtype=float)
    censored = np.array([((time == t) & (event == 0)).sum() for t in order], dtype=float)
    return order, np.cumprod(1.0 - censored / at_risk)


#: Uno's C counts events only while the censoring survival G is at least this: beyond, one late
#: event's weight 1/G^2 can dominate a fold (GSE7390: up to 98% of the weight, folds 0.20-0.85)
UNO_MIN_CENSORING_SURVIVAL = 0.2


def uno_cindex(
    train_time,
    train_event,
    test_time,
    test_event,
    risk,
    *,
    tau: float | None = None,
    min_censoring_survival: float = 0.0,
) -> float:
    """Uno's IPCW concordance (Uno et al. 2011, Stat Med 30:1105): pairs ordered by an event time
    weighted by 1/G(T_i)^2, G = Kaplan-Meier of censoring in the training patients; ``risk``
    higher = shorter survival. Events after ``tau`` (default: the last time where G >
    ``min_censoring_survival``) are left out. With the defaults it agrees with scikit-survival's
    ``concordance_index_ipcw``; the models use :data:`UNO_MIN_CENSORING_SURVIVAL`."""
    tr_t = np.asarray(train_time, dtype=float)
    tr_e = np.asarray(train_event, dtype=int)
    t = np.asarray(test_time, dtype=float)
    e = np.asarray(test_event, dtype=int).astype(bool)
    r = np.asarray(risk, dtype=float)
    g_t, g = _censoring_survival(tr_t, tr_e)
    idx = np.searchsorted(g_t, t, side="right") - 1
    g_at = np.where(idx >= 0, g[np.clip(idx, 0, None)], 1.0)
    kept = g > min_censoring_survival
    limit = g_t[kept].max() if kept.any() else -np.inf
    if tau is not None:
        limit = min(limit, float(tau))
    use = e & (t < limit) & (g_at > 0)
    if not use.any():
        return float("nan")
    w = np.zeros_like(t)
    w[use] = 1.0 / g_at[use] ** 2
    # comparable: i an event (weighted), j with a longer time
    later = t[None, :] > t[:, None]
    conc = (r[:, None] > r[None, :]) + 0.5 * (r[:, None] == r[None, :])
    num = (w[:, None] * later * conc)[use].sum()
    den = (w[:, None] * later)[use].sum()
    return float(num / den) if den > 0 else float("nan")


class CoxModel:
    """Penalised Cox model (lifelines) whose penalty and L1 ratio are chosen by K-fold CV C-index.

    Harrell's C is computed in every fold, and Uno's IPCW C (censoring weights from the training
    fold) beside it; when at least ``uno_censoring`` of the patients are censored the grid point is
    chosen by Uno's C, which Harrell's C overstates under heavy censoring."""

    def __init__(
        self,
        *,
        penalizers: Sequence[float] = DEFAULT_PENALIZERS,
        l1_ratios: Sequence[float] = (0.0,),
        cv_folds: int = 5,
        seed: int = 0,
        ph_alpha: float = 0.05,
        uno_censoring: float = 0.5,
    ) -> None:
        self.penalizers = penalizers
        self.l1_ratios = l1_ratios
        self.cv_folds = cv_folds
        self.seed = seed
        self.ph_alpha = ph_alpha
        self.uno_censoring = uno_censoring

    @staticmethod
    def _frame(X: pd.DataFrame, duration, event) -> pd.DataFrame:
        df = X.astype(float).copy()
        df[_DURATION] = np.asarray(duration, dtype=float)
        df[_EVENT] = np.asarray(event, dtype=int)
        return df

    @staticmethod
    def _fit_one(
        df: pd.DataFrame, penalizer: float, level: int = logging.DEBUG, l1_ratio: float = 0.0
    ) -> CoxPHFitter:
        with _quiet_lifelines(level):
            return CoxPHFitter(penalizer=penalizer, l1_ratio=l1_ratio).fit(df, _DURATION, _EVENT)

    @staticmethod
    def _fit_strict(df: pd.DataFrame, penalizer: float, l1_ratio: float = 0.0) -> CoxPHFitter:
        """Fit, raising ConvergenceError when lifelines only warns that Newton-Raphson failed."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cph = CoxPHFitter(penalizer=penalizer, l1_ratio=l1_ratio).fit(df, _DURATION, _EVENT)
        failed = [str(w.message) for w in caught if "failed to converge" in str(w.message)]
        if not np.isfinite(cph.params_).all():
            failed.append("non-finite coefficients")
        if failed:
            raise ConvergenceError(failed[0].splitlines()[0])
        for w in caught:
            if not issubclass(w.category, DeprecationWarning | FutureWarning):
                log.warning("lifelines: %s", str(w.message).splitlines()[0])
        return cph

    def _folds(self, event: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        k = int(self.cv_folds)
        n_min = int(min(event.sum(), len(event) - event.sum()))
        if n_min >= k:
            splitter = StratifiedKFold(k, shuffle=True, random_state=self.seed)
            return list(splitter.split(np.zeros(len(event)), event))
        return list(KFold(k, shuffle=True, random_state=self.seed).split(event))

    def fit(self, X: pd.DataFrame, duration, event) -> CoxModel:
        """Choose penalty and L1 ratio by CV C-index, refit on all patients, summarise, test PH."""
        penalizers = [float(p) for p in self.penalizers]
        l1_ratios = [float(r) for r in self.l1_ratios]
        if not penalizers or any(p < 0 for p in penalizers):
            raise RxrankInputError(f"`penalizers` must be non-negative numbers, got {penalizers}.")
        if not l1_ratios or any(not 0 <= r <= 1 for r in l1_ratios):
            raise RxrankInputError(f"`l1_ratios` must be numbers in [0, 1], got {l1_ratios}.")
        if self.cv_folds < 2:
            raise RxrankInputError(f"`cv_folds` must be at least 2, got {self.cv_folds}.")
        check_survival_data(
            pd.DataFrame({"time": np.asarray(duration), "event": np.asarray(event)}, index=X.index),
            time_column="time",
            event_column="event",
            source="CoxModel.fit",
        )
        df = self._frame(X, duration, event)
        if len(df) < 2 * self.cv_folds or df[_EVENT].sum() < 2:
            raise RxrankInputError(
                f"{len(df)} patients with {int(df[_EVENT].sum())} events are too few for a "
                f"{self.cv_folds}-fold cross-validated Cox model."
            )
        self.columns_ = list(X.columns)
        self.censored_fraction_ = float(1.0 - df[_EVENT].mean())
        self.selection_metric_ = (
            "uno" if self.censored_fraction_ >= self.uno_censoring else "harrell"
        )
        grid = [(p, r) for r in l1_ratios for p in penalizers]
        harrell, uno = self._grid_scores(df, self._folds(df[_EVENT].to_numpy()), grid)
        h_mean, h_sd, u_mean, u_sd = _mean_sd(harrell) + _mean_sd(uno)
        self.cv_table_ = pd.DataFrame(
            {
                "penalizer": [g[0] for g in grid],
                "l1_ratio": [g[1] for g in grid],
                "cv_cindex_mean": h_mean,
                "cv_cindex_sd": h_sd,
                "cv_uno_mean": u_mean,
                "cv_uno_sd": u_sd,
            }
        )
        best = self._best(h_mean, u_mean, grid)
        self.penalizer_, self.l1_ratio_ = grid[best]
        if len(grid) > 1:
            # the grid's best score is optimistic (chosen on the folds it is scored on): the
            # reported C-index comes from nested CV, the penalty chosen inside each training part
            harrell_best, uno_best = self._nested_scores(df, grid)
            self.cv_method_ = (
                f"nested: {self.cv_folds}-fold outer CV, the penalty chosen by {INNER_FOLDS}-fold "
                "inner CV inside each outer training part"
            )
        else:
            harrell_best, uno_best = harrell[best], uno[best]
            self.cv_method_ = f"{self.cv_folds}-fold CV (one penalty: nothing chosen)"
        self.cv_failed_folds_ = int(np.isnan(harrell_best).sum())
        if self.cv_failed_folds_:
            log.warning(
                "%d of %d cross-validation folds could not be scored (a fit failed, or no event in "
                "the held-out part); the C-index averages the other %d and metrics.json says so",
                self.cv_failed_folds_,
                len(harrell_best),
                len(harrell_best) - self.cv_failed_folds_,
            )
        (h_mean,), (h_sd,) = _mean_sd(harrell_best[None, :])
        (u_mean,), (u_sd,) = _mean_sd(uno_best[None, :])
        self.cv_cindex_mean_, self.cv_cindex_sd_ = float(h_mean), float(h_sd)
        self.cv_uno_mean_, self.cv_uno_sd_ = float(u_mean), float(u_sd)
        self.cv_fold_cindex_ = harrell_best.tolist()
        self.model_ = self._fit_final(df)
        self.train_ = df  # the inference fit's data: survival intervals need its risk sets
        self._summarise(df)
        log.info(
            "Cox model: %d patients, %d events, penalizer %g (l1 %g), CV C-index %.3f +/- %.3f "
            "(Uno %.3f +/- %.3f; chosen by %s)",
            len(df),
            int(df[_EVENT].sum()),
            self.penalizer_,
            self.l1_ratio_,
            self.cv_cindex_mean_,
            self.cv_cindex_sd_,
            self.cv_uno_mean_,
            self.cv_uno_sd_,
            self.selection_metric_,
        )
        return self

    def _grid_scores(
        self, df: pd.DataFrame, folds: list, grid: list[tuple[float, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Harrell and Uno C-index (grid point x fold) of each penalty on held-out folds."""
        harrell = np.full((len(grid), len(folds)), np.nan)
        uno = np.full((len(grid), len(folds)), np.nan)
        for i, (pen, l1) in enumerate(grid):
            if pen == 0 and l1 > 0:
                continue  # an L1 ratio without a penalty is the unpenalised model again
            for j, (train, test) in enumerate(folds):
                harrell[i, j], uno[i, j] = self._score(df.iloc[train], df.iloc[test], pen, l1)
        return harrell, uno

    def _score(
        self, tr: pd.DataFrame, te: pd.DataFrame, pen: float, l1: float
    ) -> tuple[float, float]:
        if te[_EVENT].sum() == 0:
            return np.nan, np.nan
        try:
            cph = self._fit_one(tr, pen, l1_ratio=l1)
        except (ConvergenceError, ValueError, np.linalg.LinAlgError) as err:
            log.debug("CV fit failed (penalizer %g, l1 %g): %s", pen, l1, err)
            return np.nan, np.nan
        with _quiet_lifelines():
            risk = cph.predict_log_partial_hazard(te[self.columns_]).to_numpy()
        harrell = concordance_index(te[_DURATION], -risk, te[_EVENT])
        uno = uno_cindex(
            tr[_DURATION],
            tr[_EVENT],
            te[_DURATION],
            te[_EVENT],
            risk,
            min_censoring_survival=UNO_MIN_CENSORING_SURVIVAL,
        )
        return harrell, uno

    def _best(self, h_mean: np.ndarray, u_mean: np.ndarray, grid: list) -> int:
        target = u_mean if self.selection_metric_ == "uno" else h_mean
        if np.isnan(target).all():
            best = int(np.argmax([g[0] for g in grid]))
            log.warning("every CV fit failed; using the largest penalizer %g", grid[best][0])
            return best
        return int(np.nanargmax(target))

    def _nested_scores(self, df: pd.DataFrame, grid: list) -> tuple[np.ndarray, np.ndarray]:
        """Outer-fold C-indices of the penalty chosen by inner CV on each outer training part."""
        outer = self._folds(df[_EVENT].to_numpy())
        harrell = np.full(len(outer), np.nan)
        uno = np.full(len(outer), np.nan)
        inner_model = CoxModel(cv_folds=INNER_FOLDS, seed=self.seed)
        inner_model.columns_ = self.columns_
        inner_model.selection_metric_ = self.selection_metric_
        for j, (train, test) in enumerate(outer):
            tr = df.iloc[train]
            inner = inner_model._folds(tr[_EVENT].to_numpy())
            h, u = inner_model._grid_scores(tr, inner, grid)
            best = inner_model._best(_mean_sd(h)[0], _mean_sd(u)[0], grid)
            harrell[j], uno[j] = self._score(tr, df.iloc[test], *grid[best])
        return harrell, uno

    def _fit_final(self, df: pd.DataFrame) -> CoxPHFitter:
        """Fit on every patient; a convergence failure becomes a message naming a penalty that
        converges (tried at 10x steps), never a traceback."""
        try:
            return self._fit_strict(df, self.penalizer_, self.l1_ratio_)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as err:
            first = err
        suggestion = None
        for trial in (0.01, 0.1, 1.0, 10.0, 100.0):
            if trial <= self.penalizer_:
                continue
            try:
                self._fit_strict(df, trial, self.l1_ratio_)
            except (ConvergenceError, np.linalg.LinAlgError, ValueError):
                continue
            suggestion = trial
            break
        spread = df[self.columns_].std(ddof=0).sort_values()
        hint = (
            f"It converges with penalizer {suggestion:g}: add {suggestion:g} to "
            "`survival.penalizers` in the config (or set `survival.penalizers: "
            f"[{suggestion:g}]`)."
            if suggestion is not None
            else "It did not converge with penalizer 100 either; remove covariates "
            "that separate events perfectly or have almost no variation "
            f"(least variable: {list(spread.index[:3])})."
        )
        raise RxrankInputError(
            f"the Cox model of {len(df)} patients did not converge with penalizer "
            f"{self.penalizer_:g} (lifelines: {str(first).splitlines()[0][:200]}). {hint}"
        ) from None

    def _inference_fit(self, df: pd.DataFrame) -> tuple[CoxPHFitter, float]:
        """The fit whose hazard ratios, intervals and p-values are reported: unpenalised, since
        the penalty chosen for the C-index shrinks every HR towards 1 at no cost in C (Rossi's
        prio per SD: 1.069 at the chosen penalty against 1.303). On separation or non-convergence
        the smallest penalty of :data:`INFERENCE_FALLBACK` that converges, with a warning."""
        for penalizer in (0.0, *INFERENCE_FALLBACK):
            try:
                fitted = self._fit_strict(df, penalizer, 0.0)  # logs lifelines' own warnings
                if (np.abs(fitted.params_) > MAX_INFERENCE_COEF).any():
                    raise ConvergenceError("a coefficient diverges (separation)")
            except (ConvergenceError, np.linalg.LinAlgError, ValueError) as err:
                log.warning(
                    "the Cox model for hazard ratios did not converge with penalizer %g (%s); "
                    "trying a larger one (separation or collinear covariates?)",
                    penalizer,
                    str(err).splitlines()[0][:120],
                )
                continue
            if penalizer > 0:
                log.warning(
                    "hazard ratios come from a Cox model with penalizer %g (shrunk towards 1): "
                    "the unpenalised fit did not converge",
                    penalizer,
                )
            return fitted, penalizer
        return self.model_, self.penalizer_

    def _summarise(self, df: pd.DataFrame) -> None:
        self.inference_model_, self.inference_penalizer_ = self._inference_fit(df)
        s = self.inference_model_.summary
        try:
            with _quiet_lifelines():
                ph = proportional_hazard_test(self.model_, df, time_transform="rank").summary["p"]
        except Exception as err:  # the PH test is diagnostic: record NaN and go on
            log.warning("proportional-hazards test failed: %s", err)
            ph = pd.Series(np.nan, index=s.index)
        self.summary_ = pd.DataFrame(
            {
                "covariate": list(s.index),
                "coef": s["coef"].to_numpy(),
                "hr": s["exp(coef)"].to_numpy(),
                "hr_lower": s["exp(coef) lower 95%"].to_numpy(),
                "hr_upper": s["exp(coef) upper 95%"].to_numpy(),
                "p": s["p"].to_numpy(),
                "ph_p": ph.reindex(s.index).to_numpy(dtype=float),
                "inference_penalizer": self.inference_penalizer_,
            }
        )[SUMMARY_COLUMNS]
        bad = self.summary_["ph_p"] < self.ph_alpha
        self.ph_violations_ = list(self.summary_.loc[bad, "covariate"])
        for _, row in self.summary_.loc[bad].iterrows():
            log.warning(
                "proportional hazards may not hold for %s (rank-time test p=%.3g); its hazard "
                "ratio is an average over follow-up",
                row["covariate"],
                row["ph_p"],
            )

    @property
    def summary(self) -> pd.DataFrame:
        """Per-covariate coef, hr (95% CI) and p of the inference fit (unpenalised; see
        ``inference_penalizer``), and the proportional-hazards test p of the prediction model."""
        if not hasattr(self, "summary_"):
            raise RuntimeError("CoxModel.summary read before fit")
        return self.summary_

    def _check(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "model_"):
            raise RuntimeError("CoxModel used before fit")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise RxrankInputError(f"design matrix lacks the model's column(s) {missing}.")
        return X[self.columns_].astype(float)

    def predict_risk(self, X: pd.DataFrame) -> pd.Series:
        """Log partial hazard (relative to the training mean); higher = worse prognosis."""
        X = self._check(X)
        with _quiet_lifelines():
            risk = self.model_.predict_log_partial_hazard(X)
        return pd.Series(np.asarray(risk, dtype=float), index=X.index, name="risk_score")

    def _baseline(self) -> tuple[np.ndarray, np.ndarray]:
        return _baseline_of(self.model_)

    def predict_survival(self, X: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
        """S(t) as a step function (Breslow baseline): rows = times, columns = patients."""
        surv = _survival_at(self.model_, self._check(X), times)
        return pd.DataFrame(
            surv, index=pd.Index(np.asarray(times, float), name="time"), columns=X.index
        )

    def predict_median(self, X: pd.DataFrame) -> pd.Series:
        """Predicted median survival time; NaN where S(t) stays above 0.5 within follow-up."""
        median = _median_of(self.model_, self._check(X))
        return pd.Series(median, index=X.index, name="median_survival")


def _mean_sd(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row means and sample SDs of a (grid x fold) score table, ignoring failed folds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        return np.nanmean(scores, axis=1), np.nanstd(scores, axis=1, ddof=1)


def _baseline_of(cph: CoxPHFitter) -> tuple[np.ndarray, np.ndarray]:
    base = cph.baseline_cumulative_hazard_
    return base.index.to_numpy(dtype=float), base.iloc[:, 0].to_numpy(dtype=float)


def _hazard_ratio_of(cph: CoxPHFitter, X: pd.DataFrame) -> np.ndarray:
    with _quiet_lifelines():
        return np.exp(np.asarray(cph.predict_log_partial_hazard(X), dtype=float))


def _survival_at(cph: CoxPHFitter, X: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
    """S(t | x) = exp(-H0(t) exp(x b)) at ``times`` (rows) for every patient (columns)."""
    t0, h0 = _baseline_of(cph)
    times = np.asarray(times, dtype=float)
    idx = np.searchsorted(t0, times, side="right") - 1
    cum = np.where(idx >= 0, h0[np.clip(idx, 0, None)], 0.0)
    return np.exp(-np.outer(cum, _hazard_ratio_of(cph, X)))


def _median_of(cph: CoxPHFitter, X: pd.DataFrame) -> np.ndarray:
    """First time where S(t | x) <= 0.5, i.e. H0(t) >= ln 2 / exp(x b) (H0 is non-decreasing, so a
    binary search per patient: no times x patients matrix at 10,000 patients)."""
    t0, h0 = _baseline_of(cph)
    need = np.log(2.0) / _hazard_ratio_of(cph, X)
    idx = np.searchsorted(h0, need * (1 - 1e-12), side="left")
    reached = idx < len(h0)
    return np.where(reached, t0[np.clip(idx, 0, len(t0) - 1)], np.nan)
