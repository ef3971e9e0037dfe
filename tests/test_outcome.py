"""Tests of rxrank.outcome: planted signal, chance level on noise, baseline, calibration, contract,
and the stage (what the classifiers are given, ``rxrank outcome``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rxrank.io import RxrankInputError, read_clinical
from rxrank.outcome import (
    BASELINE,
    CALIBRATION_COLUMNS,
    MODELS,
    PATIENT_COLUMNS,
    OutcomeComparison,
    calibration_table,
    metric_columns,
    run_outcome,
    run_outcome_stage,
    treatment_biomarker,
)

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def _planted(n: int, seed: int = 0, n_noise: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """y depends on f0 (log-odds 1.8 per SD) and on stage IV; other columns are noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(size=(n, 1 + n_noise)),
        columns=["f0", *[f"noise{i}" for i in range(n_noise)]],
        index=[f"P{i}" for i in range(n)],
    )
    X["stage"] = rng.choice(["I", "II", "III", "IV"], n)
    logit = 1.8 * X["f0"] + 1.0 * (X["stage"] == "IV") - 0.25
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def planted():
    X, y = _planted(120)
    comp = OutcomeComparison(cv_folds=3, inner_folds=2, n_estimators=40, seed=0).fit(X, y)
    return X, y, comp


def test_every_model_finds_planted_signal_and_beats_baseline(planted):
    X, y, comp = planted
    m = comp.metrics_.set_index("model")
    assert list(comp.metrics_.columns) == metric_columns(3)
    assert list(m.index) == [*MODELS, BASELINE]
    # the prior baseline predicts one probability per fold: AUROC exactly 0.5 in every fold
    assert (m.loc[BASELINE, ["auroc_fold_1", "auroc_fold_2", "auroc_fold_3"]] == 0.5).all()
    assert not m.loc[BASELINE, "beats_baseline"]
    # Bayes AUROC of the planted model is ~0.85; measured 0.69-0.76 across the four models
    for name in MODELS:
        assert m.loc[name, "auroc_mean"] > 0.65, name
        assert m.loc[name, "brier"] < m.loc[BASELINE, "brier"], name
    best = comp.best_model_
    assert m["best"].sum() == 1 and m.loc[best, "best"]
    assert m.loc[best, "auroc_mean"] == m.loc[list(MODELS), "auroc_mean"].max()
    assert m.loc[best, "beats_baseline"]
    assert m.loc[best, "auroc_lower"] < m.loc[best, "auroc_pooled"] < m.loc[best, "auroc_upper"]
    # out-of-fold probabilities: one per patient and model, inside [0, 1]
    assert comp.oof_.notna().all().all() and comp.oof_.shape == (120, len(MODELS) + 1)
    assert ((comp.oof_ >= 0) & (comp.oof_ <= 1)).all().all()
    # nested CV: a hyper-parameter choice per outer fold, from the declared grid
    assert len(comp.params_["logistic_regression"]) == 3
    assert {p["clf__C"] for p in comp.params_["logistic_regression"]} <= {0.01, 0.1, 1.0, 10.0}


def test_calibration_table_per_model(planted):
    X, y, comp = planted
    cal = comp.calibration_
    assert list(cal.columns) == CALIBRATION_COLUMNS
    for name, part in cal.groupby("model"):
        assert part["n"].sum() == 120, name
    lr = cal[cal["model"] == "logistic_regression"].sort_values("bin")
    # observed frequency rises with predicted probability (measured 0.23, 0.10, 0.43, 0.63, 0.80)
    assert lr["observed"].iloc[-1] - lr["observed"].iloc[0] > 0.4
    assert np.corrcoef(lr["predicted"], lr["observed"])[0, 1] > 0.8
    base = cal[cal["model"] == BASELINE]
    assert base["predicted"].between(y.mean() - 0.05, y.mean() + 0.05).all()


def test_calibration_table_of_calibrated_probabilities():
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 4000)
    y = (rng.random(4000) < p).astype(int)
    cal = calibration_table(y, p, model="truth", n_bins=5)
    assert (cal["n"] == 800).all()
    assert np.allclose(cal["predicted"], cal["observed"], atol=0.05)
    assert np.allclose(cal["predicted"], [0.1, 0.3, 0.5, 0.7, 0.9], atol=0.03)


def test_noise_features_stay_at_chance():
    """40 pure-noise features on 80 patients: with every step inside the folds the CV AUROC must
    stay near 0.5 (preprocessing or tuning on all patients would push it up)."""
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(80, 40)), index=[f"N{i}" for i in range(80)])
    X.columns = [f"g{i}" for i in range(40)]
    y = rng.permutation(np.r_[np.ones(40, int), np.zeros(40, int)])
    comp = OutcomeComparison(models=["logistic_regression"], cv_folds=3, inner_folds=2).fit(X, y)
    lr = comp.metrics_.set_index("model").loc["logistic_regression"]
    assert abs(lr["auroc_mean"] - 0.5) < 0.15
    assert not lr["beats_baseline"]


# ---- stage entry point on the demo


@pytest.fixture(scope="module")
def demo():
    clinical = read_clinical(DEMO / "clinical.tsv")
    truth = pd.read_csv(DEMO / "truth" / "patients.tsv", sep="\t", index_col="patient_id")
    rng = np.random.default_rng(7)
    features = pd.DataFrame(
        {
            "M1": truth["m1_factor"],
            "egfr": (truth["driver"] == "EGFR").astype(float) + rng.normal(0, 0.1, len(truth)),
            "erbb2": (truth["driver"] == "ERBB2").astype(float) + rng.normal(0, 0.1, len(truth)),
        },
        index=truth.index,
    )
    # the biomarker of the drug each patient received: what the planted response depends on
    received = treatment_biomarker(
        clinical, "treatment", {"Erlotinib": features["egfr"], "Lapatinib": features["erbb2"]}
    )
    return clinical, features.join(received)


def test_demo_response_contract_and_signal(demo):
    clinical, features = demo
    out = run_outcome(
        clinical,
        features,
        params={"models": ["logistic_regression"], "cv_folds": 3, "inner_folds": 2},
        covariates=["age", "stage", "treatment"],
        feature_columns=["M1", "egfr", "erbb2", "treatment_biomarker"],
    )
    metrics = out["summary.json"]
    assert metrics["available"] and metrics["column"] == "response" and metrics["n"] == 200
    assert metrics["features"] == [
        "age", "stage", "treatment", "M1", "egfr", "erbb2", "treatment_biomarker"
    ]  # fmt: skip
    table = out["metrics.tsv"]
    assert list(table.columns) == metric_columns(3)
    assert list(table["model"]) == ["logistic_regression", BASELINE]
    # planted: logit = -0.6 + 2.2 [matched drug] - 0.6 M1; measured AUROC 0.614 (0.562 without
    # treatment_biomarker, where a linear model cannot see which drug's biomarker applies)
    assert metrics["best_auroc_mean"] > 0.58 and metrics["best_beats_baseline"]
    pts = out["patients.tsv"]
    assert list(pts.columns) == PATIENT_COLUMNS and len(pts) == 200
    assert (pts["model"] == metrics["best_model"]).all()
    assert pts["probability"].between(0, 1).all()
    assert list(out["calibration.tsv"].columns) == CALIBRATION_COLUMNS


def test_absent_outcome_column_gives_headers_and_note(demo):
    clinical, features = demo
    out = run_outcome(clinical.drop(columns="response"), features, params={}, covariates=["age"])
    assert set(out) == {"metrics.tsv", "calibration.tsv", "patients.tsv", "summary.json"}
    assert out["summary.json"]["available"] is False
    assert "no column 'response'" in out["summary.json"]["note"]
    assert out["metrics.tsv"].empty
    assert list(out["metrics.tsv"].columns) == metric_columns(5)
    assert list(out["calibration.tsv"].columns) == CALIBRATION_COLUMNS
    assert list(out["patients.tsv"].columns) == PATIENT_COLUMNS
    off = run_outcome(clinical, features, params={"column": None}, covariates=["age"])
    assert off["summary.json"]["available"] is False
    assert "switched off" in off["summary.json"]["note"]


def test_non_binary_outcome_is_a_clear_error(demo):
    clinical, features = demo
    bad = clinical.assign(response=clinical["response"].where(clinical.index != "P004", 2))
    with pytest.raises(RxrankInputError, match="P004") as err:
        run_outcome(bad, features, params={}, covariates=["age"])
    assert "0/1" in str(err.value) and "survival.outcome.column" in str(err.value)


def test_unknown_model_name():
    X, y = _planted(40)
    with pytest.raises(RxrankInputError, match="xgboost"):
        OutcomeComparison(models=["xgboost"], cv_folds=2, inner_folds=2).fit(X, y)


def test_treatment_biomarker_is_the_received_drugs_standardised_biomarker():
    clin = pd.DataFrame(
        {"treatment": ["A", "A", "B", "ref", "B", "A"]},
        index=pd.Index([f"P{i}" for i in range(6)], name="patient_id"),
    )
    a = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, np.nan], index=clin.index)
    b = pd.Series([0.0, 0.0, 10.0, 0.0, -10.0, 0.0], index=clin.index)
    out = treatment_biomarker(clin, "treatment", {"A": a, "B": b})
    za = (a - a.mean()) / a.std(ddof=0)
    zb = (b - b.mean()) / b.std(ddof=0)
    expected = [za["P0"], za["P1"], zb["P2"], 0.0, zb["P4"], 0.0]  # ref arm and missing: 0
    np.testing.assert_allclose(out.to_numpy(), expected)
    assert out.name == "treatment_biomarker"
    assert treatment_biomarker(clin, None, {"A": a}) is None
    assert treatment_biomarker(clin, "treatment", {}) is None


# ---- the stage: what the classifiers are given, and `rxrank outcome`

FAST = {"models": ["logistic_regression"], "cv_folds": 3, "inner_folds": 2}


@pytest.fixture(scope="module")
def stage_features():
    truth = pd.read_csv(DEMO / "truth" / "patients.tsv", sep="\t", index_col="patient_id")
    rng = np.random.default_rng(3)
    egfr = (truth["driver"] == "EGFR").astype(float)
    return pd.DataFrame(
        {
            "M1": truth["m1_factor"],
            "M2": rng.normal(size=len(truth)),
            "sensitivity:Erlotinib": -egfr + rng.normal(0, 0.3, len(truth)),
        },
        index=truth.index,
    )


def test_stage_gives_cox_features_biomarkers_and_received_biomarker(demo, stage_features):
    """The policy that run_survival held before outcome became a stage: clinical covariates and
    the treatment column, the Cox features, each arm's biomarker column, the received one's."""
    clinical, _ = demo
    params = {
        "covariates": ["age", "stage"],
        "features": ["M1"],
        "treatment_column": "treatment",
        "biomarkers": {"Erlotinib": "sensitivity:Erlotinib", "Lapatinib": "M1"},
        "seed": 0,
        "outcome": FAST,
    }
    out = run_outcome_stage(clinical, stage_features, params=params)
    summary = out["summary.json"]
    assert summary["features"] == [
        "age", "stage", "treatment", "M1", "sensitivity:Erlotinib", "treatment_biomarker"
    ]  # fmt: skip
    # the same numbers as run_outcome given that choice by hand
    received = treatment_biomarker(
        clinical,
        "treatment",
        {"Erlotinib": stage_features["sensitivity:Erlotinib"], "Lapatinib": stage_features["M1"]},
    )
    by_hand = run_outcome(
        clinical,
        stage_features.join(received),
        params=FAST,
        covariates=["age", "stage", "treatment"],
        feature_columns=["M1", "sensitivity:Erlotinib", "treatment_biomarker"],
    )
    for name in ("metrics.tsv", "calibration.tsv", "patients.tsv"):
        pd.testing.assert_frame_equal(out[name], by_hand[name])
    assert summary == by_hand["summary.json"]
    # the config's own lists win; no treatment column: no treatment_biomarker
    own = run_outcome_stage(
        clinical.drop(columns="treatment"),
        stage_features,
        params={**params, "outcome": {**FAST, "covariates": ["age"], "features": ["M2"]}},
    )
    assert own["summary.json"]["features"] == ["age", "M2"]
    # no Cox features named (as run_survival): every feature
    every = run_outcome_stage(
        clinical, stage_features, params={"covariates": ["age"], "outcome": FAST}
    )
    assert every["summary.json"]["features"] == ["age", "M1", "M2", "sensitivity:Erlotinib"]


def test_stage_takes_typed_params_and_the_cohort_apart(demo, stage_features):
    """SurvivalParams + CohortParams give what the cli's one mixed mapping gives; an outcome
    seed of null is the survival seed's."""
    from rxrank.config import CohortParams, SurvivalParams

    clinical, _ = demo
    survival = {"features": ["M1"], "biomarkers": {"Lapatinib": "M1"}, "seed": 4, "outcome": FAST}
    cohort = {"covariates": ["age"], "treatment_column": "treatment"}
    mixed = run_outcome_stage(clinical, stage_features, params={**survival, **cohort})
    typed = run_outcome_stage(
        clinical,
        stage_features,
        params=SurvivalParams.from_config(survival),
        cohort=CohortParams.from_config(cohort),
    )
    assert typed["summary.json"] == mixed["summary.json"]
    pd.testing.assert_frame_equal(typed["patients.tsv"], mixed["patients.tsv"])
    assert mixed["summary.json"]["features"] == ["age", "treatment", "M1", "treatment_biomarker"]
    own_seed = {**survival, "outcome": {**FAST, "seed": 4}}
    again = run_outcome_stage(clinical, stage_features, params={**own_seed, **cohort})
    pd.testing.assert_frame_equal(again["patients.tsv"], mixed["patients.tsv"])


def test_stage_names_a_missing_feature(demo, stage_features):
    clinical, _ = demo
    params = {"features": ["M9"], "biomarkers": {"Lapatinib": "M1"}, "outcome": FAST}
    with pytest.raises(RxrankInputError, match="M9") as err:
        run_outcome_stage(clinical, stage_features, params=params)
    assert "survival.features" in str(err.value)


def test_cli_outcome_writes_the_stage_files(tmp_path, demo, stage_features):
    """`rxrank outcome` reads the profiled cohort, eigengenes and predictions (as the survival
    stage does) and writes results/outcome/: three tables and summary.json."""
    import anndata as ad

    from rxrank import cli

    clinical, _ = demo
    ad.AnnData(obs=clinical, X=np.zeros((len(clinical), 1), dtype=np.float32)).write_h5ad(
        tmp_path / "cohort.h5ad"
    )
    stage_features[["M1", "M2"]].to_csv(tmp_path / "eigengenes.tsv", sep="\t")
    pd.DataFrame(
        {
            "patient_id": stage_features.index,
            "drug": "Erlotinib",
            "predicted": stage_features["sensitivity:Erlotinib"].to_numpy(),
        }
    ).to_csv(tmp_path / "predictions.tsv", sep="\t", index=False)
    config = {
        "cohort": {
            "time_column": "os_months",
            "event_column": "os_event",
            "covariates": ["age", "stage"],
            "treatment_column": "treatment",
            "reference_arm": "standard_of_care",
        },
        "survival": {"outcome": FAST},
    }
    out = tmp_path / "outcome"
    argv = ["outcome", "--params", json.dumps(config), "--outdir", str(out)]
    argv += ["--cohort", str(tmp_path / "cohort.h5ad")]
    for name in ("eigengenes", "predictions"):
        argv += [f"--{name}", str(tmp_path / f"{name}.tsv")]
    assert cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "calibration.tsv", "metrics.tsv", "patients.tsv", "summary.json"
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    # defaults as the survival stage resolves them: every eigengene, and the predicted
    # sensitivity of each arm's drug when the reference has it (Erlotinib; not Lapatinib)
    assert summary["available"] and summary["features"] == [
        "age", "stage", "treatment", "M1", "M2", "sensitivity:Erlotinib", "treatment_biomarker"
    ]  # fmt: skip
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert list(metrics.columns) == metric_columns(3)
    assert list(metrics["model"]) == ["logistic_regression", BASELINE]
    patients = pd.read_csv(out / "patients.tsv", sep="\t")
    assert list(patients.columns) == PATIENT_COLUMNS and len(patients) == len(clinical)
