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
    "TREATMENT_EFFECT_COLUMNS",
    "design_matrix",
    "km_by_group",
    "patient_curves",
    "prognosis",
    "run_survival",
    "treatment_effects",
]

log = logging.getLogger(__name__)

DEFAULT_PENALIZERS = (0.01, 0.1, 0.5, 1.0)
TREATMENT_EFFECT_COLUMNS = [
    "patient_id",
    "treatment",
    "reference",
    "biomarker",
    "hr",
    "hr_lower",
    "hr_upper",
    "p_interaction",
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
                        "`covariates`."
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
                        f"the {len(values)} patients analysed; it cannot be estimated. Drop it."
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
    """L2-penalised Cox model whose penalty is chosen by K-fold cross-validated C-index."""

    def __init__(
        self,
        *,
        penalizers: Sequence[float] = DEFAULT_PENALIZERS,
        cv_folds: int = 5,
        seed: int = 0,
        ph_alpha: float = 0.05,
    ) -> None:
        self.penalizers = penalizers
        self.cv_folds = cv_folds
        self.seed = seed
        self.ph_alpha = ph_alpha

    @staticmethod
    def _frame(X: pd.DataFrame, duration, event) -> pd.DataFrame:
        df = X.astype(float).copy()
        df[_DURATION] = np.asarray(duration, dtype=float)
        df[_EVENT] = np.asarray(event, dtype=int)
        return df

    @staticmethod
    def _fit_one(df: pd.DataFrame, penalizer: float, level: int = logging.DEBUG) -> CoxPHFitter:
        with _quiet_lifelines(level):
            return CoxPHFitter(penalizer=penalizer).fit(df, _DURATION, _EVENT)

    def _folds(self, event: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        k = int(self.cv_folds)
        n_min = int(min(event.sum(), len(event) - event.sum()))
        if n_min >= k:
            splitter = StratifiedKFold(k, shuffle=True, random_state=self.seed)
            return list(splitter.split(np.zeros(len(event)), event))
        return list(KFold(k, shuffle=True, random_state=self.seed).split(event))

    def fit(self, X: pd.DataFrame, duration, event) -> CoxModel:
        """Choose the penalty by CV C-index, refit on all patients, summarise and test PH."""
        penalizers = [float(p) for p in self.penalizers]
        if not penalizers or any(p < 0 for p in penalizers):
            raise RxrankInputError(f"`penalizers` must be non-negative numbers, got {penalizers}.")
        if self.cv_folds < 2:
            raise RxrankInputError(f"`cv_folds` must be at least 2, got {self.cv_folds}.")
        df = self._frame(X, duration, event)
        if len(df) < 2 * self.cv_folds or df[_EVENT].sum() < 2:
            raise RxrankInputError(
                f"{len(df)} patients with {int(df[_EVENT].sum())} events are too few for a "
                f"{self.cv_folds}-fold cross-validated Cox model."
            )
        self.columns_ = list(X.columns)
        folds = self._folds(df[_EVENT].to_numpy())
        scores = np.full((len(penalizers), len(folds)), np.nan)
        for i, pen in enumerate(penalizers):
            for j, (train, test) in enumerate(folds):
                try:
                    cph = self._fit_one(df.iloc[train], pen)
                except (ConvergenceError, ValueError, np.linalg.LinAlgError) as err:
                    log.debug("CV fit failed (penalizer %g, fold %d): %s", pen, j, err)
                    continue
                te = df.iloc[test]
                if te[_EVENT].sum() == 0:
                    continue
                risk = cph.predict_log_partial_hazard(te[self.columns_]).to_numpy()
                scores[i, j] = concordance_index(te[_DURATION], -risk, te[_EVENT])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            means = np.nanmean(scores, axis=1)
            sds = np.nanstd(scores, axis=1, ddof=1)
        self.cv_table_ = pd.DataFrame(
            {"penalizer": penalizers, "cv_cindex_mean": means, "cv_cindex_sd": sds}
        )
        if np.isnan(means).all():
            best = int(np.argmax(penalizers))
            log.warning("every CV fit failed; using the largest penalizer %g", penalizers[best])
        else:
            best = int(np.nanargmax(means))
        self.penalizer_ = penalizers[best]
        self.cv_cindex_mean_ = float(means[best])
        self.cv_cindex_sd_ = float(sds[best])
        self.model_ = self._fit_one(df, self.penalizer_, logging.WARNING)
        self._summarise(df)
        log.info(
            "Cox model: %d patients, %d events, penalizer %g, CV C-index %.3f +/- %.3f",
            len(df),
            int(df[_EVENT].sum()),
            self.penalizer_,
            self.cv_cindex_mean_,
            self.cv_cindex_sd_,
        )
        return self

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
        base = self.model_.baseline_cumulative_hazard_
        return base.index.to_numpy(dtype=float), base.iloc[:, 0].to_numpy(dtype=float)

    def predict_survival(self, X: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
        """S(t) as a step function (Breslow baseline): rows = times, columns = patients."""
        t0, h0 = self._baseline()
        times = np.asarray(times, dtype=float)
        idx = np.searchsorted(t0, times, side="right") - 1
        cum = np.where(idx >= 0, h0[np.clip(idx, 0, None)], 0.0)
        hazard = np.exp(self.predict_risk(X).to_numpy())
        surv = np.exp(-np.outer(cum, hazard))
        return pd.DataFrame(surv, index=pd.Index(times, name="time"), columns=X.index)

    def predict_median(self, X: pd.DataFrame) -> pd.Series:
        """Predicted median survival time; NaN where S(t) stays above 0.5 within follow-up."""
        t0, h0 = self._baseline()
        hazard = np.exp(self.predict_risk(X).to_numpy())
        below = np.exp(-np.outer(h0, hazard)) <= 0.5  # times x patients
        reached = below.any(axis=0)
        first = np.argmax(below, axis=0)
        median = np.where(reached, t0[first], np.nan)
        return pd.Series(median, index=X.index, name="median_survival")


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
    constant = [c for c in adjust if df[c].nunique() < 2]
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
        note=note,
    )


# ------------------------------------------------------------
# stage entry point


def run_survival(
    clinical: pd.DataFrame, features: pd.DataFrame | None, *, params: Mapping
) -> dict[str, pd.DataFrame | dict]:
    """Fit the cohort Cox model and build every survival output, keyed by file name."""
    time_col = params.get("time_column", "os_months")
    event_col = params.get("event_column", "os_event")
    covariates = list(params.get("covariates") or [])
    feature_cols = params.get("features")
    times = [float(t) for t in params.get("times", (12, 36, 60))]
    for col in (time_col, event_col):
        if col not in clinical.columns:
            raise RxrankInputError(
                f"clinical table lacks survival column {col!r}; set `time_column`/`event_column`."
            )
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

    model = CoxModel(
        penalizers=params.get("penalizers") or DEFAULT_PENALIZERS,
        cv_folds=int(params.get("cv_folds", 5)),
        seed=int(params.get("seed", 0)),
    ).fit(X, duration, event)
    patients = prognosis(model, X, times=times)
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
    metrics = {
        "n": len(X),
        "events": int(event.sum()),
        "covariates": list(X.columns),
        "penalizer": model.penalizer_,
        "cv_cindex_mean": _finite_or_none(model.cv_cindex_mean_),
        "cv_cindex_sd": _finite_or_none(model.cv_cindex_sd_),
        "cv_folds": int(model.cv_folds),
        "cv_table": [
            {k: _finite_or_none(v) for k, v in row.items()}
            for row in model.cv_table_.to_dict("records")
        ],
        "ph_violations": list(model.ph_violations_),
        "logrank_p": _finite_or_none(logrank_p),
        "time_unit": params.get("time_unit", "months"),
        "times": times,
        "design": design.to_dict(),
        "caveat": CAVEAT,
    }
    return {
        "cox_summary.tsv": model.summary.copy(),
        "patients.tsv": patients.assign(
            risk_group=patients["risk_group"].astype(str)
        ).reset_index(),
        "km.tsv": km,
        "patient_curves.tsv": patient_curves(model, X),
        "treatment_effects.tsv": effects,
        "metrics.json": metrics,
    }
