"""Survival stage entry point: :func:`run_survival` builds every file of ``results/survival/``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import pandas as pd

from rxrank.config import CohortParams, SurvivalParams, survival_settings
from rxrank.io import RxrankInputError

from ._checks import check_survival_data
from ._cox import CoxModel
from ._design import Design
from ._longitudinal import LONGITUDINAL_COLUMNS, time_varying_cox
from ._prognosis import (
    MIN_AT_RISK,
    bootstrap_prognosis,
    estimable_until,
    km_by_group,
    mask_beyond,
    patient_curves,
    prognosis,
)
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


def stage_settings(
    clinical: pd.DataFrame,
    features: pd.DataFrame,
    params: SurvivalParams | Mapping | None,
    cohort: CohortParams | Mapping | None,
) -> tuple[SurvivalParams, CohortParams]:
    """The survival and cohort settings completed from the data, as the survival and outcome
    stages run them: no features named -> every module eigengene (the ``features`` columns that
    are not ``sensitivity:<drug>``); a treatment column absent from ``clinical`` -> no treatment
    effects; treatment effects adjusted for the covariates and the prognostic features unless
    ``adjust_for`` says otherwise (prognostic variation left out of a Cox model biases treatment
    effects towards none); each arm's biomarker its predicted sensitivity to the arm's drug when
    the reference has it, unless ``biomarkers`` names one."""
    surv, coh = SurvivalParams.coerce(params), CohortParams.coerce(cohort)
    if not surv.features:
        eigengenes = [c for c in features.columns if not str(c).startswith("sensitivity:")]
        surv = surv.replace(features=tuple(eigengenes))
    treatment = coh.treatment_column
    if not (treatment and treatment in clinical):
        return surv, coh.replace(treatment_column=None, reference_arm=None)
    if surv.adjust_for is None:
        surv = surv.replace(adjust_for=(*coh.covariates, *surv.features))
    arms = [a for a in clinical[treatment].astype(str).unique() if a != coh.reference_arm]
    biomarkers = {a: f"sensitivity:{a}" for a in arms if f"sensitivity:{a}" in features}
    return surv.replace(biomarkers={**biomarkers, **surv.biomarkers}), coh


def run_survival(
    clinical: pd.DataFrame,
    features: pd.DataFrame | None,
    *,
    params: SurvivalParams | Mapping,
    cohort: CohortParams | Mapping | None = None,
    longitudinal: pd.DataFrame | None = None,
    source: str = "clinical table",
    longitudinal_source: str = "longitudinal table",
) -> dict[str, pd.DataFrame | dict]:
    """Fit the cohort Cox model and build every survival output, keyed by file name.

    ``params`` is the ``survival`` section and ``cohort`` the ``cohort`` section
    (:class:`rxrank.config.SurvivalParams` / :class:`~rxrank.config.CohortParams` or their
    mappings). A ``params`` mapping may also carry the cohort's settings (``time_column``,
    ``covariates``, ``treatment_column``, ``reference_arm``, ...), which win over ``cohort``, and
    ``categorical`` (columns to one-hot encode), ``time_unit`` and ``longitudinal.source`` (the
    table's name in messages, as ``longitudinal_source``). Empty ``features``: every column of
    ``features``. The binary-outcome classifiers are a stage of their own (:mod:`rxrank.outcome`)."""
    if isinstance(params, Mapping) and isinstance(params.get("longitudinal"), Mapping):
        long_section = dict(params["longitudinal"])
        longitudinal_source = long_section.pop("source", longitudinal_source)
        params = {**params, "longitudinal": long_section}
    surv, coh, extra = survival_settings(params, cohort, extras=("categorical", "time_unit"))
    time_col, event_col = coh.time_column, coh.event_column
    covariates = list(coh.covariates or [])
    feature_cols = list(surv.features) or None  # none named: every feature
    times = [float(t) for t in surv.times]
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
            feats = feats[feature_cols]
    if not covariates and (feats is None or feats.shape[1] == 0):
        raise RxrankInputError("the survival model has no covariates and no features to use.")

    design = Design(covariates=covariates, categorical=extra.get("categorical"))
    X = design.fit_transform(clinical, feats)
    clin = clinical.copy()
    clin.index = clin.index.astype(str)
    duration = clin.loc[X.index, time_col].astype(float)
    event = clin.loc[X.index, event_col].astype(int)

    seed = int(surv.seed)
    model = CoxModel(
        penalizers=surv.penalizers or SurvivalParams.penalizers,  # empty: the default grid
        l1_ratios=surv.l1_ratios or SurvivalParams.l1_ratios,
        cv_folds=int(surv.cv_folds),
        seed=seed,
        uno_censoring=float(surv.uno_censoring),
    ).fit(X, duration, event)
    n_boot = int(surv.n_bootstrap)
    level = float(surv.interval_level)
    bootstrap = surv.interval_method == "bootstrap" and n_boot > 0
    if bootstrap:
        patients = prognosis(model, X, times=times, level=None)
        intervals = bootstrap_prognosis(
            model, X, duration, event, times=times, n_boot=n_boot, level=level, seed=seed
        )
        patients = patients.join(intervals)
    else:
        patients = prognosis(model, X, times=times, level=level)
    horizon = estimable_until(duration)
    patients = mask_beyond(patients, horizon, times)
    km, logrank_p = km_by_group(duration, event, patients["risk_group"])

    biomarkers = {}
    for arm, col in dict(surv.biomarkers or {}).items():
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
        treatment_column=coh.treatment_column,
        reference_arm=coh.reference_arm,
        biomarkers=biomarkers,
        adjust_for=list(surv.adjust_for or []),
        time_column=time_col,
        event_column=event_col,
        penalizer=float(surv.treatment_penalizer),
        design=surv.design,
        interaction_alpha=float(surv.interaction_alpha),
    )
    lp = surv.longitudinal
    if longitudinal is not None:
        long_summary, long_metrics = time_varying_cox(
            longitudinal,
            covariates=list(lp.covariates or []),
            id_column=lp.id_column,
            start_column=lp.start_column,
            stop_column=lp.stop_column,
            event_column=lp.event_column,
            events=clin[event_col],
            penalizer=float(lp.penalizer),
            source=longitudinal_source,
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
        "cv_failed_folds": int(model.cv_failed_folds_),
        "cv_table": [
            {k: _finite_or_none(v) for k, v in row.items()}
            for row in model.cv_table_.to_dict("records")
        ],
        "ph_test": "lifelines proportional_hazard_test, rank-transformed time, per covariate",
        "ph_alpha": model.ph_alpha,
        "ph_violations": list(model.ph_violations_),
        "logrank_p": _finite_or_none(logrank_p),
        "time_unit": extra.get("time_unit", "months"),
        "times": times,
        "estimable_until": horizon,
        "estimable_rule": f"medians and S(t) up to the last time with >= {MIN_AT_RISK} at risk",
        "intervals": {
            "method": "percentile bootstrap over patients (the inference fit redone per resample)"
            if bootstrap
            else "Tsiatis variance of the cumulative hazard, symmetric on log H (as R's "
            "survfit.coxph)",
            "estimates_from": "the inference fit (penalizer "
            f"{model.inference_penalizer_:g}); risk score and groups from the C-optimised fit",
            "level": level,
            "n_bootstrap": int(intervals.attrs.get("n_boot", 0)) if bootstrap else 0,
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
