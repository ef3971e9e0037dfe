"""Survival stage entry point: :func:`run_survival` builds every file of ``results/survival/``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import pandas as pd

from rxrank.io import RxrankInputError

from ._checks import check_survival_data
from ._cox import DEFAULT_PENALIZERS, CoxModel
from ._design import Design
from ._longitudinal import LONGITUDINAL_COLUMNS, time_varying_cox
from ._prognosis import bootstrap_prognosis, km_by_group, patient_curves, prognosis
from ._treatment import treatment_effects

log = logging.getLogger(__name__)

CAVEAT = (
    "Research use only. Hazard ratios of numeric covariates are per cohort standard deviation; "
    "the CV C-index is measured at the penalty it selected and is slightly optimistic; predicted "
    "survival curves assume proportional hazards and are flat after the last observed time. "
    "Treatment effects are observational (treatments were not randomised as far as rxrank knows) "
    "and may be confounded by why patients received each treatment."
)


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def run_survival(
    clinical: pd.DataFrame,
    features: pd.DataFrame | None,
    *,
    params: Mapping,
    longitudinal: pd.DataFrame | None = None,
    source: str = "clinical table",
) -> dict[str, pd.DataFrame | dict]:
    """Fit the cohort Cox model and build every survival output, keyed by file name.

    The binary-outcome classifiers are a stage of their own (:mod:`rxrank.outcome`)."""
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
    }
