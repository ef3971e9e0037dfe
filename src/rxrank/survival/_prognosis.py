"""Prognosis from a fitted :class:`CoxModel`: risk groups, median survival, S(t), bootstrap
intervals, predicted curves and Kaplan-Meier curves by group."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import multivariate_logrank_test

from ._cox import _EVENT, CoxModel, _median_of, _quiet_lifelines, _survival_at
from ._intervals import _time_label, survival_curves, survival_intervals

log = logging.getLogger(__name__)


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

    Patients are resampled with replacement, the inference fit is redone at its penalty
    (``inference_penalizer``: 0 unless that did not converge; design held fixed) and every
    patient's curve recomputed; the interval is the
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
            cph = CoxModel._fit_one(sample.reset_index(drop=True), model.inference_penalizer_)
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


#: medians and S(t) are estimable up to the last time with at least this many patients at risk
MIN_AT_RISK = 10


def estimable_until(durations, min_at_risk: int = MIN_AT_RISK) -> float:
    """The last time at which at least ``min_at_risk`` patients were still followed (at risk):
    beyond it a Cox curve extrapolates from a handful of patients (0 with fewer patients)."""
    d = np.sort(np.asarray(durations, dtype=float))[::-1]
    return float(d[min_at_risk - 1]) if len(d) >= min_at_risk else 0.0


def mask_beyond(patients: pd.DataFrame, horizon: float, times: Sequence[float]) -> pd.DataFrame:
    """Medians (and their limits) beyond ``horizon`` and S(t) at times beyond it set to NaN, with
    the horizon in ``estimable_until``: a report says 'longer than <horizon>' or 'not estimable'
    instead of a number extrapolated from a few patients."""
    out = patients.copy()
    for col in ("median_survival", "median_lower", "median_upper"):
        if col in out:
            out[col] = out[col].where(out[col] <= horizon)
    for t in times:
        if float(t) > horizon:
            for col in (_time_label(t), f"{_time_label(t)}_lower", f"{_time_label(t)}_upper"):
                if col in out:
                    out[col] = np.nan
    out["estimable_until"] = horizon
    return out


def prognosis(
    model: CoxModel,
    X: pd.DataFrame,
    *,
    times: Sequence[float] = (12, 36, 60),
    groups: Sequence[str] = ("low", "intermediate", "high"),
    level: float | None = 0.95,
) -> pd.DataFrame:
    """Per-patient risk score and risk group (equal-sized quantiles of the cohort) from the
    C-optimised model; median and S(t), with ``level`` intervals (None: none), from the inference
    fit, so every estimate lies inside its own interval (:mod:`._intervals`)."""
    risk = model.predict_risk(X)
    ranks = risk.rank(method="first")
    group = pd.qcut(ranks, len(groups), labels=list(groups))
    out = pd.DataFrame(
        {
            "risk_score": risk,
            "risk_group": pd.Categorical(group, categories=list(groups), ordered=True),
        },
        index=X.index,
    )
    estimates = survival_intervals(model, X, times=times, level=level or 0.95)
    labels = [_time_label(t) for t in times]
    order = ["median_survival", *labels]  # the points, then their intervals (bootstrap's order)
    if level is not None:
        order += ["median_lower", "median_upper"]
        order += [f"{label}_{side}" for label in labels for side in ("lower", "upper")]
    out = out.join(estimates[order])
    out.index.name = "patient_id"
    return out


def patient_curves(
    model: CoxModel, X: pd.DataFrame, times: Sequence[float] | None = None
) -> pd.DataFrame:
    """S(t) of the inference fit (as the medians and S(t) of :func:`prognosis`): a ``time``
    column then one column per patient; without ``times``, 101 points from 0 to the longest
    training follow-up."""
    if times is None:
        t_max = float(model.model_.durations.max())
        times = np.unique(np.round(np.linspace(0.0, t_max, 101), 3))
    curves = pd.DataFrame(
        survival_curves(model, X, times),
        index=pd.Index(np.asarray(times, float), name="time"),
        columns=[str(c) for c in X.index],
    )
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
