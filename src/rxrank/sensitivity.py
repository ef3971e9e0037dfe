"""Drug-sensitivity models trained on cell lines and applied to patients.

All drugs are fitted together: one kernel matrix of the training lines is shared, and each drug's
missing responses are handled exactly by solving on that drug's measured lines only (no imputation).
The ridge penalty is chosen per drug by exact leave-one-out error from one eigendecomposition per
drug. Outer cross-validation over cell lines (optionally grouped by tissue) reports every model next to
the naive per-drug-mean baseline, and everything fitted (gene filter, standardisation, penalty) is
refitted inside each outer fold.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import GroupKFold, KFold

from .io import RxrankInputError, atomic_path
from .ridge import DEFAULT_ALPHAS, MaskedRidge

__all__ = [
    "MaskedRidge",
    "Standardiser",
    "cross_validate",
    "harmonise_genes",
    "predict_patients",
    "response_matrix",
    "save_model",
]

log = logging.getLogger(__name__)


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


def harmonise_genes(patients: pd.DataFrame, lines: pd.DataFrame) -> list[str]:
    """Genes measured in both datasets; a clear error when there are none."""
    genes = patients.columns.intersection(lines.columns)
    if len(genes) == 0:
        raise RxrankInputError(
            "the cohort and the reference share no gene IDs; e.g. cohort has "
            f"{list(patients.columns[:3])}, reference has {list(lines.columns[:3])}. "
            "Use the same identifier type (HGNC symbols or Ensembl IDs) in both."
        )
    log.info("%d genes shared by cohort and reference", len(genes))
    return list(genes)


@dataclass
class Standardiser:
    """Per-gene standardisation keeping the most variable genes, fitted on one dataset (fit/apply).

    Ridge on thousands of independent genes drowns a few informative ones in noise, so only the
    ``n_top_genes`` most variable genes (above ``min_sd``) of the training lines are kept.
    """

    min_sd: float = 0.1
    n_top_genes: int | None = 500
    mean_: np.ndarray = field(init=False, repr=False)
    sd_: np.ndarray = field(init=False, repr=False)
    keep_: np.ndarray = field(init=False, repr=False)

    def fit(self, X: np.ndarray) -> Standardiser:
        self.mean_ = X.mean(0)
        self.sd_ = X.std(0)
        self.keep_ = self.sd_ >= self.min_sd
        if self.n_top_genes is not None and self.keep_.sum() > self.n_top_genes:
            cut = np.sort(self.sd_[self.keep_])[-self.n_top_genes]
            self.keep_ &= self.sd_ >= cut
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X[:, self.keep_] - self.mean_[self.keep_]) / self.sd_[self.keep_]).astype(
            np.float32
        )


def _fit_predict(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    *,
    alphas,
    min_sd: float,
    n_top_genes: int | None,
    screen: int | None,
) -> np.ndarray:
    scaler = Standardiser(min_sd=min_sd, n_top_genes=n_top_genes).fit(train_x)
    model = MaskedRidge(alphas, screen=screen).fit(scaler.transform(train_x), train_y)
    # held-out lines come from the training lines' dataset, so the training scaler applies
    return model.predict(scaler.transform(test_x))


def cross_validate(
    X: np.ndarray,
    Y: pd.DataFrame,
    *,
    groups: np.ndarray | None = None,
    n_folds: int = 5,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    min_sd: float = 0.1,
    n_top_genes: int | None = 500,
    screen: int | None = None,
    seed: int = 0,
    alpha_level: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outer CV over cell lines; returns per-drug metrics and the held-out predictions.

    The baseline predicts each drug's training-fold mean. ``beats_baseline`` requires a lower RMSE
    than the baseline and a positive held-out Pearson r with p < ``alpha_level``.
    """
    Yv = Y.to_numpy(dtype=np.float64)
    if groups is not None and len(np.unique(groups)) >= n_folds:
        splits = GroupKFold(n_splits=n_folds).split(X, groups=groups)
    else:
        splits = KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X)
    pred = np.full_like(Yv, np.nan)
    base = np.full_like(Yv, np.nan)
    for train, test in splits:
        pred[test] = _fit_predict(
            X[train],
            Yv[train],
            X[test],
            alphas=alphas,
            min_sd=min_sd,
            n_top_genes=n_top_genes,
            screen=screen,
        )
        base[test] = np.nanmean(Yv[train], axis=0)
    rows = []
    for j, drug in enumerate(Y.columns):
        m = ~np.isnan(Yv[:, j])
        y, yhat, b = Yv[m, j], pred[m, j], base[m, j]
        r, p = stats.pearsonr(yhat, y) if np.std(yhat) > 0 else (0.0, 1.0)
        rho = stats.spearmanr(yhat, y).statistic if np.std(yhat) > 0 else 0.0
        rmse = float(np.sqrt(np.mean((yhat - y) ** 2)))
        brmse = float(np.sqrt(np.mean((b - y) ** 2)))
        rows.append(
            {
                "drug": drug,
                "n_lines": int(m.sum()),
                "cv_pearson": float(r),
                "cv_spearman": float(rho),
                "cv_rmse": rmse,
                "baseline_rmse": brmse,
                "rmse_ratio": rmse / brmse if brmse > 0 else np.nan,
                "pearson_p": float(p),
                "beats_baseline": bool(rmse < brmse and r > 0 and p < alpha_level),
            }
        )
    held_out = pd.DataFrame(pred, index=Y.index, columns=Y.columns)
    return pd.DataFrame(rows), held_out


def conformal_halfwidth(
    held_out: pd.DataFrame, Y: pd.DataFrame, *, level: float = 0.9
) -> pd.Series:
    """Per-drug half-width of a split-conformal interval from the outer-CV absolute residuals."""
    resid = (held_out - Y).abs()
    out = {}
    for drug in Y.columns:
        r = np.sort(resid[drug].dropna().to_numpy())
        n = len(r)
        k = min(n - 1, int(np.ceil((n + 1) * level)) - 1)
        out[drug] = float(r[k])
    return pd.Series(out, name="halfwidth")


def predict_patients(
    model: MaskedRidge,
    scaler: Standardiser,
    patients: np.ndarray,
    *,
    patient_ids: pd.Index,
    Y: pd.DataFrame,
    halfwidth: pd.Series,
) -> pd.DataFrame:
    """Predict every patient x drug with interval, percentile and z against the reference lines.

    Patients are standardised against their own cohort (per-dataset standardisation) using the genes
    the reference scaler kept.
    """
    keep = scaler.keep_
    px = patients[:, keep]
    sd = px.std(0)
    pz = np.where(sd > 0, (px - px.mean(0)) / np.where(sd > 0, sd, 1), 0.0)
    pred = model.predict(pz)
    rows = []
    ref = Y.to_numpy(dtype=np.float64)
    for j, drug in enumerate(Y.columns):
        vals = np.sort(ref[~np.isnan(ref[:, j]), j])
        pct = 100.0 * np.searchsorted(vals, pred[:, j], side="right") / len(vals)
        z = (pred[:, j] - vals.mean()) / vals.std()
        hw = halfwidth[drug]
        rows.append(
            pd.DataFrame(
                {
                    "patient_id": patient_ids,
                    "drug": drug,
                    "predicted": pred[:, j],
                    "lower": pred[:, j] - hw,
                    "upper": pred[:, j] + hw,
                    "percentile": pct,
                    "z": z,
                }
            )
        )
    return pd.concat(rows, ignore_index=True).sort_values(["patient_id", "drug"], ignore_index=True)


def save_model(
    outdir: str | Path,
    *,
    model: MaskedRidge,
    scaler: Standardiser,
    genes: list[str],
    drugs: list[str],
    metadata: dict,
) -> None:
    """Store coefficients and metadata as npz + JSON (no pickles: loading one must not run code)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    kept = np.asarray(genes)[scaler.keep_]
    with atomic_path(outdir / "coefficients.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            genes=kept.astype(str),
            drugs=np.asarray(drugs, dtype=str),
            coef=model.coef_.astype(np.float32),
            intercept=model.intercept_,
            alpha=model.alpha_,
            train_mean=scaler.mean_[scaler.keep_],
            train_sd=scaler.sd_[scaler.keep_],
        )
    with atomic_path(outdir / "metadata.json") as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, default=str))


def run_sensitivity(
    patients: pd.DataFrame,
    lines: pd.DataFrame,
    response: pd.DataFrame,
    *,
    tissues: pd.Series | None = None,
    params: dict,
) -> dict:
    """Whole stage: CV metrics against the baseline, final all-lines model, patient predictions.

    ``patients`` and ``lines`` are samples x genes log-expression frames.
    """
    genes = harmonise_genes(patients, lines)
    Y = response_matrix(response, lines.index, min_lines=params.get("min_lines", 20))
    if Y.shape[1] == 0:
        raise RxrankInputError(
            "no drug has enough cell lines with a response; lower sensitivity.min_lines in the "
            "config or check the response table."
        )
    X = lines[genes].to_numpy(np.float64)
    alphas = tuple(params.get("alphas", DEFAULT_ALPHAS))
    min_sd = params.get("min_sd", 0.1)
    n_top = params.get("n_top_genes", 500)
    screen = params.get("screen_genes")
    groups = None
    if params.get("group_by_tissue", False) and tissues is not None:
        groups = tissues.reindex(lines.index).fillna("unknown").to_numpy()
    metrics, held_out = cross_validate(
        X,
        Y,
        groups=groups,
        n_folds=params.get("cv_folds", 5),
        alphas=alphas,
        min_sd=min_sd,
        n_top_genes=n_top,
        screen=screen,
        seed=params.get("seed", 0),
    )
    scaler = Standardiser(min_sd=min_sd, n_top_genes=n_top).fit(X)
    model = MaskedRidge(alphas, screen=screen).fit(scaler.transform(X), Y.to_numpy(np.float64))
    metrics.insert(2, "model", "ridge")
    metrics.insert(3, "alpha", model.alpha_)
    halfwidth = conformal_halfwidth(held_out, Y, level=params.get("interval_level", 0.9))
    predictions = predict_patients(
        model,
        scaler,
        patients[genes].to_numpy(np.float64),
        patient_ids=patients.index,
        Y=Y,
        halfwidth=halfwidth,
    )
    n_beat = int(metrics["beats_baseline"].sum())
    log.info("%d of %d drug models beat the drug-mean baseline", n_beat, len(metrics))
    metadata = {
        "model": "ridge",
        "n_genes": int(scaler.keep_.sum()),
        "n_lines": int(len(lines)),
        "drugs": list(Y.columns),
        "alphas_grid": list(alphas),
        "cv_folds": params.get("cv_folds", 5),
        "grouped_by_tissue": groups is not None,
        "interval_level": params.get("interval_level", 0.9),
        "n_top_genes": n_top,
        "screen_genes": screen,
        "harmonisation": "per-dataset per-gene standardisation",
    }
    return {
        "metrics": metrics,
        "predictions": predictions,
        "held_out": held_out,
        "model": model,
        "scaler": scaler,
        "genes": genes,
        "drugs": list(Y.columns),
        "metadata": metadata,
    }
