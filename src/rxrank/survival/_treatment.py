"""Treatment effects: per-patient hazard ratio of each arm vs the reference, modified by a
biomarker (treatment x biomarker interaction Cox model) only where the interaction is supported
(p below ``interaction_alpha``), and never extrapolated beyond the biomarker values fitted."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError

from rxrank.io import RxrankInputError

from ._checks import check_survival_data
from ._cox import _DURATION, _EVENT, CoxModel

log = logging.getLogger(__name__)

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
_Z = 1.959963984540054  # standard normal 97.5% quantile
DESIGNS = ("observational", "randomised")


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
    penalizer: float = 0.0,
    min_events: int = 10,
    design: str = "observational",
    interaction_alpha: float = 0.05,
) -> pd.DataFrame:
    """Per-patient HR of each arm vs reference from a Cox model on the two arms.

    With a biomarker whose interaction with the arm has p < ``interaction_alpha``: log HR_i =
    b_trt + b_int * z_i (z = standardised biomarker, held to the range of the fitted patients);
    otherwise every patient gets the arm's average HR (the model without the interaction), and
    the note says why. 95% CI by the delta method on the log scale. ``design`` (randomised or
    observational) decides what the notes say about confounding."""
    if design not in DESIGNS:
        raise RxrankInputError(f"survival.design must be one of {list(DESIGNS)}, not {design!r}.")
    if not treatment_column or treatment_column not in clinical.columns:
        log.info("no treatment column %r; no treatment effects estimated", treatment_column)
        return _empty_effects()
    check_survival_data(
        clinical, time_column=time_column, event_column=event_column, source="treatment_effects"
    )
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
                design=design,
                interaction_alpha=interaction_alpha,
            )
        )
    if not rows:
        return _empty_effects()
    return pd.concat(rows, ignore_index=True)[TREATMENT_EFFECT_COLUMNS]


def _not_estimated(
    out: pd.DataFrame, note: str, why: str, p_interaction: float = np.nan
) -> pd.DataFrame:
    """The arm's rows without an estimate, the note saying ``why``."""
    return out.assign(
        hr=np.nan,
        hr_lower=np.nan,
        hr_upper=np.nan,
        p_interaction=p_interaction,
        p_treatment=np.nan,
        note=f"{note} Not estimated: {why}",
    )


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
    design: str = "observational",
    interaction_alpha: float = 0.05,
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
    counts = f"({n} patients, {n_arm} on {arm}, {n_events} events), adjusted for {adjusted}"
    if design == "randomised":
        note = f"Randomised comparison of {arm} vs {reference_arm} {counts}."
    else:
        note = (
            f"Observational comparison of {arm} vs {reference_arm} {counts}; treatment is not "
            "known to be randomised (survival.design), so the estimate may be confounded by why "
            "patients received it."
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
        return _not_estimated(out, note, f"fewer than {min_events} events or 3 patients per arm.")
    try:
        cph = CoxModel._fit_one(df, penalizer, logging.WARNING)
    except (ConvergenceError, ValueError, np.linalg.LinAlgError) as err:
        log.warning("treatment model %s vs %s failed: %s", arm, reference_arm, err)
        return _not_estimated(out, note, "the model did not converge.")
    p_int = np.nan
    outside = np.zeros(len(report), dtype=bool)
    if has_bio:
        p_int = float(cph.summary.loc["treatment:biomarker", "p"])
        if not p_int < interaction_alpha:
            has_bio = False
            note += (
                f" The treatment x biomarker interaction is not supported (p={p_int:.2g}, not "
                f"below {interaction_alpha:g}): every patient gets the arm's average HR."
            )
            try:
                cph = CoxModel._fit_one(df.drop(columns="treatment:biomarker"), penalizer)
            except (ConvergenceError, ValueError, np.linalg.LinAlgError) as err:
                log.warning("treatment model %s vs %s failed: %s", arm, reference_arm, err)
                return _not_estimated(out, note, "the model did not converge.", p_int)
    b = cph.params_
    V = cph.variance_matrix_
    if has_bio:
        fitted = df["biomarker"]
        z = ((bio.loc[report] - mean) / sd).to_numpy(dtype=float)
        outside = (z < fitted.min()) | (z > fitted.max())
        z = np.clip(z, fitted.min(), fitted.max())  # no extrapolation beyond the fitted values
        log_hr = b["treatment"] + b["treatment:biomarker"] * z
        var = (
            V.loc["treatment", "treatment"]
            + z**2 * V.loc["treatment:biomarker", "treatment:biomarker"]
            + 2 * z * V.loc["treatment", "treatment:biomarker"]
        )
    else:
        log_hr = np.full(len(report), b["treatment"])
        var = np.full(len(report), V.loc["treatment", "treatment"])
        if biomarker is None:
            note += " No biomarker: one HR for all patients."
    se = np.sqrt(np.clip(np.asarray(var, dtype=float), 0, None))
    edge = (
        " This patient's biomarker lies outside the values of the fitted patients: the HR is "
        "the one at the nearest edge of that range, not an extrapolation."
    )
    return out.assign(
        hr=np.exp(log_hr),
        hr_lower=np.exp(log_hr - _Z * se),
        hr_upper=np.exp(log_hr + _Z * se),
        p_interaction=p_int,
        p_treatment=float(cph.summary.loc["treatment", "p"]),
        note=np.where(outside, note + edge, note),
    )
