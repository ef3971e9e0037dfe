"""Honest cross-validation of the drug models: whole cell lines (or tissues) held out, everything
fitted inside the folds, every drug next to its drug-mean baseline; and the conformal half-widths."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import GroupKFold, KFold

from ..harmonise import Harmoniser
from ..io import RxrankInputError
from ..ridge import DEFAULT_ALPHAS
from ._models import make_model

log = logging.getLogger(__name__)


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
