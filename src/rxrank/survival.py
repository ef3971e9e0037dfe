"""Survival stage: Cox models, prognosis and treatment-benefit estimates (lifelines).

The design matrix is learned on the cohort by :class:`Design` and applied unchanged to new patients;
:class:`CoxModel` wraps lifelines' L2-penalised ``CoxPHFitter`` with the penalty chosen by K-fold CV
C-index; :func:`run_survival` builds every file of ``results/survival/`` (see ``docs/outputs.md``).
Hazard ratios of numeric covariates are per cohort standard deviation; time is in the clinical
table's unit (months for the demo).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test
from lifelines.utils import concordance_index
from sklearn.model_selection import KFold, StratifiedKFold

from rxrank.io import RxrankInputError

__all__ = [
    "CoxModel",
    "Design",
    "bootstrap_prognosis",
    "check_survival_data",
    "TREATMENT_EFFECT_COLUMNS",
    "design_matrix",
    "km_by_group",
    "patient_curves",
    "prognosis",
    "run_survival",
    "time_varying_cox",
    "treatment_effects",
    "uno_cindex",
]

log = logging.getLogger(__name__)

DEFAULT_PENALIZERS = (0.01, 0.1, 0.5, 1.0)
INNER_FOLDS = 3  # inner CV of the nested C-index
TREATMENT_EFFECT_COLUMNS = [
    "patient_id",
    "treatment",
    "reference",
    "biomarker",
    "hr",
    "hr_lower",
    "hr_upper",
    "p_interaction",
    "p_treatment",
    "note",
]
SUMMARY_COLUMNS = ["covariate", "coef", "hr", "hr_lower", "hr_upper", "p", "ph_p"]
CAVEAT = (
    "Research use only. Hazard ratios of numeric covariates are per cohort standard deviation; "
    "the CV C-index is measured at the penalty it selected and is slightly optimistic; predicted "
    "survival curves assume proportional hazards and are flat after the last observed time. "
    "Treatment effects are observational (treatments were not randomised as far as rxrank knows) "
    "and may be confounded by why patients received each treatment."
)
_DURATION = "__duration"
_EVENT = "__event"
_Z = 1.959963984540054  # standard normal 97.5% quantile


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


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _censoring_survival(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier of the censoring distribution G(t) (events at a tied time leave first)."""
    order = np.unique(time)
    at_risk = np.array([(time >= t).sum() for t in order], dtype=float)
    censored = np.array([((time == t) & (event == 0)).sum() for t in order], dtype=float)
    return order, np.cumprod(1.0 - censored / at_risk)


def uno_cindex(
    train_time, train_event, test_time, test_event, risk, *, tau: float | None = None
) -> float:
    """Uno's IPCW concordance (Uno et al. 2011, Stat Med 30:1105): pairs ordered by an event time
    weighted by 1/G(T_i)^2, G = Kaplan-Meier of censoring in the training patients; ``risk``
    higher = shorter survival. Events after ``tau`` (default: the last time where G > 0) are
    left out. Agrees with scikit-survival's ``concordance_index_ipcw``."""
    tr_t = np.asarray(train_time, dtype=float)
    tr_e = np.asarray(train_event, dtype=int)
    t = np.asarray(test_time, dtype=float)
    e = np.asarray(test_event, dtype=int).astype(bool)
    r = np.asarray(risk, dtype=float)
    g_t, g = _censoring_survival(tr_t, tr_e)
    idx = np.searchsorted(g_t, t, side="right") - 1
    g_at = np.where(idx >= 0, g[np.clip(idx, 0, None)], 1.0)
    limit = g_t[g > 0].max() if (g > 0).any() else -np.inf
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


def check_survival_data(
    clinical: pd.DataFrame, *, time_column: str, event_column: str, source: str = "clinical table"
) -> None:
    """Raise one message per problem in the survival columns, naming the file, the rows and the fix:
    missing time or event, negative (or zero) times, events other than 0/1."""

    def rows(mask: pd.Series) -> str:
        ids = [str(i) for i in mask[mask].index[:10]]
        more = f" and {int(mask.sum()) - 10} more" if mask.sum() > 10 else ""
        return f"{int(mask.sum())} row(s): {', '.join(ids)}{more}"

    for col in (time_column, event_column):
        if col not in clinical.columns:
            raise RxrankInputError(
                f"{source} has no column {col!r} (columns {list(clinical.columns)[:12]}); set "
                "`cohort.time_column` / `cohort.event_column` in the config."
            )
    time = pd.to_numeric(clinical[time_column], errors="coerce")
    event = pd.to_numeric(clinical[event_column], errors="coerce")
    missing = time.isna() | event.isna()
    if missing.any():
        raise RxrankInputError(
            f"{source}: survival time {time_column!r} or event {event_column!r} is missing or "
            f"not a number in {rows(missing)}. Fill them in from the source records, or remove "
            "these patients from the clinical table (they cannot enter a survival model)."
        )
    negative = time < 0
    if negative.any():
        raise RxrankInputError(
            f"{source}: negative survival time in column {time_column!r} in {rows(negative)}. "
            "Times run from diagnosis (or study entry) to event or last follow-up; check for a "
            "date subtraction in the wrong order and correct these rows."
        )
    zero = time == 0
    if zero.any():
        raise RxrankInputError(
            f"{source}: survival time 0 in column {time_column!r} in {rows(zero)}. Cox models "
            "need positive times: use the true follow-up (e.g. 0.5 days in your unit) or remove "
            "these rows."
        )
    bad = ~event.isin([0, 1])
    if bad.any():
        values = sorted({str(v) for v in clinical.loc[bad, event_column]})[:5]
        raise RxrankInputError(
            f"{source}: event column {event_column!r} must be 0 (censored) or 1 (event), but has "
            f"{values} in {rows(bad)}. Recode these rows (e.g. 1/2 coding: 2 -> 1 event, "
            "1 -> 0 censored)."
        )


def _check_collinear(X: pd.DataFrame, *, tol: float = 1e-8) -> None:
    """Raise when a design column is (almost exactly) a linear combination of the others."""
    Z = X.to_numpy(dtype=float)
    Z = (Z - Z.mean(0)) / Z.std(0)
    kept: list[int] = []
    for k in range(Z.shape[1]):
        if kept:
            A = Z[:, kept]
            coef, *_ = np.linalg.lstsq(A, Z[:, k], rcond=None)
            resid = Z[:, k] - A @ coef
            if resid.var() < tol:
                partners = [X.columns[kept[i]] for i in np.flatnonzero(np.abs(coef) > 1e-6)]
                raise RxrankInputError(
                    f"survival covariate {X.columns[k]!r} is collinear with {partners} in the "
                    f"{len(X)} patients analysed (it is a linear combination of them), so their "
                    "effects cannot be separated. Drop one of them from `cohort.covariates` / "
                    "`survival.features`, or merge the categories that coincide."
                )
        kept.append(k)


# ------------------------------------------------------------
# design matrix


class Design:
    """Covariate encoding learned on a cohort (one-hot categoricals, standardised numerics);
    ``fit`` learns levels, references, means and SDs; ``transform`` applies them to any patients."""

    def __init__(
        self,
        *,
        covariates: Sequence[str],
        categorical: Sequence[str] | None = None,
        references: Mapping[str, str] | None = None,
    ) -> None:
        self.covariates = list(covariates)
        self.categorical = list(categorical or [])
        self.references = dict(references or {})

    @staticmethod
    def _joined(clinical: pd.DataFrame, features: pd.DataFrame | None, covariates: list[str]):
        missing = [c for c in covariates if c not in clinical.columns]
        if missing:
            raise RxrankInputError(
                f"survival covariate(s) {missing} are not columns of the clinical table "
                f"(it has {list(clinical.columns)[:12]}). Fix `covariates` in the config."
            )
        frame = clinical[covariates].copy()
        frame.index = frame.index.astype(str)
        if features is not None and features.shape[1]:
            clash = [c for c in features.columns if c in frame.columns]
            if clash:
                raise RxrankInputError(
                    f"feature column(s) {clash} have the same name as clinical covariates; rename "
                    "one of them."
                )
            feats = features.copy()
            feats.index = feats.index.astype(str)
            lost = frame.index.difference(feats.index)
            if len(lost):
                log.warning(
                    "%d patient(s) have clinical data but no features and are left out, e.g. %s",
                    len(lost),
                    list(lost[:3]),
                )
            frame = frame.join(feats, how="inner")
        return frame

    def fit(self, clinical: pd.DataFrame, features: pd.DataFrame | None = None) -> Design:
        """Learn levels and standardisation from the cohort; returns ``self``."""
        frame = self._joined(clinical, features, self.covariates)
        frame = self._complete(frame)
        self.columns_in_ = list(frame.columns)
        self.categorical_ = [
            c
            for c in frame.columns
            if c in self.categorical
            or not pd.api.types.is_numeric_dtype(frame[c])
            or pd.api.types.is_bool_dtype(frame[c])
        ]
        self.levels_: dict[str, list[str]] = {}
        self.reference_: dict[str, str] = {}
        self.means_: dict[str, float] = {}
        self.sds_: dict[str, float] = {}
        for col in frame.columns:
            if col in self.categorical_:
                values = frame[col].astype(str)
                levels = sorted(values.unique())
                if len(levels) < 2:
                    raise RxrankInputError(
                        f"survival covariate {col!r} has a single level ({levels[0]!r}) in the "
                        f"{len(values)} patients analysed; it cannot be estimated. Drop it from "
                        "`cohort.covariates` / `survival.features`."
                    )
                ref = str(self.references.get(col, levels[0]))
                if ref not in levels:
                    raise RxrankInputError(
                        f"reference level {ref!r} of covariate {col!r} is not among its levels "
                        f"{levels}."
                    )
                self.levels_[col] = levels
                self.reference_[col] = ref
            else:
                values = pd.to_numeric(frame[col]).astype(float)
                sd = float(values.std(ddof=0))
                if not sd > 0:
                    raise RxrankInputError(
                        f"survival covariate {col!r} takes a single value ({values.iloc[0]!r}) in "
                        f"the {len(values)} patients analysed; it cannot be estimated. Drop it from "
                        "`cohort.covariates` / `survival.features`."
                    )
                self.means_[col] = float(values.mean())
                self.sds_[col] = sd
        self.columns_ = [
            name
            for col in self.columns_in_
            for name in (
                [f"{col}={lv}" for lv in self.levels_[col] if lv != self.reference_[col]]
                if col in self.levels_
                else [col]
            )
        ]
        _check_collinear(self.transform(clinical, features))
        return self

    def _complete(self, frame: pd.DataFrame) -> pd.DataFrame:
        incomplete = frame.isna().any(axis=1)
        if incomplete.any():
            log.warning(
                "%d patient(s) with missing covariate values are left out, e.g. %s",
                int(incomplete.sum()),
                list(frame.index[incomplete][:3]),
            )
            frame = frame.loc[~incomplete]
        if frame.empty:
            raise RxrankInputError(
                "no patient has every survival covariate and feature; check that patient IDs of "
                "the clinical table and the features match."
            )
        return frame

    def transform(
        self, clinical: pd.DataFrame, features: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Encode patients with learned levels and scaling (rows with missing values dropped)."""
        if not hasattr(self, "levels_"):
            raise RuntimeError("Design.transform called before fit")
        feats = None
        if features is not None:
            feats = features[[c for c in self.columns_in_ if c in features.columns]]
        frame = self._complete(self._joined(clinical, feats, self.covariates))
        parts: list[pd.Series] = []
        for col in self.columns_in_:
            if col not in frame.columns:
                raise RxrankInputError(
                    f"column {col!r} used to fit the survival design is missing."
                )
            if col in self.levels_:
                values = frame[col].astype(str)
                unseen = sorted(set(values) - set(self.levels_[col]))
                if unseen:
                    raise RxrankInputError(
                        f"covariate {col!r} has level(s) {unseen} not seen when the survival model "
                        f"was fitted (levels {self.levels_[col]})."
                    )
                for level in self.levels_[col]:
                    if level != self.reference_[col]:
                        parts.append((values == level).astype(float).rename(f"{col}={level}"))
            else:
                values = pd.to_numeric(frame[col]).astype(float)
                parts.append(((values - self.means_[col]) / self.sds_[col]).rename(col))
        out = pd.concat(parts, axis=1)
        out.index.name = "patient_id"
        return out

    def fit_transform(
        self, clinical: pd.DataFrame, features: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Fit on the cohort and return its encoded design matrix."""
        return self.fit(clinical, features).transform(clinical, features)

    def to_dict(self) -> dict:
        """JSON-ready record of the learned encoding (for provenance)."""
        return {
            "levels": self.levels_,
            "reference": self.reference_,
            "means": self.means_,
            "sds": self.sds_,
        }


def design_matrix(
    clinical: pd.DataFrame,
    features: pd.DataFrame | None,
    *,
    covariates: list[str],
    categorical: list[str] | None = None,
) -> pd.DataFrame:
    """Numeric Cox design of the cohort: one-hot categoricals (first sorted level dropped), z-scored
    numerics. Non-numeric columns are categorical; :class:`Design` keeps the transform for reuse."""
    return Design(covariates=covariates, categorical=categorical).fit_transform(clinical, features)


# ------------------------------------------------------------
# Cox model


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
        (h_mean,), (h_sd,) = _mean_sd(harrell_best[None, :])
        (u_mean,), (u_sd,) = _mean_sd(uno_best[None, :])
        self.cv_cindex_mean_, self.cv_cindex_sd_ = float(h_mean), float(h_sd)
        self.cv_uno_mean_, self.cv_uno_sd_ = float(u_mean), float(u_sd)
        self.cv_fold_cindex_ = harrell_best.tolist()
        self.model_ = self._fit_final(df)
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
        return harrell, uno_cindex(tr[_DURATION], tr[_EVENT], te[_DURATION], te[_EVENT], risk)

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

    def _summarise(self, df: pd.DataFrame) -> None:
        s = self.model_.summary
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
        """Per-covariate coef, hr (95% CI), p and proportional-hazards test p."""
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


def bootstrap_prognosis(
    model: CoxModel,
    X: pd.DataFrame,
    duration,
    event,
    *,
    times: Sequence[float] = (12, 36, 60),
    n_boot: int = 100,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Percentile bootstrap intervals of each patient's median survival and S(t).

    Patients are resampled with replacement, the Cox model is refitted at the chosen penalty
    (design and penalty held fixed) and every patient's curve recomputed; the interval is the
    (1 - level)/2 and (1 + level)/2 quantiles over resamples. A median not reached within a
    resample's follow-up counts as +infinity, so an upper limit 'not reached' is reported as NaN."""
    Xc = model._check(X)
    df = CoxModel._frame(Xc, duration, event)
    rng = np.random.default_rng(seed)
    times = [float(t) for t in times]
    surv_draws, med_draws = [], []
    for _ in range(int(n_boot)):
        take = rng.integers(0, len(df), len(df))
        sample = df.iloc[take]
        if sample[_EVENT].sum() < 2:
            continue
        try:
            cph = CoxModel._fit_one(
                sample.reset_index(drop=True), model.penalizer_, l1_ratio=model.l1_ratio_
            )
        except (ConvergenceError, ValueError, np.linalg.LinAlgError):
            continue
        surv_draws.append(_survival_at(cph, Xc, times))
        med = _median_of(cph, Xc)
        med_draws.append(np.where(np.isnan(med), np.inf, med))
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    out = pd.DataFrame(index=X.index)
    if len(surv_draws) < max(10, n_boot // 2):
        log.warning("only %d of %d bootstrap fits succeeded; no intervals", len(surv_draws), n_boot)
        out["median_lower"] = out["median_upper"] = np.nan
        for t in times:
            out[f"{_time_label(t)}_lower"] = out[f"{_time_label(t)}_upper"] = np.nan
        return out
    meds = np.stack(med_draws)  # draws x patients
    lo = np.quantile(meds, lo_q, axis=0, method="lower")
    hi = np.quantile(meds, hi_q, axis=0, method="higher")
    out["median_lower"] = np.where(np.isfinite(lo), lo, np.nan)
    out["median_upper"] = np.where(np.isfinite(hi), hi, np.nan)
    surv = np.stack(surv_draws)  # draws x times x patients
    for k, t in enumerate(times):
        out[f"{_time_label(t)}_lower"] = np.quantile(surv[:, k, :], lo_q, axis=0)
        out[f"{_time_label(t)}_upper"] = np.quantile(surv[:, k, :], hi_q, axis=0)
    out.attrs["n_boot"] = len(surv_draws)
    return out


# ------------------------------------------------------------
# prognosis and Kaplan-Meier


def _time_label(t: float) -> str:
    return f"s_{float(t):g}"


def prognosis(
    model: CoxModel,
    X: pd.DataFrame,
    *,
    times: Sequence[float] = (12, 36, 60),
    groups: Sequence[str] = ("low", "intermediate", "high"),
) -> pd.DataFrame:
    """Per-patient risk score, risk group (equal-sized quantiles of the cohort), median, S(t)."""
    risk = model.predict_risk(X)
    ranks = risk.rank(method="first")
    group = pd.qcut(ranks, len(groups), labels=list(groups))
    out = pd.DataFrame(
        {
            "risk_score": risk,
            "risk_group": pd.Categorical(group, categories=list(groups), ordered=True),
            "median_survival": model.predict_median(X),
        },
        index=X.index,
    )
    surv = model.predict_survival(X, times)
    for t, row in zip(times, surv.to_numpy(), strict=True):
        out[_time_label(t)] = row
    out.index.name = "patient_id"
    return out


def patient_curves(
    model: CoxModel, X: pd.DataFrame, times: Sequence[float] | None = None
) -> pd.DataFrame:
    """Predicted S(t): a ``time`` column then one column per patient;
    without ``times``, 101 points from 0 to the longest training follow-up."""
    if times is None:
        t_max = float(model.model_.durations.max())
        times = np.unique(np.round(np.linspace(0.0, t_max, 101), 3))
    curves = model.predict_survival(X, times)
    curves.columns = [str(c) for c in curves.columns]
    return curves.reset_index()


def km_by_group(duration, event, groups) -> tuple[pd.DataFrame, float]:
    """Kaplan-Meier curves (95% CI) per group and the multivariate log-rank p-value."""
    frame = pd.DataFrame(
        {
            "duration": np.asarray(duration, dtype=float),
            "event": np.asarray(event, dtype=int),
            "group": np.asarray(groups, dtype=object),
        }
    )
    if isinstance(groups, pd.Series | pd.Categorical) and isinstance(
        getattr(groups, "dtype", None), pd.CategoricalDtype
    ):
        order = [g for g in groups.dtype.categories if (frame["group"] == g).any()]
    else:
        order = sorted(frame["group"].dropna().unique(), key=str)
    parts = []
    with _quiet_lifelines():
        for g in order:
            sub = frame[frame["group"] == g]
            kmf = KaplanMeierFitter().fit(sub["duration"], sub["event"], label=str(g))
            ci = kmf.confidence_interval_survival_function_
            parts.append(
                pd.DataFrame(
                    {
                        "group": str(g),
                        "time": kmf.survival_function_.index.to_numpy(dtype=float),
                        "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
                        "lower": ci.iloc[:, 0].to_numpy(),
                        "upper": ci.iloc[:, 1].to_numpy(),
                    }
                )
            )
        p = np.nan
        if len(order) > 1:
            p = float(
                multivariate_logrank_test(frame["duration"], frame["group"], frame["event"]).p_value
            )
    km = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["group", "time", "survival", "lower", "upper"])
    )
    return km, p


# ------------------------------------------------------------
# treatment x biomarker


def _adjust_columns(X: pd.DataFrame, adjust_for: Sequence[str]) -> list[str]:
    cols: list[str] = []
    for name in adjust_for:
        hits = [c for c in X.columns if c == name or c.startswith(f"{name}=")]
        if not hits:
            raise RxrankInputError(
                f"adjust_for covariate {name!r} is not in the survival design matrix "
                f"(columns {list(X.columns)[:12]}). Add it to `covariates` or remove it."
            )
        cols += [c for c in hits if c not in cols]
    return cols


def _empty_effects() -> pd.DataFrame:
    return pd.DataFrame(columns=TREATMENT_EFFECT_COLUMNS)


def treatment_effects(
    clinical: pd.DataFrame,
    X: pd.DataFrame,
    *,
    treatment_column: str | None,
    reference_arm: str,
    biomarkers: Mapping[str, pd.Series] | None,
    adjust_for: Sequence[str] = (),
    time_column: str = "os_months",
    event_column: str = "os_event",
    penalizer: float = 0.05,
    min_events: int = 10,
) -> pd.DataFrame:
    """Per-patient HR of each arm vs reference, log HR_i = b_trt + b_int * z_i (z = standardised
    biomarker), from a Cox model on the two arms; 95% CI by the delta method on the log scale."""
    if not treatment_column or treatment_column not in clinical.columns:
        log.info("no treatment column %r; no treatment effects estimated", treatment_column)
        return _empty_effects()
    for col in (time_column, event_column):
        if col not in clinical.columns:
            raise RxrankInputError(f"clinical table lacks survival column {col!r}.")
    biomarkers = dict(biomarkers or {})
    adjust = _adjust_columns(X, adjust_for)
    clin = clinical.copy()
    clin.index = clin.index.astype(str)
    arms_all = clin[treatment_column].dropna().astype(str)
    if reference_arm not in set(arms_all):
        raise RxrankInputError(
            f"reference arm {reference_arm!r} does not occur in clinical column "
            f"{treatment_column!r} (values {sorted(set(arms_all))}). Set `reference_arm`."
        )
    patients = X.index.astype(str)
    arms = arms_all.reindex(patients)
    rows = []
    for arm in sorted(set(arms_all) - {reference_arm}):
        rows.append(
            _one_arm(
                clin,
                X.set_axis(patients),
                arms,
                arm=arm,
                reference_arm=reference_arm,
                treatment_column=treatment_column,
                biomarker=biomarkers.get(arm),
                adjust=adjust,
                time_column=time_column,
                event_column=event_column,
                penalizer=penalizer,
                min_events=min_events,
            )
        )
    if not rows:
        return _empty_effects()
    return pd.concat(rows, ignore_index=True)[TREATMENT_EFFECT_COLUMNS]


def treatment_biomarker(
    clinical: pd.DataFrame, treatment_column: str | None, biomarkers: Mapping[str, pd.Series]
) -> pd.Series | None:
    """Each patient's standardised biomarker of the treatment they received (0 for arms without one).

    An outcome classifier given the treatment and this one column can learn "the biomarker matters
    for the drug actually given", which per-drug columns alone express only as an interaction."""
    if not treatment_column or treatment_column not in clinical.columns or not biomarkers:
        return None
    arms = clinical[treatment_column].astype(str)
    arms.index = arms.index.astype(str)
    out = pd.Series(0.0, index=arms.index, name="treatment_biomarker")
    for arm, series in biomarkers.items():
        bio = pd.to_numeric(pd.Series(series), errors="coerce")
        bio.index = bio.index.astype(str)
        sd = bio.std(ddof=0)
        if not sd > 0:
            continue
        on_arm = arms.index[(arms == arm).to_numpy()]
        out.loc[on_arm] = ((bio - bio.mean()) / sd).reindex(on_arm).fillna(0.0).to_numpy()
    return out


def _one_arm(
    clin: pd.DataFrame,
    X: pd.DataFrame,
    arms: pd.Series,
    *,
    arm: str,
    reference_arm: str,
    treatment_column: str,
    biomarker: pd.Series | None,
    adjust: list[str],
    time_column: str,
    event_column: str,
    penalizer: float,
    min_events: int,
) -> pd.DataFrame:
    """Fit one arm-vs-reference interaction model and return its per-patient rows."""
    # patients for whom an estimate is reported: everyone in X with a biomarker value (or everyone)
    if biomarker is not None:
        bio = pd.to_numeric(pd.Series(biomarker), errors="coerce")
        bio.index = bio.index.astype(str)
        bio = bio.reindex(X.index)
    else:
        bio = pd.Series(np.nan, index=X.index)
    has_bio = biomarker is not None
    report = X.index[bio.notna()] if has_bio else X.index
    in_fit = arms.isin([arm, reference_arm]) & (bio.notna() if has_bio else True)
    fit_ids = X.index[in_fit.to_numpy()]
    df = X.loc[fit_ids, adjust].astype(float).copy()
    df["treatment"] = (arms.loc[fit_ids] == arm).astype(float)
    mean = sd = np.nan
    if has_bio:
        mean = float(bio.loc[fit_ids].mean())
        sd = float(bio.loc[fit_ids].std(ddof=0))
        if not sd > 0:
            has_bio = False
            log.warning("biomarker for %s is constant in the fitted patients; ignored", arm)
        else:
            df["biomarker"] = (bio.loc[fit_ids] - mean) / sd
            df["treatment:biomarker"] = df["treatment"] * df["biomarker"]
            # the arm's own biomarker may also be an adjustment feature: keep it once
            same = [c for c in adjust if c in df and abs(df[c].corr(df["biomarker"])) > 0.999]
            if same:
                log.debug("%s: %s is the biomarker itself; not adjusted for twice", arm, same)
                df = df.drop(columns=same)
                adjust = [c for c in adjust if c not in same]
    constant = [c for c in adjust if c in df and df[c].nunique() < 2]
    if constant:
        log.debug("dropping covariates constant in %s vs %s: %s", arm, reference_arm, constant)
        df = df.drop(columns=constant)
    df[_DURATION] = clin.loc[fit_ids, time_column].astype(float).to_numpy()
    df[_EVENT] = clin.loc[fit_ids, event_column].astype(int).to_numpy()
    n, n_events = len(df), int(df[_EVENT].sum())
    n_arm = int(df["treatment"].sum())
    adjusted = ", ".join(adjust) if adjust else "nothing"
    note = (
        f"Observational comparison of {arm} vs {reference_arm} ({n} patients, {n_arm} on {arm}, "
        f"{n_events} events), adjusted for {adjusted}; treatment is not known to be randomised, "
        "so the estimate may be confounded by why patients received it."
    )
    out = pd.DataFrame(
        {
            "patient_id": list(report),
            "treatment": arm,
            "reference": reference_arm,
            "biomarker": bio.loc[report].to_numpy(dtype=float),
        }
    )
    if n_events < min_events or n_arm < 3 or n - n_arm < 3:
        log.warning("too few patients or events to estimate %s vs %s", arm, reference_arm)
        return out.assign(
            hr=np.nan,
            hr_lower=np.nan,
            hr_upper=np.nan,
            p_interaction=np.nan,
            p_treatment=np.nan,
            note=note + f" Not estimated: fewer than {min_events} events or 3 patients per arm.",
        )
    try:
        cph = CoxModel._fit_one(df, penalizer, logging.WARNING)
    except (ConvergenceError, ValueError, np.linalg.LinAlgError) as err:
        log.warning("treatment model %s vs %s failed: %s", arm, reference_arm, err)
        return out.assign(
            hr=np.nan,
            hr_lower=np.nan,
            hr_upper=np.nan,
            p_interaction=np.nan,
            p_treatment=np.nan,
            note=note + " Not estimated: the model did not converge.",
        )
    b = cph.params_
    V = cph.variance_matrix_
    if has_bio:
        z = ((bio.loc[report] - mean) / sd).to_numpy(dtype=float)
        log_hr = b["treatment"] + b["treatment:biomarker"] * z
        var = (
            V.loc["treatment", "treatment"]
            + z**2 * V.loc["treatment:biomarker", "treatment:biomarker"]
            + 2 * z * V.loc["treatment", "treatment:biomarker"]
        )
        p_int = float(cph.summary.loc["treatment:biomarker", "p"])
    else:
        log_hr = np.full(len(report), b["treatment"])
        var = np.full(len(report), V.loc["treatment", "treatment"])
        p_int = np.nan
        note += " No biomarker: one HR for all patients."
    se = np.sqrt(np.clip(np.asarray(var, dtype=float), 0, None))
    return out.assign(
        hr=np.exp(log_hr),
        hr_lower=np.exp(log_hr - _Z * se),
        hr_upper=np.exp(log_hr + _Z * se),
        p_interaction=p_int,
        p_treatment=float(cph.summary.loc["treatment", "p"]),
        note=note,
    )


# ------------------------------------------------------------
# longitudinal (time-varying) covariates

LONGITUDINAL_COLUMNS = ["covariate", "coef", "hr", "hr_lower", "hr_upper", "p"]


def time_varying_cox(
    long: pd.DataFrame,
    *,
    covariates: Sequence[str],
    id_column: str = "patient_id",
    start_column: str = "start",
    stop_column: str = "stop",
    event_column: str | None = "event",
    events: pd.Series | None = None,
    penalizer: float = 0.0,
    source: str = "longitudinal table",
) -> tuple[pd.DataFrame, dict]:
    """Cox model with time-varying covariates (lifelines ``CoxTimeVaryingFitter``) on a long table
    of (patient, start, stop, covariates...) intervals. Without an ``event_column`` the event of
    each patient (``events``: 0/1 by patient, e.g. the clinical table's) is put on their last
    interval. Coefficients are per unit of each numeric covariate; categoricals as ``name=level``
    against the first sorted level. Returns the summary and a metrics record."""
    from lifelines import CoxTimeVaryingFitter

    need = [id_column, start_column, stop_column, *covariates]
    if event_column and event_column in long.columns:
        need.append(event_column)
    missing = [c for c in need if c not in long.columns]
    if missing:
        raise RxrankInputError(
            f"{source} lacks column(s) {missing} (it has {list(long.columns)[:12]}); fix "
            "`survival.longitudinal` in the config."
        )
    df = long[need].copy()
    df[id_column] = df[id_column].astype(str)
    start = pd.to_numeric(df[start_column], errors="coerce")
    stop = pd.to_numeric(df[stop_column], errors="coerce")
    bad = start.isna() | stop.isna() | (start < 0) | (stop <= start)
    if bad.any():
        rows = [
            f"{df.at[i, id_column]} [{long.at[i, start_column]}, {long.at[i, stop_column]}]"
            for i in bad[bad].index[:10]
        ]
        raise RxrankInputError(
            f"{source}: {int(bad.sum())} interval(s) are missing or do not satisfy "
            f"0 <= {start_column} < {stop_column}: {rows}. Correct or remove these rows."
        )
    df[start_column], df[stop_column] = start.astype(float), stop.astype(float)
    df = df.sort_values([id_column, start_column], kind="stable")
    prev_stop = df.groupby(id_column)[stop_column].shift()
    overlap = prev_stop.notna() & (df[start_column] < prev_stop)
    if overlap.any():
        ids = sorted(set(df.loc[overlap, id_column]))[:10]
        raise RxrankInputError(
            f"{source}: overlapping intervals for patient(s) {ids}; each row must start at or "
            "after the previous row's stop. Merge or correct them."
        )
    if not (event_column and event_column in long.columns):
        if events is None:
            raise RxrankInputError(
                f"{source} has no event column {event_column!r} and no clinical events were "
                "given; add the column (1 on the interval that ends with the event)."
            )
        ev = pd.Series(events)
        ev.index = ev.index.astype(str)
        last = ~df[id_column].duplicated(keep="last")
        df["__event"] = 0
        df.loc[last, "__event"] = df.loc[last, id_column].map(ev).fillna(0).astype(int)
        event_column = "__event"
    df[event_column] = pd.to_numeric(df[event_column], errors="coerce")
    if not df[event_column].isin([0, 1]).all():
        raise RxrankInputError(f"{source}: column {event_column!r} must be 0 or 1.")
    X = []
    for col in covariates:
        values = df[col]
        as_number = pd.to_numeric(values, errors="coerce")
        if not pd.api.types.is_numeric_dtype(values) and as_number.notna().eq(values.notna()).all():
            values = as_number  # tables are read as text first
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            if values.nunique() < 2:
                raise RxrankInputError(
                    f"{source}: covariate {col!r} is constant; drop it from "
                    "`survival.longitudinal.covariates`."
                )
            X.append(values.astype(float).rename(col))
        else:
            levels = sorted(values.astype(str).unique())
            if len(levels) < 2:
                raise RxrankInputError(f"{source}: covariate {col!r} has one level; drop it.")
            X += [
                (values.astype(str) == lv).astype(float).rename(f"{col}={lv}") for lv in levels[1:]
            ]
    design = pd.concat(X, axis=1) if X else pd.DataFrame(index=df.index)
    if design.shape[1] > 1:
        _check_collinear(design)
    frame = pd.concat(
        [df[[id_column, start_column, stop_column, event_column]], design.dropna(axis=0)], axis=1
    ).dropna()
    try:
        with _quiet_lifelines(logging.WARNING):
            ctv = CoxTimeVaryingFitter(penalizer=penalizer).fit(
                frame,
                id_col=id_column,
                event_col=event_column,
                start_col=start_column,
                stop_col=stop_column,
            )
    except (ConvergenceError, np.linalg.LinAlgError, ValueError) as err:
        raise RxrankInputError(
            f"the time-varying Cox model did not converge with penalizer {penalizer:g} "
            f"({str(err).splitlines()[0][:200]}); set `survival.longitudinal.penalizer` to "
            f"{max(penalizer * 10, 0.1):g}."
        ) from None
    sm = ctv.summary
    summary = pd.DataFrame(
        {
            "covariate": list(sm.index),
            "coef": sm["coef"].to_numpy(),
            "hr": sm["exp(coef)"].to_numpy(),
            "hr_lower": sm["exp(coef) lower 95%"].to_numpy(),
            "hr_upper": sm["exp(coef) upper 95%"].to_numpy(),
            "p": sm["p"].to_numpy(),
        }
    )[LONGITUDINAL_COLUMNS]
    metrics = {
        "available": True,
        "n_patients": int(frame[id_column].nunique()),
        "n_intervals": len(frame),
        "events": int(frame[event_column].sum()),
        "covariates": list(design.columns),
        "penalizer": float(penalizer),
        "note": "Cox model with time-varying covariates (lifelines CoxTimeVaryingFitter); hazard "
        "ratios per unit of each numeric covariate, observational.",
    }
    return summary, metrics


# ------------------------------------------------------------
# stage entry point


def run_survival(
    clinical: pd.DataFrame,
    features: pd.DataFrame | None,
    *,
    params: Mapping,
    outcome_features: pd.DataFrame | None = None,
    longitudinal: pd.DataFrame | None = None,
    source: str = "clinical table",
) -> dict[str, pd.DataFrame | dict]:
    """Fit the cohort Cox model and build every survival output, keyed by file name.

    ``outcome_features`` (default: ``features``) are the molecular features offered to the
    outcome classifiers of :mod:`rxrank.outcome` beside the clinical covariates."""
    from rxrank.outcome import run_outcome

    time_col = params.get("time_column", "os_months")
    event_col = params.get("event_column", "os_event")
    covariates = list(params.get("covariates") or [])
    feature_cols = params.get("features")
    times = [float(t) for t in params.get("times", (12, 36, 60))]
    check_survival_data(clinical, time_column=time_col, event_column=event_col, source=source)
    feats = None
    if features is not None:
        feats = features.copy()
        feats.index = feats.index.astype(str)
        if feature_cols is not None:
            missing = [c for c in feature_cols if c not in feats.columns]
            if missing:
                raise RxrankInputError(
                    f"survival feature(s) {missing} not found (available "
                    f"{list(feats.columns)[:12]}). Fix `features` in the config."
                )
            feats = feats[list(feature_cols)]
    if not covariates and (feats is None or feats.shape[1] == 0):
        raise RxrankInputError("the survival model has no covariates and no features to use.")

    design = Design(covariates=covariates, categorical=params.get("categorical"))
    X = design.fit_transform(clinical, feats)
    clin = clinical.copy()
    clin.index = clin.index.astype(str)
    duration = clin.loc[X.index, time_col].astype(float)
    event = clin.loc[X.index, event_col].astype(int)

    seed = int(params.get("seed", 0))
    model = CoxModel(
        penalizers=params.get("penalizers") or DEFAULT_PENALIZERS,
        l1_ratios=params.get("l1_ratios") or (0.0,),
        cv_folds=int(params.get("cv_folds", 5)),
        seed=seed,
        uno_censoring=float(params.get("uno_censoring", 0.5)),
    ).fit(X, duration, event)
    patients = prognosis(model, X, times=times)
    n_boot = int(params.get("n_bootstrap", 100))
    level = float(params.get("interval_level", 0.95))
    if n_boot > 0:
        intervals = bootstrap_prognosis(
            model, X, duration, event, times=times, n_boot=n_boot, level=level, seed=seed
        )
        patients = patients.join(intervals)
    km, logrank_p = km_by_group(duration, event, patients["risk_group"])

    biomarker_cols = dict(params.get("biomarkers") or {})
    biomarkers = {}
    for arm, col in biomarker_cols.items():
        if features is None or col not in features.columns:
            raise RxrankInputError(
                f"biomarker column {col!r} for treatment {arm!r} is not among the features."
            )
        series = features[col].copy()
        series.index = series.index.astype(str)
        biomarkers[arm] = series
    effects = treatment_effects(
        clin,
        X,
        treatment_column=params.get("treatment_column"),
        reference_arm=params.get("reference_arm", "standard_of_care"),
        biomarkers=biomarkers,
        adjust_for=list(params.get("adjust_for") or []),
        time_column=time_col,
        event_column=event_col,
    )
    outcome_feats = features if outcome_features is None else outcome_features
    outcome_cols = list(
        dict.fromkeys([*(feats.columns if feats is not None else []), *biomarker_cols.values()])
    )
    received = treatment_biomarker(clin, params.get("treatment_column"), biomarkers)
    if received is not None and outcome_feats is not None:
        outcome_feats = outcome_feats.join(received)
        outcome_cols.append(received.name)
    outcome = run_outcome(
        clin,
        outcome_feats,
        params=dict(params.get("outcome") or {}),
        covariates=covariates + [c for c in [params.get("treatment_column")] if c in clin],
        feature_columns=outcome_cols,
        seed=seed,
    )
    long_params = dict(params.get("longitudinal") or {})
    if longitudinal is not None:
        long_summary, long_metrics = time_varying_cox(
            longitudinal,
            covariates=list(long_params.get("covariates") or []),
            id_column=long_params.get("id_column", "patient_id"),
            start_column=long_params.get("start_column", "start"),
            stop_column=long_params.get("stop_column", "stop"),
            event_column=long_params.get("event_column", "event"),
            events=clin[event_col],
            penalizer=float(long_params.get("penalizer", 0.0)),
            source=long_params.get("source", "longitudinal table"),
        )
    else:
        long_summary = pd.DataFrame(columns=LONGITUDINAL_COLUMNS)
        long_metrics = {
            "available": False,
            "note": "No longitudinal covariates: `survival.longitudinal.table` is not set.",
        }
    metrics = {
        "n": len(X),
        "events": int(event.sum()),
        "censored_fraction": model.censored_fraction_,
        "covariates": list(X.columns),
        "penalizer": model.penalizer_,
        "l1_ratio": model.l1_ratio_,
        "selection_metric": model.selection_metric_,
        "cv_method": model.cv_method_,
        "cv_cindex_mean": _finite_or_none(model.cv_cindex_mean_),
        "cv_cindex_sd": _finite_or_none(model.cv_cindex_sd_),
        "cv_uno_cindex_mean": _finite_or_none(model.cv_uno_mean_),
        "cv_uno_cindex_sd": _finite_or_none(model.cv_uno_sd_),
        "cv_fold_cindex": [_finite_or_none(v) for v in model.cv_fold_cindex_],
        "cv_folds": int(model.cv_folds),
        "cv_table": [
            {k: _finite_or_none(v) for k, v in row.items()}
            for row in model.cv_table_.to_dict("records")
        ],
        "ph_test": "lifelines proportional_hazard_test, rank-transformed time, per covariate",
        "ph_alpha": model.ph_alpha,
        "ph_violations": list(model.ph_violations_),
        "logrank_p": _finite_or_none(logrank_p),
        "time_unit": params.get("time_unit", "months"),
        "times": times,
        "intervals": {
            "method": "percentile bootstrap over patients (Cox refitted at the chosen penalty)"
            if n_boot > 0
            else "none (n_bootstrap: 0)",
            "level": level,
            "n_bootstrap": int(intervals.attrs.get("n_boot", 0)) if n_boot > 0 else 0,
        },
        "design": design.to_dict(),
        "caveat": CAVEAT,
        "outcome": outcome.pop("metrics"),
        "longitudinal": long_metrics,
    }
    return {
        "cox_summary.tsv": model.summary.copy(),
        "patients.tsv": patients.assign(
            risk_group=patients["risk_group"].astype(str)
        ).reset_index(),
        "km.tsv": km,
        "patient_curves.tsv": patient_curves(model, X),
        "treatment_effects.tsv": effects,
        "longitudinal.tsv": long_summary,
        "metrics.json": metrics,
        **outcome,
    }
