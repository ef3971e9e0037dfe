"""Drug-sensitivity models trained on cell lines, judged against naive baselines, applied to patients.

One stage: harmonise patient and cell-line expression (:mod:`rxrank.harmonise`), fit one model per
drug (ridge for all drugs at once by :class:`rxrank.ridge.MaskedRidge`; elastic net or random forest as
scikit-learn Pipelines), cross-validate over whole cell lines (or whole tissues) with everything fitted
inside the folds, report each drug next to its drug-mean baseline, and predict every patient with a
split-conformal interval and a percentile against the reference lines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.linear_model import ElasticNetCV
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.pipeline import Pipeline

from . import __version__
from .config import SensitivityParams
from .harmonise import Harmoniser
from .io import RxrankInputError, atomic_path
from .ridge import DEFAULT_ALPHAS, MaskedRidge

__all__ = [
    "MODELS",
    "PerDrugModel",
    "SensitivityResult",
    "baseline_rule",
    "conformal_halfwidth",
    "cross_validate",
    "make_model",
    "predict_patients",
    "response_matrix",
    "run_sensitivity",
    "save_model",
    "shared_genes",
]

log = logging.getLogger(__name__)

MODELS = ("ridge", "elastic_net", "random_forest")


def baseline_rule(rmse: float, baseline_rmse: float, r: float, p: float, *, alpha_level=0.05):
    """The stated rule: lower held-out RMSE than the drug mean AND Pearson r > 0 with p < 0.05."""
    return bool(rmse < baseline_rmse and r > 0 and p < alpha_level)


def response_matrix(
    response: pd.DataFrame, lines: pd.Index, *, min_lines: int = 20
) -> pd.DataFrame:
    """Wide lines x drugs matrix (NaN = not measured) of drugs with at least ``min_lines`` lines."""
    wide = response.pivot(index="cell_line", columns="drug", values="value")
    unknown = wide.index.difference(lines)
    if len(unknown) == len(wide.index):
        raise RxrankInputError(
            "no cell line of the response table is in the reference expression; e.g. response has "
            f"{list(wide.index[:3])}, expression has {list(lines[:3])}. Make the cell-line IDs match."
        )
    if len(unknown):
        log.warning("%d cell line(s) with responses but no expression are ignored", len(unknown))
    wide = wide.reindex(lines)
    counts = wide.notna().sum()
    few = counts[counts < min_lines]
    if len(few):
        log.warning(
            "%d drug(s) with fewer than %d cell lines are skipped: %s",
            len(few),
            min_lines,
            list(few.index),
        )
    return wide.loc[:, counts >= min_lines]


def shared_genes(patients: pd.DataFrame, lines: pd.DataFrame) -> list[str]:
    """Genes measured in both datasets; a clear error when there are none."""
    genes = patients.columns.intersection(lines.columns)
    if len(genes) == 0:
        raise RxrankInputError(
            "the cohort and the reference share no gene IDs; e.g. cohort has "
            f"{list(patients.columns[:3])}, reference has {list(lines.columns[:3])}. "
            "Use the same identifier type (HGNC symbols or Ensembl IDs) in both."
        )
    log.info(
        "%d genes shared by cohort (%d) and reference (%d)",
        len(genes),
        patients.shape[1],
        lines.shape[1],
    )
    return list(genes)


class PerDrugModel:
    """One clone of a scikit-learn pipeline per drug, each fitted on that drug's measured lines."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PerDrugModel:
        self.models_ = []
        unconverged = 0
        for j in range(Y.shape[1]):
            o = ~np.isnan(Y[:, j])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                self.models_.append(clone(self.pipeline).fit(X[o], Y[o, j]))
            unconverged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        if unconverged:
            # the inner CV path visits weak penalties that stop early; the chosen one is logged
            log.info("%d drug(s) had unconverged fits on the inner-CV path", unconverged)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([m.predict(X) for m in self.models_])


def make_model(
    name: str,
    *,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    screen: int | None = None,
    seed: int = 0,
):
    """The estimator for ``name``: fit(X, Y with NaN) / predict(X) over all drugs.

    Hyper-parameters are chosen by inner cross-validation on the training lines only: ridge by exact
    leave-one-out, elastic net by ``ElasticNetCV`` (3 folds), random forest by a 3-fold grid over
    ``max_features``. ``screen`` keeps the genes most correlated with each drug (inside the folds).
    """
    if name == "ridge":
        return MaskedRidge(alphas, screen=screen)
    steps = [("screen", SelectKBest(f_regression, k=screen))] if screen else []
    if name == "elastic_net":
        steps.append(
            (
                "model",
                ElasticNetCV(
                    l1_ratio=[0.2, 0.5, 0.9], alphas=30, cv=3, max_iter=5000, random_state=seed
                ),
            )
        )
    elif name == "random_forest":
        forest = RandomForestRegressor(n_estimators=150, min_samples_leaf=3, random_state=seed)
        grid = GridSearchCV(forest, {"max_features": [0.1, 0.33]}, cv=3)
        steps.append(("model", grid))
    else:
        raise RxrankInputError(f"sensitivity.model {name!r} is not one of {MODELS}.")
    return PerDrugModel(Pipeline(steps))


def _splits(n: int, *, groups, n_folds: int, seed: int):
    if groups is not None:
        k = min(n_folds, len(np.unique(groups)))
        if k < 2:
            raise RxrankInputError(
                "leave-tissue-out CV needs cell lines from at least 2 tissues; set "
                "sensitivity.cv: lines or add tissues to the cell-line table."
            )
        return list(GroupKFold(n_splits=k).split(np.zeros(n), groups=groups))
    return list(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(n)))


def _metrics_row(y, yhat, base, norm_y, norm_yhat, *, alpha_level) -> dict:
    def corr(a, b):
        if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
            return 0.0, 1.0
        r, p = stats.pearsonr(a, b)
        return float(r), float(p)

    r, p = corr(yhat, y)
    rho = float(stats.spearmanr(yhat, y).statistic) if np.std(yhat) > 0 else 0.0
    rmse = float(np.sqrt(np.mean((yhat - y) ** 2)))
    brmse = float(np.sqrt(np.mean((base - y) ** 2)))
    return {
        "n_lines": len(y),
        "cv_pearson": r,
        "cv_spearman": rho,
        "cv_normalised_pearson": corr(norm_yhat, norm_y)[0],
        "cv_rmse": rmse,
        "baseline_rmse": brmse,
        "rmse_ratio": rmse / brmse if brmse > 0 else np.nan,
        "pearson_p": p,
        "beats_baseline": baseline_rule(rmse, brmse, r, p, alpha_level=alpha_level),
    }


def cross_validate(
    X: np.ndarray,
    Y: pd.DataFrame,
    *,
    model: str = "ridge",
    harmonisation: dict | None = None,
    target: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    n_folds: int = 5,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    screen: int | None = None,
    seed: int = 0,
    alpha_level: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outer CV over whole cell lines (or whole tissues with ``groups``): metrics and predictions.

    Per fold, the harmoniser (gene filter, scaling; plus the unlabelled ``target`` cohort where the
    method uses it) and the model with its inner-CV hyper-parameters are fitted on the training lines
    only. The baseline predicts each drug's training-fold mean. Normalised Pearson (DrEval) removes
    the drug mean and each line's mean effect across drugs from truth and prediction first.
    """
    Yv = Y.to_numpy(dtype=np.float64)
    pred = np.full_like(Yv, np.nan)
    base = np.full_like(Yv, np.nan)
    for train, test in _splits(len(X), groups=groups, n_folds=n_folds, seed=seed):
        h = Harmoniser(**(harmonisation or {})).fit(X[train], target)
        est = make_model(model, alphas=alphas, screen=screen, seed=seed)
        est.fit(h.transform_reference(X[train]), Yv[train])
        pred[test] = est.predict(h.transform_reference(X[test]))
        base[test] = np.nanmean(Yv[train], axis=0)
    drug_mean = np.nanmean(Yv, axis=0)
    centred = Yv - drug_mean
    n_measured = (~np.isnan(centred)).sum(1, keepdims=True)
    line_effect = np.nansum(centred, axis=1, keepdims=True) / np.maximum(n_measured, 1)
    norm_y = Yv - drug_mean - line_effect
    norm_pred = pred - drug_mean - line_effect
    rows = []
    for j, drug in enumerate(Y.columns):
        m = ~np.isnan(Yv[:, j])
        row = _metrics_row(
            Yv[m, j], pred[m, j], base[m, j], norm_y[m, j], norm_pred[m, j], alpha_level=alpha_level
        )
        rows.append({"drug": drug, **row})
    return pd.DataFrame(rows), pd.DataFrame(pred, index=Y.index, columns=Y.columns)


def conformal_halfwidth(
    held_out: pd.DataFrame, Y: pd.DataFrame, *, level: float = 0.9
) -> pd.Series:
    """Per-drug half-width of a split-conformal interval: the ceil((n+1) level)-th CV residual."""
    resid = (held_out - Y).abs()
    out = {}
    for drug in Y.columns:
        r = np.sort(resid[drug].dropna().to_numpy())
        k = min(len(r) - 1, int(np.ceil((len(r) + 1) * level)) - 1)
        out[drug] = float(r[k])
    return pd.Series(out, name="halfwidth")


def predict_patients(
    model,
    harmoniser: Harmoniser,
    patients: np.ndarray,
    *,
    patient_ids: pd.Index,
    Y: pd.DataFrame,
    halfwidth: pd.Series,
    tissues: pd.Series | None = None,
    reference_tissue: str | None = None,
) -> pd.DataFrame:
    """Every patient x drug: prediction, interval, percentile and z against the reference lines.

    ``percentile`` is the share of reference lines at least as sensitive (lower value); with
    ``reference_tissue`` a second percentile against the lines of that tissue is added.
    """
    pred = model.predict(harmoniser.transform_target(patients))
    ref = Y.to_numpy(dtype=np.float64)
    tissue_mask = None
    if reference_tissue is not None and tissues is not None:
        tissue_mask = (tissues.reindex(Y.index) == reference_tissue).to_numpy()
        if tissue_mask.sum() < 5:
            raise RxrankInputError(
                f"sensitivity.reference_tissue {reference_tissue!r} matches {int(tissue_mask.sum())}"
                " reference lines; at least 5 are needed. Check the spelling against the cell-line "
                "table's tissue column."
            )
    frames = []
    for j, drug in enumerate(Y.columns):
        measured = ~np.isnan(ref[:, j])
        vals = np.sort(ref[measured, j])
        frame = {
            "patient_id": patient_ids,
            "drug": drug,
            "predicted": pred[:, j],
            "lower": pred[:, j] - halfwidth[drug],
            "upper": pred[:, j] + halfwidth[drug],
            "percentile": 100.0 * np.searchsorted(vals, pred[:, j], side="right") / len(vals),
            "z": (pred[:, j] - vals.mean()) / vals.std(),
        }
        if tissue_mask is not None:
            tv = np.sort(ref[measured & tissue_mask, j])
            frame["percentile_tissue"] = (
                100.0 * np.searchsorted(tv, pred[:, j], side="right") / max(len(tv), 1)
            )
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["patient_id", "drug"], ignore_index=True
    )


def _checksum(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_model(outdir: str | Path, result: SensitivityResult) -> None:
    """Store the fitted model as npz arrays + JSON metadata (no pickles: loading must not run code).

    Ridge and elastic net store a genes x drugs coefficient matrix; a random forest stores each
    tree's node arrays (feature, threshold, children, value) under ``<drug>/<tree>/<field>``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    h = result.harmoniser
    genes = np.asarray(result.genes)[h.keep_].astype(str)
    arrays = {"genes": genes, "drugs": np.asarray(result.drugs, dtype=str)}
    arrays.update({f"harmoniser/{k}": v for k, v in h.parameters().items()})
    model = result.model
    if isinstance(model, MaskedRidge):
        arrays.update(coef=model.coef_.astype(np.float32), intercept=model.intercept_)
        arrays["alpha"] = model.alpha_
    else:
        for j, pipe in enumerate(model.models_):
            est = pipe.named_steps["model"]
            cols = np.arange(len(genes))
            if "screen" in pipe.named_steps:
                cols = cols[pipe.named_steps["screen"].get_support()]
            arrays[f"{j}/genes"] = cols
            if isinstance(est, ElasticNetCV):
                arrays[f"{j}/coef"], arrays[f"{j}/intercept"] = est.coef_, np.array(est.intercept_)
            else:
                for t, tree in enumerate(est.best_estimator_.estimators_):
                    tr = tree.tree_
                    for field_ in ("feature", "threshold", "children_left", "children_right"):
                        arrays[f"{j}/{t}/{field_}"] = getattr(tr, field_)
                    arrays[f"{j}/{t}/value"] = tr.value[:, 0, 0]
    with atomic_path(outdir / "model.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    with atomic_path(outdir / "metadata.json") as tmp:
        tmp.write_text(json.dumps(result.metadata, indent=2, default=str))


@dataclass
class SensitivityResult:
    """Everything the sensitivity stage produces."""

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    held_out: pd.DataFrame
    model: object
    harmoniser: Harmoniser
    genes: list[str]
    drugs: list[str]
    metadata: dict


def run_sensitivity(
    patients: pd.DataFrame,
    lines: pd.DataFrame,
    response: pd.DataFrame,
    *,
    tissues: pd.Series | None = None,
    params: SensitivityParams | Mapping[str, Any] | None = None,
) -> SensitivityResult:
    """Whole stage: CV metrics against the baseline, final all-lines model, patient predictions.

    ``patients`` and ``lines`` are samples x genes log-expression frames; ``params`` the
    ``sensitivity`` section (:class:`rxrank.config.SensitivityParams`, or its config mapping).
    """
    if not isinstance(params, SensitivityParams):
        params = SensitivityParams.from_config(params)
    genes = shared_genes(patients, lines)
    Y = response_matrix(response, lines.index, min_lines=params.min_lines)
    if Y.shape[1] == 0:
        raise RxrankInputError(
            "no drug has enough cell lines with a response; lower sensitivity.min_lines in the "
            "config or check the response table."
        )
    X = lines[genes].to_numpy(np.float64)
    Z = patients[genes].to_numpy(np.float64)
    model_name = params.model
    alphas = tuple(params.alphas)
    screen = params.screen_genes
    seed = params.seed
    harmonisation = {
        "method": params.harmonisation,
        "min_sd": params.min_sd,
        "n_top_genes": params.n_top_genes,
    }
    groups = None
    if params.cv == "tissue":
        if tissues is None:
            raise RxrankInputError(
                "sensitivity.cv: tissue needs the cell-line table (reference.cell_lines) with a "
                "tissue per line."
            )
        groups = tissues.reindex(lines.index).fillna("unknown").to_numpy()
    metrics, held_out = cross_validate(
        X,
        Y,
        model=model_name,
        harmonisation=harmonisation,
        target=Z,
        groups=groups,
        n_folds=params.cv_folds,
        alphas=alphas,
        screen=screen,
        seed=seed,
    )
    harmoniser = Harmoniser(**harmonisation).fit(X, Z)
    model = make_model(model_name, alphas=alphas, screen=screen, seed=seed)
    model.fit(harmoniser.transform_reference(X), Y.to_numpy(np.float64))
    metrics.insert(2, "model", model_name)
    if isinstance(model, MaskedRidge):
        metrics.insert(3, "alpha", model.alpha_)
    level = params.interval_level
    predictions = predict_patients(
        model,
        harmoniser,
        Z,
        patient_ids=patients.index,
        Y=Y,
        halfwidth=conformal_halfwidth(held_out, Y, level=level),
        tissues=tissues,
        reference_tissue=params.reference_tissue,
    )
    log.info(
        "%d of %d drug models beat the drug-mean baseline",
        int(metrics["beats_baseline"].sum()),
        len(metrics),
    )
    metadata = {
        "model": model_name,
        "harmonisation": harmoniser.to_dict(),
        "n_genes_shared": len(genes),
        "n_lines": int(len(lines)),
        "drugs": list(Y.columns),
        "alphas_grid": list(alphas),
        "screen_genes": screen,
        "cv": params.cv,
        "cv_folds": params.cv_folds,
        "interval_level": level,
        "baseline_rule": "cv_rmse < baseline_rmse and cv_pearson > 0 with p < 0.05",
        "training_data_sha256": _checksum(X, np.nan_to_num(Y.to_numpy(np.float64), nan=-1e300)),
        "seed": seed,
        "versions": {
            "rxrank": __version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    return SensitivityResult(
        metrics, predictions, held_out, model, harmoniser, genes, list(Y.columns), metadata
    )
