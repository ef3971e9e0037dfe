"""Tests of rxrank.survival against the demo's planted truth and a published Cox result (Rossi)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi

from rxrank.io import RxrankInputError, read_clinical
from rxrank.survival import (
    TREATMENT_EFFECT_COLUMNS,
    CoxModel,
    Design,
    design_matrix,
    km_by_group,
    patient_curves,
    prognosis,
    run_survival,
    treatment_effects,
)

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


@pytest.fixture(scope="module")
def clinical() -> pd.DataFrame:
    return read_clinical(DEMO / "clinical.tsv")


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return pd.read_csv(DEMO / "truth" / "patients.tsv", sep="\t", index_col="patient_id")


@pytest.fixture(scope="module")
def features(truth: pd.DataFrame) -> pd.DataFrame:
    """Truth m1_factor as a stand-in eigengene, plus noisy driver indicators as biomarkers."""
    rng = np.random.default_rng(7)
    n = len(truth)
    return pd.DataFrame(
        {
            "M1": truth["m1_factor"],
            "egfr": (truth["driver"] == "EGFR").astype(float) + rng.normal(0, 0.1, n),
            "erbb2": (truth["driver"] == "ERBB2").astype(float) + rng.normal(0, 0.1, n),
        },
        index=truth.index,
    )


@pytest.fixture(scope="module")
def demo_fit(clinical, features):
    X = design_matrix(clinical, features[["M1"]], covariates=["age", "stage"])
    model = CoxModel(seed=0).fit(
        X, clinical.loc[X.index, "os_months"], clinical.loc[X.index, "os_event"]
    )
    return X, model


@pytest.fixture(scope="module")
def outputs(clinical, features):
    params = {
        "covariates": ["age", "stage"],
        "features": ["M1"],
        "treatment_column": "treatment",
        "reference_arm": "standard_of_care",
        "adjust_for": ["age", "stage", "M1"],
        "biomarkers": {"Erlotinib": "egfr", "Lapatinib": "erbb2"},
        "seed": 0,
    }
    return run_survival(clinical, features, params=params)


# ---- design matrix


def test_design_encodes_and_standardises(clinical, features):
    X = design_matrix(clinical, features[["M1"]], covariates=["age", "stage"])
    assert list(X.columns) == ["age", "stage=II", "stage=III", "stage=IV", "M1"]
    assert X.index.name == "patient_id" and len(X) == 80
    assert X[["age", "M1"]].mean().abs().max() < 1e-12
    assert np.allclose(X[["age", "M1"]].std(ddof=0), 1.0)
    assert set(np.unique(X[["stage=II", "stage=III", "stage=IV"]])) == {0.0, 1.0}
    # reference level I: patients in stage I have all stage dummies 0
    stage_one = clinical.index[clinical["stage"] == "I"]
    assert (X.loc[stage_one, ["stage=II", "stage=III", "stage=IV"]] == 0).all().all()


def test_design_fit_then_apply_to_new_patients(clinical, features):
    design = Design(covariates=["age", "stage"]).fit(clinical, features[["M1"]])
    full = design.transform(clinical, features[["M1"]])
    new = clinical.iloc[:5]
    applied = design.transform(new, features[["M1"]])
    # the cohort's means and SDs are reused, not re-estimated on the five new patients
    pd.testing.assert_frame_equal(applied, full.loc[applied.index])
    unseen = new.assign(stage=["V"] * 5)
    with pytest.raises(RxrankInputError, match="stage"):
        design.transform(unseen, features[["M1"]])


@pytest.mark.parametrize(
    ("column", "value"), [("site", "lung"), ("cohort_id", 3)], ids=["categorical", "numeric"]
)
def test_single_level_covariate_raises(clinical, column, value):
    with pytest.raises(RxrankInputError, match=column):
        design_matrix(clinical.assign(**{column: value}), None, covariates=["age", column])


def test_missing_covariate_raises(clinical):
    with pytest.raises(RxrankInputError, match="grade"):
        design_matrix(clinical, None, covariates=["grade"])


# ---- Cox model: published result and planted truth

# Golden values: Cox model of the Rossi recidivism data, week ~ fin+age+race+wexp+mar+paro+prio.
# Published by Fox (2002), "Cox Proportional-Hazards Regression for Survival Data", appendix to
# An R and S-PLUS Companion to Applied Regression (R survival::coxph, Efron ties), and reproduced in
# the lifelines documentation (Survival Regression, CoxPHFitter on lifelines.datasets.load_rossi).
ROSSI_COEF = {
    "fin": -0.3794,
    "age": -0.0574,
    "race": 0.3139,
    "wexp": -0.1498,
    "mar": -0.4337,
    "paro": -0.0849,
    "prio": 0.0915,
}


def test_rossi_reproduces_published_coefficients():
    rossi = load_rossi()
    X = rossi[list(ROSSI_COEF)].astype(float)
    model = CoxModel(penalizers=[0.0], cv_folds=5).fit(X, rossi["week"], rossi["arrest"])
    coef = model.summary.set_index("covariate")["coef"]
    for name, expected in ROSSI_COEF.items():
        assert coef[name] == pytest.approx(expected, abs=5e-4), name
    assert model.penalizer_ == 0.0
    # published: HR of prio 1.10 (95% CI 1.04-1.16), p 0.0014 in Fox (2002)
    prio = model.summary.set_index("covariate").loc["prio"]
    assert prio["hr"] == pytest.approx(1.096, abs=1e-3)
    assert prio["hr_lower"] < prio["hr"] < prio["hr_upper"]
    # age and wexp are the known proportional-hazards violators in lifelines' PH tutorial
    assert {"age", "wexp"} <= set(model.ph_violations_)
    assert 0.55 < model.cv_cindex_mean_ < 0.7  # measured 0.61


def test_standardised_design_rescales_to_raw_coefficients():
    """Unpenalised Cox is scale-equivariant: coef on the standardised scale / SD = raw coef."""
    rossi = load_rossi()
    clin = rossi.rename_axis("patient_id")
    design = Design(covariates=list(ROSSI_COEF))
    X = design.fit_transform(clin)
    model = CoxModel(penalizers=[0.0]).fit(X, rossi["week"], rossi["arrest"])
    coef = model.summary.set_index("covariate")["coef"]
    for name, expected in ROSSI_COEF.items():
        assert coef[name] / design.sds_[name] == pytest.approx(expected, abs=5e-4), name


def test_demo_recovers_planted_m1_effect(demo_fit):
    # measured (seed 0): M1 HR 1.70 per SD (p 2e-4), stage IV HR 2.8; CV C-index 0.68 +/- 0.11
    X, model = demo_fit
    m1 = model.summary.set_index("covariate").loc["M1"]
    assert m1["hr"] > 1 and m1["p"] < 0.05
    assert model.cv_cindex_mean_ > 0.6
    assert model.penalizer_ in (0.01, 0.1, 0.5, 1.0)
    assert list(model.summary.columns) == [
        "covariate",
        "coef",
        "hr",
        "hr_lower",
        "hr_upper",
        "p",
        "ph_p",
    ]
    assert model.summary["ph_p"].between(0, 1).all()


def test_predicted_survival_is_a_proper_curve(demo_fit):
    X, model = demo_fit
    surv = model.predict_survival(X, [0, 6, 12, 36, 60, 120, 1000])
    assert np.allclose(surv.loc[0.0], 1.0)
    assert (np.diff(surv.to_numpy(), axis=0) <= 1e-12).all()
    assert ((surv >= 0) & (surv <= 1)).all().all()
    # higher risk -> lower survival at every time
    risk = model.predict_risk(X)
    hi, lo = risk.idxmax(), risk.idxmin()
    assert (surv[hi] <= surv[lo]).all()


# ---- prognosis, curves, Kaplan-Meier


def test_prognosis_tertiles_and_km_ordering(demo_fit, clinical):
    X, model = demo_fit
    prog = prognosis(model, X)
    assert list(prog.columns) == [
        "risk_score",
        "risk_group",
        "median_survival",
        "s_12",
        "s_36",
        "s_60",
    ]
    counts = prog["risk_group"].value_counts()
    assert set(counts.index) == {"low", "intermediate", "high"}
    assert counts.max() - counts.min() <= 1
    assert prog.groupby("risk_group", observed=True)["risk_score"].max().is_monotonic_increasing
    assert (prog["s_12"] >= prog["s_36"]).all() and (prog["s_36"] >= prog["s_60"]).all()
    med = prog["median_survival"].dropna()
    at_median = model.predict_survival(X.loc[med.index], sorted(set(med)))
    assert all(at_median.at[m, pid] <= 0.5 for pid, m in med.items())

    km, p = km_by_group(
        clinical.loc[X.index, "os_months"], clinical.loc[X.index, "os_event"], prog["risk_group"]
    )
    assert list(km.columns) == ["group", "time", "survival", "lower", "upper"]
    assert (km["lower"] <= km["survival"] + 1e-12).all()
    assert (km["survival"] <= km["upper"] + 1e-12).all()

    def step(group: str, t: np.ndarray) -> np.ndarray:
        g = km[km["group"] == group]
        idx = np.searchsorted(g["time"].to_numpy(), t, side="right") - 1
        return g["survival"].to_numpy()[idx]

    grid = np.arange(1.0, 60.0, 1.0)
    high, low = step("high", grid), step("low", grid)
    assert (high <= low).all() and (high < low).mean() > 0.9
    assert p < 0.05  # measured 3e-6


def test_patient_curves_layout(demo_fit):
    X, model = demo_fit
    curves = patient_curves(model, X.iloc[:4], times=[0, 12, 24])
    assert list(curves.columns) == ["time", *X.index[:4]]
    assert curves["time"].tolist() == [0.0, 12.0, 24.0]
    default = patient_curves(model, X.iloc[:2])
    assert default["time"].iloc[0] == 0 and len(default) > 50


def test_unreached_median_is_nan_not_inf():
    # Rossi: only 114 of 432 arrested within 52 weeks, so most predicted medians are not reached
    rossi = load_rossi()
    X = rossi[list(ROSSI_COEF)].astype(float)
    model = CoxModel(penalizers=[0.0]).fit(X, rossi["week"], rossi["arrest"])
    prog = prognosis(model, X, times=(10, 52))
    assert list(prog.columns)[-2:] == ["s_10", "s_52"]
    med = prog["median_survival"]
    assert med.isna().any() and not np.isinf(med).any()
    assert (prog.loc[med.isna(), "s_52"] > 0.5).all()


def test_km_single_group_has_no_logrank():
    km, p = km_by_group([1, 2, 3, 4], [1, 0, 1, 1], ["a"] * 4)
    assert np.isnan(p)
    assert km["survival"].iloc[-1] == 0.0


# ---- treatment x biomarker


def test_erlotinib_benefit_concentrates_in_egfr_driven(demo_fit, clinical, features, truth):
    X, _ = demo_fit
    effects = treatment_effects(
        clinical,
        X,
        treatment_column="treatment",
        reference_arm="standard_of_care",
        biomarkers={"Erlotinib": features["egfr"]},
        adjust_for=["age", "stage", "M1"],
    )
    assert list(effects.columns) == TREATMENT_EFFECT_COLUMNS
    erl = effects[effects["treatment"] == "Erlotinib"].set_index("patient_id")
    assert len(erl) == 80 and (erl["reference"] == "standard_of_care").all()
    driver = truth.loc[erl.index, "driver"] == "EGFR"
    # measured: median HR 0.57 (EGFR driver, 4 on Erlotinib) vs 2.0 (others); p_interaction 0.14
    assert erl.loc[driver, "hr"].median() < erl.loc[~driver, "hr"].median()
    assert (erl["hr_lower"] <= erl["hr"]).all() and (erl["hr"] <= erl["hr_upper"]).all()
    assert erl["p_interaction"].nunique() == 1
    assert erl["note"].str.contains("Observational").all()
    assert erl["note"].str.contains("confounded").all()
    # Lapatinib had no biomarker: one HR for everyone, no interaction p
    lap = effects[effects["treatment"] == "Lapatinib"]
    assert lap["hr"].nunique() == 1 and lap["p_interaction"].isna().all()


def test_treatment_effects_without_treatment_column(demo_fit, clinical):
    X, _ = demo_fit
    out = treatment_effects(
        clinical.drop(columns="treatment"),
        X,
        treatment_column="treatment",
        reference_arm="standard_of_care",
        biomarkers={},
        adjust_for=[],
    )
    assert out.empty and list(out.columns) == TREATMENT_EFFECT_COLUMNS


def test_unknown_reference_arm_raises(demo_fit, clinical):
    X, _ = demo_fit
    with pytest.raises(RxrankInputError, match="placebo"):
        treatment_effects(
            clinical,
            X,
            treatment_column="treatment",
            reference_arm="placebo",
            biomarkers={},
            adjust_for=[],
        )


# ---- stage entry point


def test_run_survival_outputs_follow_contract(outputs):
    assert set(outputs) == {
        "cox_summary.tsv",
        "patients.tsv",
        "km.tsv",
        "patient_curves.tsv",
        "treatment_effects.tsv",
        "metrics.json",
    }
    assert list(outputs["patients.tsv"].columns) == [
        "patient_id",
        "risk_score",
        "risk_group",
        "median_survival",
        "s_12",
        "s_36",
        "s_60",
    ]
    assert list(outputs["treatment_effects.tsv"].columns) == TREATMENT_EFFECT_COLUMNS
    assert outputs["patient_curves.tsv"].columns[0] == "time"
    metrics = outputs["metrics.json"]
    json.dumps(metrics, allow_nan=False)
    for key in (
        "n",
        "events",
        "covariates",
        "penalizer",
        "cv_cindex_mean",
        "cv_cindex_sd",
        "ph_violations",
        "logrank_p",
        "time_unit",
        "caveat",
    ):
        assert key in metrics
    assert metrics["n"] == 80 and metrics["events"] == 56 and metrics["time_unit"] == "months"
    assert metrics["cv_cindex_mean"] > 0.6
    lap = outputs["treatment_effects.tsv"].query("treatment == 'Lapatinib'")
    assert lap["p_interaction"].notna().all()


def test_run_survival_rejects_unknown_feature(clinical, features):
    with pytest.raises(RxrankInputError, match="M9"):
        run_survival(clinical, features, params={"covariates": ["age"], "features": ["M9"]})
