"""Honest cross-validation of the drug models: whole cell lines (or tissues) held out, everything
fitted inside the folds, every drug next to its drug-mean baseline; and the conformal half-widths."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import GroupKFold, KFold

from ..harmonise import Harmoniser, TargetSummary
from ..io import RxrankInputError
from ..ridge import DEFAULT_ALPHAS
from ._models import make_model

log = logging.getLogger(__name__)


def baseline_rule(rmse: float, baseline_rmse: float, r: float, p: float, *, alpha_level=0.05):
    """The stated rule: lower held-out RMSE than the (stronger) baseline AND Pearson r > 0 with
    p < 0.05."""
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


def shared_genes(patients: pd.DataFrame, lines: pd.DataFrame, *, minimum: int = 1) -> list[str]:
    """Genes measured in both datasets; a clear error when there are fewer than ``minimum``
    (``sensitivity.min_shared_genes``: on GDSC2, models on 30 random genes beat the tissue-drug
    mean on 35-55% of drugs, on 100 on 83%, on 300 on 98%; docs/sensitivity-defaults.md)."""
    genes = patients.columns.intersection(lines.columns)
    if 0 < len(genes) < minimum:
        raise RxrankInputError(
            f"the cohort and the reference share only {len(genes)} genes (of "
            f"{patients.shape[1]} and {lines.shape[1]}); at least {minimum} are needed for "
            "drug models worth ranking by (sensitivity.min_shared_genes). Check that both use "
            "the same identifier type (HGNC symbols or Ensembl IDs) and the same platform's gene "
            "set, or use a reference measured on the cohort's genes."
        )
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


#: a tissue needs this many training lines measured on a drug for its own mean in the baseline
MIN_TISSUE_LINES = 3


def _column_means(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean over measured values (NaN where none) and the number measured."""
    n = (~np.isnan(Y)).sum(0)
    return np.where(n > 0, np.nansum(Y, 0) / np.maximum(n, 1), np.nan), n


def fold_baselines(
    Y_train: np.ndarray, tissues_train: np.ndarray | None, tissues_test: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The naive predictions for held-out lines, fitted on the training lines only.

    Returns, for every held-out line x drug: the drug mean; the tissue-drug mean (the mean of the
    training lines of the line's tissue, where at least :data:`MIN_TISSUE_LINES` were measured,
    else the drug mean); and the mean-effects prediction (DrEval's drug effect plus a tissue effect:
    the training lines' mean deviation from the drug means, averaged within the tissue; 0 for an
    unseen tissue), which normalised Pearson subtracts. Lines whose tissue is ``""`` get the drug
    mean.
    """
    drug_mean, _ = _column_means(Y_train)
    n_test = 1 if tissues_test is None else len(tissues_test)
    by_drug = np.broadcast_to(drug_mean, (n_test, len(drug_mean))).copy()
    by_tissue, effects = by_drug.copy(), by_drug.copy()
    if tissues_train is None or tissues_test is None:
        return by_drug, by_tissue, effects
    centred = Y_train - drug_mean
    n_line = (~np.isnan(centred)).sum(1)
    line_effect = np.where(n_line > 0, np.nansum(centred, 1) / np.maximum(n_line, 1), np.nan)
    for tissue in np.unique(tissues_test[tissues_test != ""]):  # "": no tissue known
        into, of = tissues_test == tissue, tissues_train == tissue
        means, n = _column_means(Y_train[of])
        by_tissue[into] = np.where(n >= MIN_TISSUE_LINES, means, drug_mean)
        lines = line_effect[of][~np.isnan(line_effect[of])]
        if len(lines) >= MIN_TISSUE_LINES:
            effects[into] = drug_mean + lines.mean()
    return by_drug, by_tissue, effects


def _metrics_row(y, yhat, base, tissue_base, norm_y, norm_yhat, *, alpha_level) -> dict:
    def corr(a, b):
        if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
            return 0.0, 1.0
        r, p = stats.pearsonr(a, b)
        return float(r), float(p)

    def rmse_of(values) -> float:
        return float(np.sqrt(np.mean((values - y) ** 2)))

    r, p = corr(yhat, y)
    rho = float(stats.spearmanr(yhat, y).statistic) if np.std(yhat) > 0 else 0.0
    rmse, brmse, trmse = rmse_of(yhat), rmse_of(base), rmse_of(tissue_base)
    stronger = min(brmse, trmse)
    return {
        "n_lines": len(y),
        "cv_pearson": r,
        "cv_spearman": rho,
        "cv_normalised_pearson": corr(norm_yhat, norm_y)[0],
        "cv_rmse": rmse,
        "baseline_rmse": brmse,
        "tissue_baseline_rmse": trmse,
        "rmse_ratio": rmse / stronger if stronger > 0 else np.nan,
        "pearson_p": p,
        "beats_drug_mean": bool(rmse < brmse),
        "beats_tissue_mean": bool(rmse < trmse),
        "beats_baseline": baseline_rule(rmse, stronger, r, p, alpha_level=alpha_level),
    }


def cross_validate(
    X: np.ndarray,
    Y: pd.DataFrame,
    *,
    model: str = "ridge",
    harmonisation: dict | None = None,
    target: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    tissues: np.ndarray | None = None,
    n_folds: int = 5,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    screen: int | None = None,
    factors: int = 0,
    seed: int = 0,
    alpha_level: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outer CV over whole cell lines (or whole tissues with ``groups``): metrics and predictions.

    Per fold, the harmoniser (gene filter, scaling; plus the unlabelled ``target`` cohort where the
    method uses it) and the model with its inner-CV hyper-parameters are fitted on the training lines
    only, and so are the baselines (:func:`fold_baselines`): the drug mean and, with ``tissues``
    (one label per line), the tissue-drug mean. A model beats the baseline when it beats the
    stronger of the two (:func:`baseline_rule`). Normalised Pearson (DrEval) correlates truth and
    prediction after subtracting the fold's mean-effects prediction from both, so a predictor that
    ignores everything but the drug (and the tissue) scores about 0.
    """
    Yv = Y.to_numpy(dtype=np.float64)
    pred, base, tissue_base, effects = (np.full_like(Yv, np.nan) for _ in range(4))
    labels = None if tissues is None else np.asarray(tissues).astype(str)
    if target is not None and (harmonisation or {}).get("method", "standardise") == "standardise":
        target = TargetSummary.of(target)  # the same in every fold: summarised once
    for train, test in _splits(len(X), groups=groups, n_folds=n_folds, seed=seed):
        h = Harmoniser(**(harmonisation or {})).fit(X[train], target)
        est = make_model(model, alphas=alphas, screen=screen, seed=seed, factors=factors)
        est.fit(h.transform_reference(X[train]), Yv[train])
        pred[test] = est.predict(h.transform_reference(X[test]))
        base[test], tissue_base[test], effects[test] = fold_baselines(
            Yv[train],
            None if labels is None else labels[train],
            None if labels is None else labels[test],
        )
    rows = []
    for j, drug in enumerate(Y.columns):
        m = ~np.isnan(Yv[:, j])
        row = _metrics_row(
            Yv[m, j],
            pred[m, j],
            base[m, j],
            tissue_base[m, j],
            Yv[m, j] - effects[m, j],
            pred[m, j] - effects[m, j],
            alpha_level=alpha_level,
        )
        rows.append({"drug": drug, **row})
    return pd.DataFrame(rows), pd.DataFrame(pred, index=Y.index, columns=Y.columns)


#: a tissue needs this many held-out (line, drug) pairs for its own interval calibration
MIN_TISSUE_PAIRS = 200


def _conformal_quantile(values: np.ndarray, level: float) -> float:
    """The ceil((n+1) level)-th smallest value: split-conformal's finite-sample quantile."""
    r = np.sort(values)
    return float(r[min(len(r) - 1, int(np.ceil((len(r) + 1) * level)) - 1)])


def conformal_halfwidth(
    held_out: pd.DataFrame,
    Y: pd.DataFrame,
    *,
    level: float = 0.9,
    tissues: np.ndarray | None = None,
    tissue: str | None = None,
) -> pd.Series:
    """Per-drug half-width of a split-conformal interval from the cross-validated residuals.

    With the lines' ``tissues`` and the cohort's ``tissue`` (``sensitivity.reference_tissue``),
    the half-widths are calibrated on that tissue (Mondrian conformal): each is multiplied by the
    tissue's ``level`` quantile of |residual| / the drug's half-width, all drugs pooled, when the
    tissue has at least :data:`MIN_TISSUE_PAIRS` held-out pairs (else left marginal, with a
    warning). On GDSC2 the marginal intervals cover 0.90 overall but 0.86 in lung; calibrated per
    tissue, every tissue's coverage is 0.89 or more (docs/sensitivity-defaults.md).
    """
    resid = (held_out - Y).abs()
    halfwidth = pd.Series(
        {drug: _conformal_quantile(resid[drug].dropna().to_numpy(), level) for drug in Y.columns},
        name="halfwidth",
    )
    if tissue is None or tissues is None:
        return halfwidth
    mine = np.asarray(tissues).astype(str) == tissue
    scores = (resid.to_numpy()[mine] / halfwidth.to_numpy()).ravel()
    scores = scores[np.isfinite(scores)]
    if len(scores) < MIN_TISSUE_PAIRS:
        log.warning(
            "intervals stay calibrated over all tissues: %s has %d held-out pairs, fewer than %d",
            tissue,
            len(scores),
            MIN_TISSUE_PAIRS,
        )
        return halfwidth
    return halfwidth * _conformal_quantile(scores, level)
