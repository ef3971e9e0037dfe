"""Merge the stages' evidence into one explained treatment ranking per patient.

Every component is kept in the output table next to its standardised value, so any rank can be
recomputed by hand: ``score = sum(weight[c] * comp_c)`` with missing components counted as 0 (the
cohort average), then drugs whose model beats its baseline first, score descending, drug name
breaking ties.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import RankingParams
from .io import target_genes

__all__ = ["COMPONENTS", "DEFAULT_WEIGHTS", "TIERS", "Component", "assign_tier", "rank_treatments"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Component:
    """One kind of evidence in a rank, as reports name it (its default weight: RankingParams)."""

    label: str


#: the ranking's components in output order (``comp_<name>`` columns); the report imports this list
COMPONENTS = {
    "sensitivity": Component("predicted sensitivity"),
    "reliability": Component("model reliability"),
    "target": Component("target expression"),
    "survival": Component("survival evidence"),
    "module": Component("co-expression module evidence"),
    "genomic": Component("genomic evidence"),
}
#: rankings.tsv columns of the genomic evidence (from rxrank.genomic_evidence.patient_evidence)
GENOMIC_COLUMNS = {
    "feature": "genomic_feature",
    "effect": "genomic_effect",
    "effect_lower": "genomic_effect_lower",
    "effect_upper": "genomic_effect_upper",
    "q": "genomic_q",
    "n_with": "genomic_n_with",
    "n_without": "genomic_n_without",
}
DEFAULT_WEIGHTS = dict(RankingParams().weights)

TIERS = [
    (
        "A",
        "model beats the naive baselines (drug mean, tissue-drug mean), the prediction interval "
        "lies entirely on the sensitive side of the reference median, and target expression "
        "(z > 1) or the survival model (HR interval below 1) supports it",
    ),
    (
        "B",
        "model beats the baselines, the prediction is on the sensitive side of the reference "
        "median, and either its interval is clear of the median or target/survival evidence "
        "supports it",
    ),
    (
        "C",
        "model beats the baselines; no further support, or the prediction is on the resistant "
        "side of the reference median (supporting evidence does not lift a resistant prediction)",
    ),
    ("D", "model does not beat the naive baselines: the prediction is not reliable"),
]


def assign_tier(beats: bool, interval_clear: bool, support: bool, sensitive: bool = True) -> str:
    """Evidence tier from the facts of the tier table. ``sensitive``: the prediction is below the
    reference median; support only adds to a prediction that points that way."""
    if not beats:
        return "D"
    if not (sensitive or interval_clear):
        return "C"
    if interval_clear and support:
        return "A"
    if interval_clear or support:
        return "B"
    return "C"


def assign_tiers(beats, interval_clear, support, sensitive) -> np.ndarray:
    """:func:`assign_tier` over arrays of the same facts (one tier per row)."""
    beats, clear, sup, sens = (
        np.asarray(v, dtype=bool) for v in (beats, interval_clear, support, sensitive)
    )
    return np.select(
        [~beats, ~(sens | clear), clear & sup, clear | sup], ["D", "C", "A", "B"], default="C"
    ).astype(object)


def _standardise(values: pd.Series) -> pd.Series:
    sd = values.std()
    if not np.isfinite(sd) or sd == 0:
        return values * 0.0
    return (values - values.mean()) / sd


def _scale(values: pd.Series) -> pd.Series:
    """``values`` over their root mean square: 0 stays 0 (no evidence), sign kept."""
    rms = float(np.sqrt(np.nanmean(np.square(values)))) if values.notna().any() else 0.0
    return values * 0.0 if not np.isfinite(rms) or rms == 0 else values / rms


def _target_evidence(
    table: pd.DataFrame, drugs: pd.DataFrame, target_z: pd.DataFrame
) -> pd.DataFrame:
    """Per row: the drug's target genes measured in the cohort and the patient's highest z among
    them (vectorised over rows: one column of per-patient maxima per drug)."""
    genes = {
        d: [g for g in target_genes(t) if g in target_z.columns]
        for d, t in drugs["targets"].items()
    }
    with_genes = [d for d in pd.unique(table["drug"]) if genes.get(d)]
    zmax = np.full((len(target_z) + 1, len(with_genes) + 1), np.nan)  # last row/column: none
    for k, d in enumerate(with_genes):
        zmax[:-1, k] = target_z[genes[d]].max(axis=1).to_numpy(dtype=float)
    p = target_z.index.get_indexer(table["patient_id"])
    k = pd.Index(with_genes).get_indexer(table["drug"])
    known = (p >= 0) & (k >= 0)
    names = table["drug"].map({d: ";".join(genes[d]) for d in with_genes}).fillna("")
    return pd.DataFrame(
        {"target_genes": names.where(known, ""), "target_z": zmax[p, k]}, index=table.index
    )


def _module_evidence(
    table: pd.DataFrame, module_traits: pd.DataFrame, eigengenes: pd.DataFrame, *, q_max: float
) -> pd.DataFrame:
    """Per patient and drug: the strongest module associated with the drug's predicted sensitivity.

    The component is the patient's eigengene signed so that positive means "towards sensitivity".
    """
    sens = module_traits[module_traits["trait"].str.startswith("sensitivity:")].copy()
    sens["drug"] = sens["trait"].str.removeprefix("sensitivity:")
    sens = sens[(sens["q"] <= q_max) & sens["module"].isin(eigengenes.columns)]
    best = (
        sens.loc[sens.groupby("drug")["r"].apply(lambda r: r.abs().idxmax())] if len(sens) else sens
    )
    best = best.set_index("drug")
    if best.empty or eigengenes.empty:
        return pd.DataFrame({"module_evidence": "", "module_value": np.nan}, index=table.index)
    p = eigengenes.index.get_indexer(table["patient_id"])
    k = best.index.get_indexer(table["drug"])
    known = (p >= 0) & (k >= 0)
    modules = eigengenes.columns.get_indexer(best["module"])
    E = eigengenes.to_numpy(dtype=float)
    r = best["r"].to_numpy(dtype=float)
    # lower predicted ln IC50 = more sensitive, so a negative r means high eigengene helps
    values = np.where(known, -np.sign(r[k]) * E[p, modules[k]], np.nan)
    text = [f"{m} (r={v:.2f})" for m, v in zip(best["module"], r, strict=True)]
    labels = np.where(known, np.asarray(text + [""], dtype=object)[k], "")
    return pd.DataFrame({"module_evidence": labels, "module_value": values}, index=table.index)


def rows_for_reading(table: pd.DataFrame, max_rows: int) -> tuple[pd.DataFrame, int | None]:
    """The rankings as written to TSV: every row up to ``max_rows``; above, each patient's top
    ``max_rows // patients`` drugs (at least 1). Returns the rows and that cut (None: no cut)."""
    if len(table) <= max_rows:
        return table, None
    top = max(1, max_rows // max(table["patient_id"].nunique(), 1))
    return table[table["rank"] <= top], top


def rank_treatments(
    predictions: pd.DataFrame,
    metrics: pd.DataFrame,
    reference_median: pd.Series,
    *,
    drugs: pd.DataFrame,
    target_z: pd.DataFrame | None = None,
    treatment_effects: pd.DataFrame | None = None,
    module_traits: pd.DataFrame | None = None,
    eigengenes: pd.DataFrame | None = None,
    genomic_evidence: pd.DataFrame | None = None,
    params=None,
) -> pd.DataFrame:
    """Rank every drug for every patient; returns ``ranking/rankings.parquet`` as a DataFrame.

    ``params`` is the ``ranking`` section (:class:`rxrank.config.RankingParams` or its mapping):
    weights (each defaulting to its component's), ``module_q``, ``target_support_z``.
    ``genomic_evidence`` (:func:`rxrank.genomic_evidence.patient_evidence`) gives, per patient
    and drug, the tissue-adjusted cell-line effect of a feature the patient carries; patients
    without calls have none, and their ranks are those without this argument.
    """
    if not isinstance(params, RankingParams):
        params = RankingParams.from_config(params)
    w, module_q, target_support_z = params.weights, params.module_q, params.target_support_z
    table = predictions.merge(
        metrics[["drug", "cv_pearson", "beats_baseline"]], on="drug", how="left"
    )
    table["beats_baseline"] = table["beats_baseline"].fillna(False).astype(bool)
    table["reference_median"] = table["drug"].map(reference_median)
    table["pathway"] = table["drug"].map(drugs["pathway"]).fillna("")

    if target_z is not None:
        table = table.join(_target_evidence(table, drugs, target_z))
    else:
        table["target_genes"], table["target_z"] = "", np.nan

    table["survival_hr"] = np.nan
    table["survival_hr_lower"] = np.nan
    table["survival_hr_upper"] = np.nan
    if treatment_effects is not None and len(treatment_effects):
        te = treatment_effects.rename(columns={"treatment": "drug"}).set_index(
            ["patient_id", "drug"]
        )
        key = pd.MultiIndex.from_frame(table[["patient_id", "drug"]])
        for src, dst in (
            ("hr", "survival_hr"),
            ("hr_lower", "survival_hr_lower"),
            ("hr_upper", "survival_hr_upper"),
        ):
            table[dst] = te[src].reindex(key).to_numpy()

    if module_traits is not None and eigengenes is not None:
        table = table.join(_module_evidence(table, module_traits, eigengenes, q_max=module_q))
    else:
        table["module_evidence"], table["module_value"] = "", np.nan

    if genomic_evidence is not None and len(genomic_evidence):
        ev = genomic_evidence.rename(columns=GENOMIC_COLUMNS).drop_duplicates(
            ["patient_id", "drug"]
        )
        table = table.merge(ev, on=["patient_id", "drug"], how="left")
    else:
        for col in GENOMIC_COLUMNS.values():
            table[col] = "" if col == "genomic_feature" else np.nan
    table["genomic_feature"] = table["genomic_feature"].fillna("")

    raw = {
        "sensitivity": -table["z"],
        "reliability": table["cv_pearson"].clip(lower=0),
        "target": table["target_z"].clip(-3, 3),
        "survival": -np.log(table["survival_hr"]),
        "module": table["module_value"],
        "genomic": -table["genomic_effect"].astype(float),
    }
    assert list(raw) == list(COMPONENTS), "every component needs its raw value here"
    table["score"] = 0.0
    for name, values in raw.items():
        # no genomic evidence is 0, not the cohort average: scale it without centring
        comp = (
            _scale(values.astype(float))
            if name == "genomic"
            else _standardise(values.astype(float))
        )
        table[f"comp_{name}"] = comp
        table["score"] += w[name] * comp.fillna(0.0)
    table["n_missing_components"] = sum(table[f"comp_{n}"].isna().astype(int) for n in raw)

    interval_clear = table["upper"] < table["reference_median"]
    sensitive = table["predicted"] < table["reference_median"]
    support = (table["target_z"] > target_support_z) | (table["survival_hr_upper"] < 1)
    table["tier"] = assign_tiers(table["beats_baseline"], interval_clear, support, sensitive)
    table["flags"] = np.where(table["beats_baseline"], "", "no reliable model")
    table = table.sort_values(
        ["patient_id", "beats_baseline", "score", "drug"], ascending=[True, False, False, True]
    )
    table["rank"] = table.groupby("patient_id").cumcount() + 1
    first = ["patient_id", "rank", "drug", "tier", "score"]
    rest = [c for c in table.columns if c not in first]
    return table[first + rest].reset_index(drop=True)
