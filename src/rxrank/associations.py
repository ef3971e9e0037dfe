"""Module-trait, gene-drug and binary-feature tests: the associations stage and its entry point.

Associations with missing values (traits per patient, responses per cell line and drug) are
exact: pairwise-complete Pearson correlations are computed for all pairs at once from masked matrix
products. Co-expression modules themselves come from :mod:`rxrank.coexpression`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import stats

from .coexpression import bh
from .coexpression._kernels import (
    METHODS,
    _as_2d_float,
    _dense_x,
    _examples,
    _masked_pearson,
    _pearson_p,
    _rank,
)
from .config import CorrelationParams
from .errors import RxrankInputError

__all__ = [
    "binary_feature_associations",
    "build_traits",
    "gene_drug_associations",
    "gene_drug_matrix",
    "module_traits",
    "run_associations",
    "write_gene_drug_matrix",
]

log = logging.getLogger(__name__)

FEATURE_DRUG_COLUMNS = [
    "drug", "feature", "n_with", "n_without", "mean_with", "mean_without", "delta", "cohen_d",
    "glass_delta", "t", "p", "q",
]  # fmt: skip
# obs columns written by the profiling stage that are not clinical traits
QC_COLUMNS = ("total_counts", "n_genes", "n_genes_by_counts", "pct_counts_mt", "log1p_total_counts")


def build_traits(
    obs: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    *,
    exclude: Iterable[str] = QC_COLUMNS,
    max_levels: int = 8,
) -> pd.DataFrame:
    """Trait table (patients x traits) from clinical ``obs`` and optional sensitivity predictions.

    Numeric columns are kept; categorical columns with 2..``max_levels`` levels become 0/1
    indicators ``column:level``; predictions (patient_id, drug, predicted) become
    ``sensitivity:<drug>``.
    """
    skip = set(exclude)
    out = {}
    for col in obs.columns:
        if col in skip:
            continue
        s = obs[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[str(col)] = pd.to_numeric(s, errors="coerce").astype(float)
            continue
        levels = pd.Series(s.dropna().astype(str).unique())
        if 2 <= len(levels) <= max_levels:
            for level in sorted(levels):
                ind = (s.astype(str) == level).astype(float)
                out[f"{col}:{level}"] = ind.where(s.notna())
    traits = pd.DataFrame(out, index=obs.index.astype(str))
    if predictions is not None and len(predictions):
        need = {"patient_id", "drug", "predicted"} - set(predictions.columns)
        if need:
            raise RxrankInputError(f"sensitivity predictions lack column(s) {sorted(need)}.")
        wide = predictions.pivot_table(
            index="patient_id", columns="drug", values="predicted", aggfunc="mean"
        )
        wide.columns = [f"sensitivity:{d}" for d in wide.columns]
        wide.index = wide.index.astype(str)
        traits = traits.join(wide, how="left")
    traits.index.name = "patient_id"
    return traits


def module_traits(eigengenes: pd.DataFrame, traits: pd.DataFrame) -> pd.DataFrame:
    """Pearson r of every module eigengene with every trait (pairwise-complete), p, and BH q.

    Patients are matched on the index; non-numeric traits, and traits with fewer than 3 observed
    patients or no variation, are skipped (logged). q is BH over the whole table.
    """
    common = eigengenes.index.astype(str).intersection(traits.index.astype(str), sort=False)
    if len(common) == 0:
        raise RxrankInputError(
            "eigengenes and traits share no patient IDs; check that both are indexed by patient_id."
        )
    if len(common) < len(eigengenes):
        log.info("module-trait: %d of %d patients have traits", len(common), len(eigengenes))
    me = eigengenes.copy()
    me.index = me.index.astype(str)
    tr = traits.copy()
    tr.index = tr.index.astype(str)
    me, tr = me.loc[common], tr.loc[common]
    numeric = [c for c in tr.columns if pd.api.types.is_numeric_dtype(tr[c])]
    dropped = [c for c in tr.columns if c not in numeric]
    if dropped:
        log.info("module-trait: non-numeric traits skipped: %s", dropped)
    tr = tr[numeric].astype(float)
    y = tr.to_numpy()
    mask = np.isfinite(y)
    informative = [
        j for j in range(y.shape[1]) if mask[:, j].sum() >= 3 and np.ptp(y[mask[:, j], j]) > 0
    ]
    if len(informative) < y.shape[1]:
        log.info(
            "module-trait: traits without variation or with < 3 patients skipped: %s",
            [tr.columns[j] for j in range(y.shape[1]) if j not in informative],
        )
    columns = ["module", "trait", "r", "p", "q"]
    if not informative or me.shape[1] == 0:
        return pd.DataFrame(columns=columns)
    y, mask = y[:, informative], mask[:, informative]
    x = me.to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        raise RxrankInputError("eigengenes hold missing values.")
    r, n = _masked_pearson(x, y, mask)
    p = _pearson_p(r, n[None, :])
    out = pd.DataFrame(
        {
            "module": np.repeat(me.columns.astype(str), len(informative)),
            "trait": np.tile(tr.columns[informative].astype(str), me.shape[1]),
            "r": r.ravel(),
            "p": p.ravel(),
        }
    )
    out["q"] = bh(out["p"].to_numpy())
    return out


def _response_matrix(
    expr: pd.DataFrame | ad.AnnData, response: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align expression (lines x genes) and long responses into lines x genes and lines x drugs."""
    if isinstance(expr, ad.AnnData):
        expr = pd.DataFrame(_dense_x(expr), index=expr.obs_names, columns=expr.var_names)
    need = {"cell_line", "drug", "value"} - set(response.columns)
    if need:
        raise RxrankInputError(f"response table lacks column(s) {sorted(need)}.")
    resp = response.dropna(subset=["value"])
    if resp.duplicated(["cell_line", "drug"]).any():
        raise RxrankInputError("response table has repeated (cell_line, drug) pairs.")
    y = resp.pivot(index="cell_line", columns="drug", values="value")
    y = y[pd.unique(resp["drug"])]  # drugs in order of first appearance
    y.index = y.index.astype(str)
    expr = expr.copy()
    expr.index = expr.index.astype(str)
    lines = expr.index.intersection(y.index, sort=False)
    if len(lines) < 3:
        raise RxrankInputError(
            f"only {len(lines)} cell lines have both expression and response; check line names."
        )
    if len(lines) < len(y.index):
        log.info("gene-drug: %d of %d response lines have expression", len(lines), len(y.index))
    return expr.loc[lines], y.loc[lines]


def gene_drug_matrix(
    expr: pd.DataFrame | ad.AnnData,
    response: pd.DataFrame,
    *,
    method: str = "pearson",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Correlation of every gene with every drug across cell lines, each drug on its measured lines.

    Returns ``(r, p, n_lines)``: genes x drugs frames and a per-drug count. Spearman ranks genes and
    responses within each drug's lines (one ranking per distinct missingness pattern).
    """
    if method not in METHODS:
        raise RxrankInputError(f"method must be one of {METHODS}, got {method!r}.")
    xdf, ydf = _response_matrix(expr, response)
    x = _as_2d_float(xdf.to_numpy(dtype=np.float64), "reference expression")
    y = ydf.to_numpy(dtype=np.float64)
    mask = np.isfinite(y)
    if method == "pearson":
        r, n = _masked_pearson(x, y, mask)
    else:
        r = np.empty((x.shape[1], y.shape[1]))
        n = mask.sum(axis=0)
        patterns, inverse = np.unique(mask.T, axis=0, return_inverse=True)
        for g, rows in enumerate(patterns):
            drugs = np.flatnonzero(inverse.ravel() == g)
            if rows.sum() < 3:
                r[:, drugs] = np.nan
                continue
            xr = _rank(x[rows])
            yr = _rank(y[np.ix_(rows, drugs)])
            r[:, drugs], _ = _masked_pearson(xr, yr, np.ones(yr.shape, dtype=bool))
    p = _pearson_p(r, n[None, :])
    genes = xdf.columns.astype(str)
    drugs = ydf.columns.astype(str)
    return (
        pd.DataFrame(r, index=pd.Index(genes, name="gene"), columns=drugs),
        pd.DataFrame(p, index=pd.Index(genes, name="gene"), columns=drugs),
        pd.Series(n, index=drugs, name="n_lines"),
    )


def gene_drug_associations(
    expr: pd.DataFrame | ad.AnnData,
    response: pd.DataFrame,
    *,
    top: int | None = 50,
    method: str = "pearson",
    min_lines: int = 3,
    return_matrix: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Top genes per drug by |r| across cell lines: drug, gene, r, p, q, n_lines, rank.

    Missing responses are handled exactly (each drug uses only its measured lines); q is BH per drug
    over all genes; rank 1 is the strongest. ``top=None`` keeps every gene. With ``return_matrix``
    the full genes x drugs r frame is returned too.
    """
    r, p, n = gene_drug_matrix(expr, response, method=method)
    frames = []
    for drug in r.columns:
        if n[drug] < max(min_lines, 3):
            log.info("gene-drug: %s skipped (%d lines < %d)", drug, n[drug], max(min_lines, 3))
            continue
        rd = r[drug].to_numpy()
        pd_ = p[drug].to_numpy()
        q = bh(pd_)
        order = np.argsort(-np.abs(rd), kind="stable")
        if top is not None:
            order = order[:top]
        frames.append(
            pd.DataFrame(
                {
                    "drug": drug,
                    "gene": r.index[order],
                    "r": rd[order],
                    "p": pd_[order],
                    "q": q[order],
                    "n_lines": int(n[drug]),
                    "rank": np.arange(1, order.size + 1),
                }
            )
        )
    columns = ["drug", "gene", "r", "p", "q", "n_lines", "rank"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return (table, r) if return_matrix else table


def write_gene_drug_matrix(
    path: str | Any, r: pd.DataFrame, p: pd.DataFrame, n_lines: pd.Series
) -> None:
    """Save the full genes x drugs matrices of :func:`gene_drug_matrix` as a compressed ``.npz``.

    Arrays: ``r`` and ``q`` (float32, genes x drugs; q is BH per drug), ``genes``, ``drugs``
    (unicode) and ``n_lines`` (per drug). No pickles: load with ``np.load(path)``.
    """
    q = np.column_stack([bh(p[c].to_numpy()) for c in p.columns]) if p.shape[1] else p.to_numpy()
    np.savez_compressed(
        path,
        r=r.to_numpy(dtype=np.float32),
        q=np.asarray(q, dtype=np.float32),
        genes=np.asarray(r.index.astype(str), dtype=str),
        drugs=np.asarray(r.columns.astype(str), dtype=str),
        n_lines=n_lines.reindex(r.columns).to_numpy(dtype=np.int64),
    )


def binary_feature_associations(
    features: pd.DataFrame,
    response: pd.DataFrame,
    *,
    min_group: int = 3,
) -> pd.DataFrame:
    """Response difference between lines with and without each binary feature, for every drug.

    ``features`` is cell lines x features (mutation calls, copy-number calls: 1/0 or booleans; NaN
    = not assessed); ``response`` is the long table (cell_line, drug, value). For each feature and
    drug, on the lines with both a call and a response, a two-sample t-test with pooled variance
    (what GDSC's ANOVA is for one binary factor) gives t and p; effect sizes are the difference of
    means (with minus without), Cohen's d (pooled SD) and Glass's delta (SD of the lines without).
    All pairs come from matrix products of the call and response masks (no loop over pairs).
    Pairs with fewer than ``min_group`` lines in either group are left out. q is BH per drug.
    Returns drug, feature, n_with, n_without, mean_with, mean_without, delta, cohen_d,
    glass_delta, t, p, q, sorted by drug and p.
    """
    if not isinstance(features, pd.DataFrame):
        raise RxrankInputError("features must be a cell lines x features DataFrame.")
    fx = features.apply(pd.to_numeric, errors="coerce").astype(float)
    vals = fx.to_numpy()
    bad = np.isfinite(vals) & ~np.isin(vals, (0.0, 1.0))
    if bad.any():
        cols = fx.columns[bad.any(axis=0)]
        raise RxrankInputError(
            f"binary features must be 0/1 (NaN: not assessed); not so in {_examples(cols)}."
        )
    fx.index = fx.index.astype(str)
    xdf, ydf = _response_matrix(fx, response)
    b_obs = np.isfinite(xdf.to_numpy())
    b = np.where(b_obs, xdf.to_numpy(), 0.0)
    y = ydf.to_numpy(dtype=np.float64)
    y_obs = np.isfinite(y)
    yc = np.where(y_obs, y - np.nanmean(np.where(y_obs, y, np.nan), axis=0), 0.0)
    mf, my = b_obs.astype(np.float64), y_obs.astype(np.float64)
    n1 = b.T @ my
    n = mf.T @ my
    n0 = n - n1
    s1, s = b.T @ yc, mf.T @ yc
    ss1, ss = b.T @ (yc * yc), mf.T @ (yc * yc)
    s0, ss0 = s - s1, ss - ss1
    ok = (n1 >= min_group) & (n0 >= min_group)
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m0 = s1 / n1, s0 / n0
        v1 = np.maximum(ss1 - n1 * m1 * m1, 0.0) / (n1 - 1)
        v0 = np.maximum(ss0 - n0 * m0 * m0, 0.0) / (n0 - 1)
        df = n1 + n0 - 2
        sp2 = ((n1 - 1) * v1 + (n0 - 1) * v0) / df
        delta = m1 - m0
        t = delta / np.sqrt(sp2 * (1.0 / n1 + 1.0 / n0))
        cohen = delta / np.sqrt(sp2)
        glass = delta / np.sqrt(v0)
    p = np.full(t.shape, np.nan)
    fin = ok & np.isfinite(t)
    p[fin] = np.minimum(2.0 * stats.t.sf(np.abs(t[fin]), df[fin]), 1.0)
    p[ok & (sp2 == 0) & (delta == 0)] = 1.0
    centre = np.nanmean(np.where(y_obs, y, np.nan), axis=0)
    fi, di = np.nonzero(ok)
    out = pd.DataFrame(
        {
            "drug": ydf.columns.astype(str)[di],
            "feature": xdf.columns.astype(str)[fi],
            "n_with": n1[fi, di].astype(int),
            "n_without": n0[fi, di].astype(int),
            "mean_with": m1[fi, di] + centre[di],
            "mean_without": m0[fi, di] + centre[di],
            "delta": delta[fi, di],
            "cohen_d": cohen[fi, di],
            "glass_delta": glass[fi, di],
            "t": t[fi, di],
            "p": p[fi, di],
        }
    )
    out["q"] = out.groupby("drug", sort=False)["p"].transform(lambda v: bh(v.to_numpy()))
    skipped = int((~ok).sum())
    if skipped:
        log.info(
            "binary features: %d feature-drug pairs with < %d lines per group", skipped, min_group
        )
    return out.sort_values(["drug", "p", "feature"], kind="stable").reset_index(drop=True)


#: feature_drug.tsv's tissue-adjusted columns (rxrank.genomic_evidence), beside the plain test's
ADJUSTED_COLUMNS = ["n_tissues", "effect", "effect_lower", "effect_upper", "p_tissue", "q_tissue"]


def _feature_drug(
    features: pd.DataFrame, response: pd.DataFrame, tissues: pd.Series | None
) -> pd.DataFrame:
    from .genomic_evidence import tissue_adjusted_effects

    plain = binary_feature_associations(features, response)
    adjusted = tissue_adjusted_effects(features, response, tissues).rename(
        columns={"p": "p_tissue", "q": "q_tissue"}
    )
    out = plain.merge(
        adjusted[["drug", "feature", *ADJUSTED_COLUMNS]], on=["drug", "feature"], how="left"
    )
    out["n_tissues"] = out["n_tissues"].astype("Int64")
    return out


# --------------------------------------------------------------------------------------------------
# stage entry point
# --------------------------------------------------------------------------------------------------


def run_associations(
    eigengenes: pd.DataFrame,
    traits: pd.DataFrame,
    reference_expr: pd.DataFrame | ad.AnnData,
    response: pd.DataFrame,
    *,
    params: CorrelationParams | Mapping[str, Any] | None = None,
    binary_features: pd.DataFrame | None = None,
    tissues: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """Run the associations stage; returns frames keyed by output file name (for ``write_tsv``).

    ``eigengenes`` (patients x modules, indexed by patient ID) come from the modules stage
    (:func:`rxrank.coexpression.run_modules`); ``traits`` is indexed by patient ID
    (:func:`build_traits` of the cohort's obs and the sensitivity predictions). Gives
    ``module_traits.tsv`` (:func:`module_traits`), ``gene_drug.tsv``
    (:func:`gene_drug_associations`) and ``feature_drug.tsv`` (:func:`binary_feature_associations`
    of ``binary_features``, cell lines x 0/1 calls, e.g. mutations; headers only without them),
    with each pair's tissue-adjusted effect beside the plain test (:func:`rxrank.genomic_evidence.
    tissue_adjusted_effects`: effect, effect_lower, effect_upper, n_tissues, p_tissue, q_tissue;
    ``tissues`` per cell line, else no adjustment).
    ``params`` is the ``correlation`` section (:class:`rxrank.config.CorrelationParams` or its
    mapping); the parameters used are in each frame's ``.attrs["params"]``.
    """
    if not isinstance(params, CorrelationParams):
        params = CorrelationParams.from_config(params)
    out = {
        "module_traits.tsv": module_traits(eigengenes, traits),
        "gene_drug.tsv": gene_drug_associations(
            reference_expr,
            response,
            top=params.gene_drug_top,
            method=params.gene_drug_method,
            min_lines=params.gene_drug_min_lines,
        ),
    }
    out["feature_drug.tsv"] = (  # always written: headers only without a binary features table
        _feature_drug(binary_features, response, tissues)
        if binary_features is not None
        else pd.DataFrame(columns=FEATURE_DRUG_COLUMNS + ADJUSTED_COLUMNS)
    )
    used = params.to_dict()
    for frame in out.values():
        frame.attrs["params"] = used
    return out
