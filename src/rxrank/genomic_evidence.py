"""Genomic evidence: tissue-adjusted effects of binary features on drug response across the
reference cell lines, and, per patient and drug, the strongest effect of a feature the patient
carries.

The effect of a feature on a drug is the coefficient of the feature in a linear model of the
response with the lines' tissue as a fixed effect (GDSC's own ANOVA adjusts for tissue the same
way), so that a feature common in a sensitive lineage does not pass for a biomarker. The
coefficient comes from the Frisch-Waugh-Lovell theorem: response and feature are each centred within
tissue on the drug's lines, then regressed one on the other, for all features of a drug at once.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from .coexpression import bh
from .errors import RxrankInputError

__all__ = ["EFFECT_COLUMNS", "EVIDENCE_COLUMNS", "patient_evidence", "tissue_adjusted_effects"]

log = logging.getLogger(__name__)

EFFECT_COLUMNS = [
    "drug", "feature", "n_with", "n_without", "n_tissues", "mean_with", "mean_without", "delta",
    "effect", "effect_lower", "effect_upper", "t", "p", "q",
]  # fmt: skip
EVIDENCE_COLUMNS = [
    "patient_id", "drug", "feature", "effect", "effect_lower", "effect_upper", "q", "n_with",
    "n_without",
]  # fmt: skip
#: fewer lines than this with (or without) a feature give no evidence for it
MIN_LINES = 5
#: a binary feature column of one of these names (any case) is the lines' MSI status: a covariate,
#: as in GDSC's ANOVA, not a feature
MSI_NAMES = frozenset({"msi", "msi_factor", "msi_status", "msi_h", "msi-h"})


def _within(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``values`` (lines x columns) centred on their mean within each group of lines."""
    counts = np.bincount(groups, minlength=n_groups).astype(float)
    sums = np.zeros((n_groups, values.shape[1]))
    np.add.at(sums, groups, values)
    return values - (sums / np.maximum(counts, 1.0)[:, None])[groups]


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    groups: np.ndarray,
    min_lines: int,
    covariate: np.ndarray | None = None,
) -> dict:
    """Per column of X (0/1, complete): counts, raw means and the coefficient adjusted for tissue
    (and ``covariate``, e.g. MSI, regressed out of both sides after the tissue centring)."""
    codes, groups = np.unique(groups, return_inverse=True)
    k = len(codes)
    n = len(y)
    n_with = X.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_with = (X * y[:, None]).sum(axis=0) / n_with
        mean_without = ((1 - X) * y[:, None]).sum(axis=0) / (n - n_with)
    yt = _within(y[:, None], groups, k)[:, 0]
    Xt = _within(X, groups, k)
    df = n - k - 1
    if covariate is not None:
        c = _within(np.asarray(covariate, float)[:, None], groups, k)[:, 0]
        cc = float(c @ c)
        if cc > 1e-9:
            yt = yt - c * (c @ yt) / cc
            Xt = Xt - np.outer(c, c @ Xt) / cc
            df -= 1
    sxx = (Xt * Xt).sum(axis=0)
    sxy = Xt.T @ yt
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = sxy / sxx
        rss = np.maximum(yt @ yt - beta * sxy, 0.0)
        se = np.sqrt(rss / df / sxx)
        t = beta / se
    ok = (n_with >= min_lines) & (n - n_with >= min_lines) & (sxx > 1e-9) & (df > 0)
    p = np.full(len(beta), np.nan)
    fin = ok & np.isfinite(t)
    p[fin] = np.minimum(2.0 * stats.t.sf(np.abs(t[fin]), df), 1.0)
    half = stats.t.ppf(0.975, df) * se if df > 0 else np.full(len(beta), np.nan)
    return {
        "ok": ok, "n_with": n_with, "n_without": n - n_with, "n_tissues": np.full(len(beta), k),
        "mean_with": mean_with, "mean_without": mean_without, "delta": mean_with - mean_without,
        "effect": beta, "effect_lower": beta - half, "effect_upper": beta + half, "t": t, "p": p,
    }  # fmt: skip


def tissue_adjusted_effects(
    features: pd.DataFrame,
    response: pd.DataFrame,
    tissues: pd.Series | None,
    *,
    min_lines: int = MIN_LINES,
) -> pd.DataFrame:
    """Effect of each binary feature on each drug's response, adjusted for tissue.

    ``features`` is cell lines x features (0/1, NaN not assessed); ``response`` the long table
    (cell_line, drug, value); ``tissues`` the tissue per cell line (lines without one form their
    own group; None: no tissue adjustment). A feature column named MSI (``MSI_NAMES``) is the lines' MSI status, adjusted for
    as a covariate and not tested. For each drug and feature, on the lines with a response and a
    call: n with and without, their raw means and difference, the tissue-adjusted effect
    (response units; negative = lines with the feature are more sensitive when the response is
    ln IC50 or AUC) with its 95% interval, t and p. Pairs with fewer than ``min_lines`` lines with or without the feature, or a
    feature that does not vary within any tissue, are left out. q is Benjamini-Hochberg over all
    tested pairs. Sorted by p.
    """
    fx = features.apply(pd.to_numeric, errors="coerce").astype(float)
    bad = np.isfinite(fx.to_numpy()) & ~np.isin(fx.to_numpy(), (0.0, 1.0))
    if bad.any():
        raise RxrankInputError(
            f"binary features must be 0/1 (NaN: not assessed); not so in "
            f"{list(fx.columns[bad.any(axis=0)][:3])}."
        )
    fx.index = fx.index.astype(str)
    msi_cols = [c for c in fx.columns if str(c).strip().lower() in MSI_NAMES]
    msi = fx[msi_cols[0]] if msi_cols else None
    fx = fx.drop(columns=msi_cols)
    tissue = (
        tissues.astype("string").reindex(fx.index).fillna("(no tissue)").astype(str)
        if tissues is not None
        else pd.Series("(no tissue)", index=fx.index)
    )
    wide = response.pivot_table(index="cell_line", columns="drug", values="value", aggfunc="mean")
    wide.index = wide.index.astype(str)
    lines = wide.index.intersection(fx.index)
    frames = []
    for drug in wide.columns:
        y_all = wide.loc[lines, drug]
        have = y_all.notna().to_numpy()
        if msi is not None:  # lines of unknown MSI status cannot be adjusted for it
            have &= msi.reindex(lines).notna().to_numpy()
        if have.sum() < 2 * min_lines:
            continue
        y = y_all.to_numpy()[have]
        X = fx.loc[lines[have]]
        g = tissue.loc[lines[have]].to_numpy()
        cov = msi.loc[lines[have]].to_numpy() if msi is not None else None
        complete = X.notna().all(axis=0).to_numpy()
        parts = []
        if complete.any():
            parts.append(
                (X.columns[complete], _fit(y, X.loc[:, complete].to_numpy(), g, min_lines, cov))
            )
        for col in X.columns[~complete]:  # features with calls missing on some of these lines
            m = X[col].notna().to_numpy()
            if m.sum() >= 2 * min_lines:
                sub = None if cov is None else cov[m]
                parts.append(
                    ([col], _fit(y[m], X[col].to_numpy()[m][:, None], g[m], min_lines, sub))
                )
        for cols, fit in parts:
            ok = fit.pop("ok")
            frame = pd.DataFrame({k: np.asarray(v)[ok] for k, v in fit.items()})
            frame.insert(0, "feature", np.asarray(cols, dtype=object)[ok])
            frame.insert(0, "drug", str(drug))
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out[["n_with", "n_without", "n_tissues"]] = out[["n_with", "n_without", "n_tissues"]].astype(
        int
    )
    out["q"] = bh(out["p"].to_numpy())
    return (
        out[EFFECT_COLUMNS]
        .sort_values(["p", "drug", "feature"], kind="stable")
        .reset_index(drop=True)
    )


def patient_evidence(
    carried: pd.DataFrame, effects: pd.DataFrame, *, q_max: float = 0.05
) -> pd.DataFrame:
    """Per patient and drug, the feature the patient carries with the strongest evidence (lowest q,
    then the larger effect) among effects with q <= ``q_max``; patients without calls get none.

    ``carried`` is the patients x reference features matrix (1 carries; see
    :func:`rxrank.genomics.patient_features`).
    """
    hits = effects[effects["q"] <= q_max]
    if carried.empty or hits.empty:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    long = carried.stack()
    long = long[long == 1].reset_index()
    long.columns = ["patient_id", "feature", "carries"]
    merged = long.merge(hits, on="feature")
    if merged.empty:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    merged["strength"] = -merged["effect"].abs()
    best = merged.sort_values(["patient_id", "drug", "q", "strength", "feature"]).drop_duplicates(
        ["patient_id", "drug"]
    )
    return best[EVIDENCE_COLUMNS].reset_index(drop=True)
