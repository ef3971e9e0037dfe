"""Outcome classifiers: a binary clinical outcome (e.g. response) predicted from the cohort's features.

Logistic regression, an RBF support-vector machine (Platt-scaled), a random forest and gradient
boosting are compared by cross-validated AUROC beside the prior (majority-class) baseline. Every
fitted step (imputation, scaling, one-hot encoding, hyper-parameter choice, SVM calibration) lives
inside a scikit-learn ``Pipeline`` that is refitted in each outer fold; hyper-parameters are chosen
by an inner CV within the outer training fold (nested CV), so the reported AUROC never saw the
patients it scores. The best model's out-of-fold probability of every patient joins the report, with
a calibration table of every model. :func:`run_outcome_stage` builds every file of
``results/outcome/`` (see ``docs/outputs.md``): it chooses what the classifiers are given, and
:func:`run_outcome` fits them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from rxrank.config import CohortParams, OutcomeParams, SurvivalParams, survival_settings
from rxrank.io import RxrankInputError

__all__ = [
    "BASELINE",
    "CALIBRATION_COLUMNS",
    "MODELS",
    "PATIENT_COLUMNS",
    "OutcomeComparison",
    "calibration_table",
    "compare_classifiers",
    "make_model",
    "metric_columns",
    "run_outcome",
    "run_outcome_stage",
    "treatment_biomarker",
]

log = logging.getLogger(__name__)

MODELS = ("logistic_regression", "svm", "random_forest", "gradient_boosting")
BASELINE = "baseline_prior"
CALIBRATION_COLUMNS = ["model", "bin", "predicted", "observed", "n"]
PATIENT_COLUMNS = ["patient_id", "probability", "model"]
SVM_MAX_PATIENTS = 3000
_Z = 1.959963984540054


def metric_columns(cv_folds: int) -> list[str]:
    """Columns of ``outcome/metrics.tsv`` for ``cv_folds`` outer folds."""
    return [
        "model",
        "auroc_mean",
        "auroc_sd",
        "auroc_pooled",
        "auroc_lower",
        "auroc_upper",
        "brier",
        *[f"auroc_fold_{k + 1}" for k in range(cv_folds)],
        "best",
        "beats_baseline",
    ]


def make_model(
    name: str,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 0,
    n_estimators: int = 100,
) -> tuple[Pipeline, dict[str, list]]:
    """Unfitted pipeline (imputation, scaling, one-hot, classifier) and its tuning grid."""
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                list(numeric),
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                list(categorical),
            ),
        ]
    )
    if name == "logistic_regression":
        clf, grid = LogisticRegression(max_iter=5000), {"clf__C": [0.01, 0.1, 1.0, 10.0]}
    elif name == "svm":
        clf = CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid", cv=3, ensemble=False)
        grid = {"clf__estimator__C": [0.1, 1.0, 10.0]}
    elif name == "random_forest":
        clf = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
        grid = {"clf__min_samples_leaf": [1, 5]}
    elif name == "gradient_boosting":
        clf = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, random_state=seed)
        grid = {"clf__learning_rate": [0.03, 0.1]}
    elif name == BASELINE:
        clf, grid = DummyClassifier(strategy="prior"), {}
    else:
        raise RxrankInputError(
            f"unknown outcome model {name!r}; choose among {list(MODELS)} in "
            "`survival.outcome.models`."
        )
    return Pipeline([("pre", pre), ("clf", clf)]), grid


def _hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    """95% CI of an AUROC by Hanley & McNeil (1982, Radiology 143:29)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    se = math.sqrt(max(var, 0.0))
    return max(0.0, auc - _Z * se), min(1.0, auc + _Z * se)


def calibration_table(
    y: np.ndarray, probability: np.ndarray, *, model: str, n_bins: int = 5
) -> pd.DataFrame:
    """Equal-count bins of predicted probability: mean predicted, observed frequency, n."""
    p = pd.Series(np.asarray(probability, dtype=float))
    bins = pd.qcut(p.rank(method="first"), min(n_bins, len(p)), labels=False)
    frame = pd.DataFrame({"bin": bins + 1, "predicted": p, "observed": np.asarray(y, float)})
    out = frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), n=("observed", "size")
    )
    return out.reset_index().assign(model=model)[CALIBRATION_COLUMNS]


class OutcomeComparison:
    """Nested-CV comparison of binary classifiers by AUROC beside the prior baseline.

    ``fit(X, y)`` stores ``metrics_`` (one row per model, baseline last), ``oof_`` (out-of-fold
    probabilities, patients x models), ``calibration_``, ``best_model_`` and ``params_`` (the
    hyper-parameters chosen in each outer fold)."""

    def __init__(
        self,
        *,
        models: Sequence[str] = MODELS,
        categorical: Sequence[str] = (),
        cv_folds: int = 5,
        inner_folds: int = 3,
        calibration_bins: int = 5,
        n_estimators: int = 100,
        seed: int = 0,
    ) -> None:
        self.models = models
        self.categorical = categorical
        self.cv_folds = cv_folds
        self.inner_folds = inner_folds
        self.calibration_bins = calibration_bins
        self.n_estimators = n_estimators
        self.seed = seed

    def fit(self, X: pd.DataFrame, y) -> OutcomeComparison:
        y = np.asarray(y, dtype=int)
        categorical = [c for c in X.columns if c in set(self.categorical)]
        categorical += [
            c for c in X.columns if c not in categorical and not pd.api.types.is_numeric_dtype(X[c])
        ]
        numeric = [c for c in X.columns if c not in categorical]
        X = X.copy()
        for c in categorical:
            X[c] = X[c].astype(str).where(X[c].notna(), np.nan).astype(object)
        outer = StratifiedKFold(self.cv_folds, shuffle=True, random_state=self.seed)
        inner = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.seed)
        names = [*self.models, BASELINE]
        oof = pd.DataFrame(np.nan, index=X.index, columns=names)
        folds = np.full((len(names), self.cv_folds), np.nan)
        self.params_: dict[str, list[dict]] = {n: [] for n in names}
        for k, (train, test) in enumerate(outer.split(np.zeros(len(y)), y)):
            for i, name in enumerate(names):
                pipe, grid = make_model(
                    name,
                    numeric=numeric,
                    categorical=categorical,
                    seed=self.seed,
                    n_estimators=self.n_estimators,
                )
                if grid:
                    search = GridSearchCV(pipe, grid, cv=inner, scoring="roc_auc", refit=True)
                    fitted = search.fit(X.iloc[train], y[train])
                    self.params_[name].append(dict(search.best_params_))
                else:
                    fitted = clone(pipe).fit(X.iloc[train], y[train])
                prob = fitted.predict_proba(X.iloc[test])[:, 1]
                oof.iloc[test, i] = prob
                folds[i, k] = roc_auc_score(y[test], prob)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        rows = []
        for i, name in enumerate(names):
            pooled = roc_auc_score(y, oof[name])
            lo, hi = _hanley_mcneil(pooled, n_pos, n_neg)
            rows.append(
                {
                    "model": name,
                    "auroc_mean": float(folds[i].mean()),
                    "auroc_sd": float(folds[i].std(ddof=1)),
                    "auroc_pooled": float(pooled),
                    "auroc_lower": lo,
                    "auroc_upper": hi,
                    "brier": float(brier_score_loss(y, oof[name])),
                    **{f"auroc_fold_{k + 1}": float(folds[i, k]) for k in range(self.cv_folds)},
                }
            )
        metrics = pd.DataFrame(rows)
        real = metrics[metrics["model"] != BASELINE]
        self.best_model_ = str(real.loc[real["auroc_mean"].idxmax(), "model"])
        metrics["best"] = metrics["model"] == self.best_model_
        base = metrics.loc[metrics["model"] == BASELINE, "auroc_mean"].iloc[0]
        metrics["beats_baseline"] = (metrics["model"] != BASELINE) & (metrics["auroc_lower"] > base)
        self.metrics_ = metrics[metric_columns(self.cv_folds)]
        self.oof_ = oof
        self.calibration_ = pd.concat(
            [calibration_table(y, oof[n], model=n, n_bins=self.calibration_bins) for n in names],
            ignore_index=True,
        )
        self.prevalence_ = float(y.mean())
        return self


def compare_classifiers(X: pd.DataFrame, y, **kwargs) -> OutcomeComparison:
    """Shorthand for ``OutcomeComparison(**kwargs).fit(X, y)``."""
    return OutcomeComparison(**kwargs).fit(X, y)


def _empty(cv_folds: int, summary: dict) -> dict:
    return {
        "metrics.tsv": pd.DataFrame(columns=metric_columns(cv_folds)),
        "calibration.tsv": pd.DataFrame(columns=CALIBRATION_COLUMNS),
        "patients.tsv": pd.DataFrame(columns=PATIENT_COLUMNS),
        "summary.json": summary,
    }


def run_outcome(
    clinical: pd.DataFrame,
    features: pd.DataFrame | None,
    *,
    params: OutcomeParams | Mapping,
    covariates: Sequence[str] = (),
    feature_columns: Sequence[str] = (),
    seed: int = 0,
) -> dict:
    """The files of ``results/outcome/`` keyed by name: three tables and ``summary.json``.

    ``params`` is the ``survival.outcome`` section (:class:`rxrank.config.OutcomeParams` or its
    mapping); ``covariates``, ``feature_columns`` and ``seed`` are used where it sets none
    (``covariates``/``seed`` null, ``features`` empty). Without the outcome column (``column``;
    ``null`` switches the classifiers off) the tables have headers only and ``summary.json``
    says why."""
    params = OutcomeParams.coerce(params)
    column = params.column
    cv_folds = int(params.cv_folds)
    base = {"column": column, "available": False}
    if not column or column not in clinical.columns:
        note = (
            "No outcome classifier: the clinical table has no column "
            f"{column!r} (set `survival.outcome.column` to a binary 0/1 column to enable it)."
            if column
            else "No outcome classifier: switched off (`survival.outcome.column: null`)."
        )
        log.info("%s", note)
        return _empty(cv_folds, {**base, "note": note})
    text = clinical[column].astype("string").str.strip()
    y_all = pd.to_numeric(text, errors="coerce")
    labelled = y_all.notna()
    bad = (labelled & ~y_all.isin([0, 1])) | (text.notna() & (text != "") & ~labelled)
    if bad.any():
        raise RxrankInputError(
            f"outcome column {column!r} must be 0/1, but has {sorted(set(clinical.loc[bad, column].astype(str)))[:5]} "
            f"for {int(bad.sum())} patient(s) (e.g. {list(bad[bad].index[:5])}). Recode it to "
            "0/1, or set `survival.outcome.column: null` to switch the classifiers off."
        )
    covs = list(covariates if params.covariates is None else params.covariates)
    feat_cols = list(params.features or feature_columns)
    missing = [c for c in covs if c not in clinical.columns]
    if missing:
        raise RxrankInputError(
            f"outcome covariate(s) {missing} are not columns of the clinical table; fix "
            "`survival.outcome.covariates`."
        )
    X = clinical.loc[labelled, covs].copy()
    X.index = X.index.astype(str)
    if feat_cols:
        if features is None or any(c not in features.columns for c in feat_cols):
            absent = [c for c in feat_cols if features is None or c not in features.columns]
            raise RxrankInputError(
                f"outcome feature(s) {absent} not found; fix `survival.outcome.features`."
            )
        f = features[feat_cols].copy()
        f.index = f.index.astype(str)
        X = X.join(f, how="inner")
    y = y_all.loc[labelled].astype(int)
    y.index = y.index.astype(str)
    y = y.loc[X.index]
    n_min = int(min(y.sum(), len(y) - y.sum()))
    if X.shape[1] == 0 or n_min < max(cv_folds, 5):
        note = (
            f"No outcome classifier: {column!r} has {int(y.sum())} positive and "
            f"{int(len(y) - y.sum())} negative patients with features; at least "
            f"{max(cv_folds, 5)} of each are needed for {cv_folds}-fold CV."
            if X.shape[1]
            else "No outcome classifier: no covariates or features were given."
        )
        log.warning("%s", note)
        return _empty(cv_folds, {**base, "note": note})
    models = list(params.models or MODELS)
    skipped = []
    if "svm" in models and len(y) > SVM_MAX_PATIENTS:
        models.remove("svm")  # kernel SVM fits grow with n^2: hours in nested CV at 10,000
        skipped.append(f"svm (more than {SVM_MAX_PATIENTS} patients)")
        log.warning("outcome classifiers: SVM skipped above %d patients", SVM_MAX_PATIENTS)
    comp = OutcomeComparison(
        models=models,
        categorical=list(params.categorical or []),
        cv_folds=cv_folds,
        inner_folds=int(params.inner_folds),
        calibration_bins=int(params.calibration_bins),
        seed=int(seed if params.seed is None else params.seed),
    ).fit(X, y)
    best = comp.best_model_
    row = comp.metrics_.set_index("model").loc[best]
    log.info(
        "outcome %r: best %s, CV AUROC %.3f +/- %.3f (baseline 0.5)",
        column,
        best,
        row["auroc_mean"],
        row["auroc_sd"],
    )
    patients = pd.DataFrame(
        {"patient_id": comp.oof_.index, "probability": comp.oof_[best].to_numpy(), "model": best}
    )
    summary = {
        **base,
        "available": True,
        "n": len(y),
        "positives": int(y.sum()),
        "prevalence": comp.prevalence_,
        "features": list(X.columns),
        "models": list(comp.metrics_["model"]),
        "skipped": skipped,
        "best_model": best,
        "best_auroc_mean": float(row["auroc_mean"]),
        "best_auroc_sd": float(row["auroc_sd"]),
        "best_beats_baseline": bool(row["beats_baseline"]),
        "cv": f"{cv_folds}-fold stratified outer CV; hyper-parameters by "
        f"{comp.inner_folds}-fold inner CV (nested); all preprocessing fitted inside folds",
        "chosen_params": {
            k: [{p: _jsonable(v) for p, v in d.items()} for d in vs]
            for k, vs in comp.params_.items()
            if vs
        },
        "note": (
            "Probabilities are out-of-fold: each patient's comes from a model that did not see "
            "them. AUROC 0.5 is the prior (majority-class) baseline; beats_baseline = the AUROC's "
            "95% CI (Hanley-McNeil, pooled out-of-fold) lies above 0.5. Research use only."
        ),
    }
    return {
        "metrics.tsv": comp.metrics_,
        "calibration.tsv": comp.calibration_,
        "patients.tsv": patients,
        "summary.json": summary,
    }


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


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


def run_outcome_stage(
    clinical: pd.DataFrame,
    features: pd.DataFrame,
    *,
    params: SurvivalParams | Mapping,
    cohort: CohortParams | Mapping | None = None,
) -> dict[str, pd.DataFrame | dict]:
    """Every file of ``results/outcome/``: the classifiers on what the cohort offers them.

    ``params`` is the ``survival`` section as the survival stage sees it (``features``,
    ``biomarkers``, ``seed``), with the classifiers' own settings under ``outcome``; ``cohort``
    the ``cohort`` section (a ``params`` mapping may carry its ``covariates`` and
    ``treatment_column`` itself, as :func:`rxrank.survival.run_survival` takes them). Unless
    ``outcome.covariates`` or ``outcome.features`` say otherwise, the classifiers get the clinical
    covariates and the treatment column, the Cox model's features (none named: every feature),
    each treatment arm's biomarker column and ``treatment_biomarker``
    (:func:`treatment_biomarker`)."""
    surv, coh, _ = survival_settings(params, cohort)
    clin = clinical.copy()
    clin.index = clin.index.astype(str)
    treatment = coh.treatment_column
    cox_features = list(surv.features or features.columns)  # as the Cox model
    biomarker_cols = dict(surv.biomarkers or {})
    missing = [c for c in [*cox_features, *biomarker_cols.values()] if c not in features.columns]
    if missing:
        raise RxrankInputError(
            f"outcome classifier feature(s) {missing} not found (available "
            f"{list(features.columns)[:12]}). Fix `survival.features` or `survival.biomarkers` "
            "in the config."
        )
    biomarkers = {}
    for arm, col in biomarker_cols.items():
        series = features[col].copy()
        series.index = series.index.astype(str)
        biomarkers[arm] = series
    feature_cols = list(dict.fromkeys([*cox_features, *biomarker_cols.values()]))
    received = treatment_biomarker(clin, treatment, biomarkers)
    if received is not None:
        features = features.join(received)
        feature_cols.append(received.name)
    covariates = list(coh.covariates or [])
    return run_outcome(
        clin,
        features,
        params=surv.outcome,
        covariates=covariates + [c for c in [treatment] if c in clin],
        feature_columns=feature_cols,
        seed=int(surv.seed),
    )
