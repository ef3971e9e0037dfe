"""The context of a patient's page: ranked drugs, why each ranks where it does, and the sections
on prognosis, outcome, profile and target genes (:func:`patient_context`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from markupsafe import Markup

from rxrank.ranking import COMPONENTS as RANKING_COMPONENTS

from . import _figures as figs
from ._cohort import TOP_N, Cohort, to_bool, to_float
from ._env import CELL_MAX, NA, NAME_MAX, clip_text, fmt_interval, fmt_sig, fmt_text, is_missing
from ._glossary import ranking_glossary

__all__ = ["COMPONENTS", "COMPONENT_NAMES", "patient_context"]

MAX_TARGET_GENES = 15
_SPLIT_GENES = re.compile(r"[;,|]")

#: the rankings' component columns and their names, from the ranking's one list
COMPONENTS = tuple(f"comp_{name}" for name in RANKING_COMPONENTS)
COMPONENT_NAMES = {f"comp_{name}": c.label for name, c in RANKING_COMPONENTS.items()}
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


# ------------------------------------------------------------------------------------------ helpers


def _genes(text: Any) -> list[str]:
    if is_missing(text):
        return []
    return [g.strip() for g in _SPLIT_GENES.split(str(text)) if g.strip()]


def _flags(text: Any) -> list[str]:
    if is_missing(text):
        return []
    return [f.strip() for f in str(text).split(";") if f.strip()]


def _count(n: int, total: int) -> str:
    return f"{n} of {total} drug{'s' if total != 1 else ''} {'has' if n == 1 else 'have'}"


def _listing(items: list[str], limit: int = 6) -> str:
    shown = [clip_text(item, NAME_MAX) for item in items[:limit]]
    if len(items) <= limit:
        return ", ".join(shown)
    return ", ".join(shown) + f" and {len(items) - limit} more"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts of Python values, as ``to_dict("records")`` but without its per-row
    overhead (a page reads this for every drug shown in full)."""
    columns = [str(c) for c in frame.columns]
    values = zip(*(frame.iloc[:, i].tolist() for i in range(frame.shape[1])), strict=True)
    return [dict(zip(columns, row, strict=True)) for row in values]


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column's values as Python objects (None throughout when the column is missing)."""
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def _floats(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as floats, as :func:`to_float` reads each value (NaN when missing)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    column = frame[name]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(float, na_value=np.nan)
    return np.array([to_float(v) for v in column], dtype=float)


# ------------------------------------------------------------------------------------------ context


def patient_context(cohort: Cohort, patient_id: str, *, max_rows: int) -> dict[str, Any]:
    """The template context of ``patient.html`` for one patient (first ``max_rows`` drugs shown).

    Only the rows shown in full are read in full; the drugs beyond them (folded away, possibly
    more than a thousand) keep the few columns of the compact table (:func:`_compact_rows`).
    """
    patient_id = str(patient_id)
    ranked = cohort.ranking(patient_id)
    pseudonym = cohort.pseudonym(patient_id)
    rows = [_table_row(r) for r in _records(ranked.head(max(max_rows, TOP_N)))]
    top = rows[:TOP_N]
    return {
        **cohort.common(),
        "pseudonym": pseudonym,
        "metric": cohort.metric,
        "glossary": ranking_glossary(cohort.metric),
        "summary": [_explain(r, cohort.metric) for r in top],
        "rows": rows[:max_rows],
        "more_rows": _compact_rows(ranked.iloc[max_rows:]),
        "n_drugs": len(ranked),
        "reference_figures": [_reference_figure(cohort, r) for r in top],
        "prognosis": _prognosis_section(cohort, patient_id),
        "outcome": _outcome_patient(cohort, patient_id),
        "profile": _profile_section(cohort, patient_id),
        "targets": _target_section(cohort, patient_id, top),
        "similar": _similar_section(cohort, patient_id, top),
        "caveats": _caveats(cohort, ranked),
    }


class CompactRow(NamedTuple):
    """A row of the folded table (a tuple: cheaper for the template than a dict)."""

    rank: Any
    drug: str
    tier: Any
    score: float
    predicted: float
    beats_baseline: bool | None


def _compact_rows(ranked: pd.DataFrame) -> list[CompactRow]:
    """The rows of the folded table: rank, drug, tier, score, prediction, whether the model
    beats its baselines."""
    columns = zip(
        _column(ranked, "rank"),
        _column(ranked, "drug"),
        _column(ranked, "tier"),
        _floats(ranked, "score").tolist(),
        _floats(ranked, "predicted").tolist(),
        _column(ranked, "beats_baseline"),
        strict=True,
    )
    return [
        CompactRow(rank, str(drug), tier, score, predicted, to_bool(beats))
        for rank, drug, tier, score, predicted, beats in columns
    ]


def _table_row(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "rank": r.get("rank"),
        "drug": str(r.get("drug")),
        "pathway": None if fmt_text(r.get("pathway")) == NA else str(r.get("pathway")),
        "tier": r.get("tier"),
        "score": to_float(r.get("score")),
        "predicted": to_float(r.get("predicted")),
        "lower": to_float(r.get("lower")),
        "upper": to_float(r.get("upper")),
        "percentile": to_float(r.get("percentile")),
        "cv_pearson": to_float(r.get("cv_pearson")),
        "beats_baseline": to_bool(r.get("beats_baseline")),
        "target_genes": _genes(r.get("target_genes")),
        "target_z": to_float(r.get("target_z")),
        "hr": to_float(r.get("survival_hr")),
        "hr_lower": to_float(r.get("survival_hr_lower")),
        "hr_upper": to_float(r.get("survival_hr_upper")),
        "module_evidence": r.get("module_evidence"),
        "genomic": _genomic(r),
        "flags": _flags(r.get("flags")),
        "components": {c: to_float(r.get(c)) for c in COMPONENTS},
    }


_CARRIES = {"mut": "{} mutation", "amp": "{} amplification", "del": "{} deletion",
            "fusion": "{} fusion", "alt": "{} alteration"}  # fmt: skip


def _article(word: str) -> str:
    """'an' before a gene name read with a vowel sound (an EGFR, an ALK), else 'a' (a BRAF)."""
    return "an" if word[:1].upper() in set("AEFHILMNORSX") else "a"


def _genomic(r: Mapping[str, Any]) -> dict[str, Any] | None:
    """The genomic evidence of a rankings row: the carried feature in words and its effect."""
    from rxrank.genomics import parse_feature

    feature = r.get("genomic_feature")
    effect = to_float(r.get("genomic_effect"))
    if is_missing(feature) or not str(feature).strip() or not math.isfinite(effect):
        return None
    parsed = parse_feature(str(feature))
    what = (
        _CARRIES[parsed[0]].format(
            "-".join(parsed[1]) if parsed[0] == "fusion" else "/".join(parsed[1])
        )
        if parsed
        else str(feature)
    )
    return {
        "feature": str(feature),
        "what": what,
        "effect": effect,
        "lower": to_float(r.get("genomic_effect_lower")),
        "upper": to_float(r.get("genomic_effect_upper")),
        "q": to_float(r.get("genomic_q")),
        "n_with": r.get("genomic_n_with"),
        "n_without": r.get("genomic_n_without"),
    }


def _explain(row: Mapping[str, Any], metric: str = "ln IC50") -> dict[str, Any]:
    """Plain-language reasons for one drug's rank, strongest component first.

    Reasons whose standardised component is negative are listed separately as weighing against.
    """
    reasons: list[tuple[str, float, str]] = []  # (component, value, sentence)
    comps = row["components"]
    pct = row["percentile"]
    if math.isfinite(pct):
        more = max(0.0, min(100.0, 100.0 - pct))
        reasons.append(
            (
                "comp_sensitivity",
                comps["comp_sensitivity"],
                f"predicted more sensitive than {more:.0f}% of reference cell lines",
            )
        )
    beats = row["beats_baseline"]
    r_text = f"CV r = {fmt_sig(row['cv_pearson'])}"
    if beats is True:
        sentence = f"its model beats the naive baselines ({r_text})"
    elif beats is False:
        sentence = (
            f"its model does not beat the naive baselines ({r_text}), "
            "so the prediction is unreliable"
        )
    else:
        sentence = f"model reliability unknown ({r_text})"
    reasons.append(("comp_reliability", comps["comp_reliability"], sentence))
    tz = row["target_z"]
    genes = [clip_text(g, NAME_MAX) for g in row["target_genes"]]
    if math.isfinite(tz) and genes:
        what = (
            f"{genes[0]} expression"
            if len(genes) == 1
            else (f"target expression ({', '.join(genes)})")
        )
        side = "above" if tz >= 0 else "below"
        reasons.append(
            (
                "comp_target",
                comps["comp_target"],
                f"{what} is {fmt_sig(abs(tz))} SD {side} the cohort mean",
            )
        )
    if math.isfinite(row["hr"]):
        ci = fmt_interval(row["hr_lower"], row["hr_upper"])
        hr = f"{fmt_sig(row['hr'])} {ci}" if ci else fmt_sig(row["hr"])
        reasons.append(
            (
                "comp_survival",
                comps["comp_survival"],
                f"observational survival HR {hr} in treated cohort patients",
            )
        )
    if not is_missing(row["module_evidence"]) and str(row["module_evidence"]).strip():
        reasons.append(
            (
                "comp_module",
                comps["comp_module"],
                f"co-expression evidence: {clip_text(str(row['module_evidence']).strip(), 2 * CELL_MAX)}",
            )
        )
    g = row.get("genomic")
    if g:
        side = "more sensitive" if g["effect"] < 0 else "more resistant"
        ci = (
            fmt_interval(abs(g["upper"]), abs(g["lower"]))
            if g["effect"] < 0
            else fmt_interval(g["lower"], g["upper"])
        )
        n = f"{fmt_sig(g['n_with'])} vs {fmt_sig(g['n_without'])} lines"
        reasons.append(
            (
                "comp_genomic",
                row["components"].get("comp_genomic", math.nan),
                f"carries {_article(g['what'])} {clip_text(g['what'], NAME_MAX)}: cell lines with "
                f"it are {side} to "
                f"{clip_text(row['drug'], NAME_MAX)} ({metric} {fmt_sig(abs(g['effect']))} "
                f"{'lower' if g['effect'] < 0 else 'higher'} {ci}, tissue-adjusted; "
                f"q {fmt_sig(g['q'])}, {n})",
            )
        )
    supporting = [r for r in reasons if not (r[1] < 0)]  # NaN components count as supporting
    against = [r for r in reasons if r[1] < 0]
    supporting.sort(key=lambda r: -r[1] if math.isfinite(r[1]) else math.inf)
    against.sort(key=lambda r: r[1])
    rank = row["rank"]
    try:
        ordinal = ORDINALS.get(int(rank), f"#{int(rank)}")
    except (TypeError, ValueError):
        ordinal = f"#{rank}"
    return {
        "drug": row["drug"],
        "ordinal": ordinal,
        "tier": row["tier"],
        "supporting": [r[2] for r in supporting],
        "against": [r[2] for r in against],
        "flags": row["flags"],
    }


def _reference_figure(cohort: Cohort, row: Mapping[str, Any]) -> dict[str, Any]:
    drug = row["drug"]
    ref = cohort.reference.get(drug)
    out: dict[str, Any] = {"drug": drug, "svg": None, "n_lines": 0, "row": row}
    if ref is None or not len(ref):
        return out
    out["svg"] = Markup(
        figs.reference_response(
            ref,
            predicted=row["predicted"],
            lower=row["lower"],
            upper=row["upper"],
            title=drug,
            xlabel=f"{cohort.metric}; lower = more sensitive",
            name=f"{clip_text(drug, NAME_MAX)}: reference cell-line responses and the prediction",
        )
    )
    out["n_lines"] = int(np.isfinite(ref).sum())
    return out


def _prognosis_section(cohort: Cohort, patient_id: str) -> dict[str, Any] | None:
    p = cohort.prognosis
    if patient_id not in p.index:
        return None
    rec = p.loc[patient_id]
    group = rec.get("risk_group")
    group = None if is_missing(group) else str(group)
    curve = cohort.curves[patient_id] if patient_id in cohort.curves.columns else None
    svg = None
    if len(cohort.km) or curve is not None:
        svg = Markup(
            cohort.survival_figure.render(
                curve,
                group,
                name="Predicted survival of this patient and the cohort by risk group",
            )
        )
    median = to_float(rec.get("median_survival"))
    return {
        "risk_group": group,
        "risk_score": to_float(rec.get("risk_score")),
        "median": median,
        "median_reached": math.isfinite(median),
        "estimable_until": to_float(rec.get("estimable_until")),
        "median_lower": to_float(rec.get("median_lower")),
        "median_upper": to_float(rec.get("median_upper")),
        "s": [
            (
                f"{float(t):g}",
                to_float(rec.get(f"s_{float(t):g}")),
                to_float(rec.get(f"s_{float(t):g}_lower")),
                to_float(rec.get(f"s_{float(t):g}_upper")),
            )
            for t in cohort.surv.get("times") or (12, 36, 60)
        ],
        "interval_method": (cohort.surv.get("intervals") or {}).get("method"),
        "svg": svg,
        **cohort.survival_summary(),
    }


def _profile_section(cohort: Cohort, patient_id: str) -> dict[str, Any]:
    subtype = cohort.lookup(cohort.obs, patient_id, "subtype")
    clinical = []
    if patient_id in cohort.obs.index:
        for col, val in cohort.obs.loc[patient_id].items():
            if col == "subtype":
                continue
            clinical.append((str(col), val))
    svg = None
    umap = cohort.umap_figure
    if umap is not None:
        svg = Markup(
            umap.render(
                patient_id, name="Cohort UMAP coloured by subtype; the star marks this patient"
            )
        )
    n_subtype = (
        int(cohort.subtype_counts.get(str(subtype), 0))
        if subtype is not None and "subtype" in cohort.obs.columns
        else None
    )
    return {
        "subtype": None if is_missing(subtype) else str(subtype),
        "n_subtype": n_subtype,
        "n_cohort": len(cohort.obs),
        "clinical": clinical,
        "svg": svg,
        # a sampled UMAP says so in its caption: "2,000 of 11,000 patients drawn"
        "drawn": (umap.n_drawn, umap.n_total) if umap is not None and umap.sampled else None,
    }


def _similar_section(
    cohort: Cohort, patient_id: str, top: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The reference lines most like the patient, with their measured response to the top drugs."""
    lines = cohort.similar.get(str(patient_id))
    if lines is None or not len(lines):
        return None
    drugs = [r["drug"] for r in top]
    rows = []
    for rec in lines.sort_values("rank").to_dict("records"):
        line = str(rec["cell_line"])
        measured = [to_float(cohort.measured.get((line, d), math.nan)) for d in drugs]
        rows.append(
            {"line": line, "tissue": rec.get("tissue"), "r": to_float(rec.get("r")),
             "measured": measured}
        )  # fmt: skip
    return {"drugs": drugs, "rows": rows}


def _target_section(
    cohort: Cohort, patient_id: str, top: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    rows: list[tuple[str, str, float]] = []  # (gene, drug, z)
    seen: set[str] = set()
    missing: list[str] = []
    have = patient_id in cohort.target_z.index
    for r in top:
        for gene in r["target_genes"]:
            if gene in seen:
                continue
            seen.add(gene)
            if have and gene in cohort.target_z.columns:
                rows.append((gene, r["drug"], to_float(cohort.target_z.at[patient_id, gene])))
            else:
                missing.append(gene)
    rows = rows[:MAX_TARGET_GENES]
    svg = None
    if rows:
        labels = [f"{clip_text(g, 12)} ({clip_text(d, 14)})" for g, d, _ in rows]
        z = pd.Series([z for _, _, z in rows], index=labels)
        svg = Markup(figs.target_z(z, name="Expression z-scores of the top drugs' target genes"))
    return {"rows": rows, "missing": missing, "svg": svg}


def _caveats(cohort: Cohort, ranked: pd.DataFrame) -> list[str]:
    """The page's caveats, over every ranked drug (``ranked``: the patient's rankings rows)."""
    out: list[str] = []
    drugs = [str(d) for d in _column(ranked, "drug")]
    total = len(drugs)
    beats = _column(ranked, "beats_baseline")
    unreliable = [d for d, b in zip(drugs, beats, strict=True) if to_bool(b) is False]
    if unreliable:
        out.append(
            f"{_count(len(unreliable), total)} no reliable model (the model does not beat "
            f"the drug-mean and tissue-drug-mean baselines in cross-validation) and rank below all "
            "drugs that do: "
            f"{_listing(unreliable)}."
        )
    for comp in COMPONENTS:
        missing = ~np.isfinite(_floats(ranked, comp))
        lacking = [d for d, m in zip(drugs, missing, strict=True) if m]
        if lacking:
            out.append(
                f"No {COMPONENT_NAMES[comp]} for {len(lacking)} of {total} drugs "
                f"({_listing(lacking)}); their score uses the remaining components."
            )
    s = cohort.survival_summary()
    n = s["n"]
    events = s["events"]
    basis = f" ({n} patients, {events} events)" if n is not None and events is not None else ""
    out.append(
        "Survival hazard ratios for drugs come from treatments recorded in the cohort's "
        f"clinical data{basis}. They are observational associations, open to confounding by "
        "indication and selection, not randomised treatment effects."
    )
    if s["ph_violations"]:
        out.append(
            "The proportional-hazards check flagged "
            f"{_listing(s['ph_violations'])}; their hazard ratios may vary over time."
        )
    out.append(
        "Drug sensitivity is predicted from models trained on cancer cell lines; cell-line "
        "response does not account for pharmacokinetics, toxicity, the tumour "
        "microenvironment or prior treatment."
    )
    return out


def _outcome_patient(cohort: Cohort, patient_id: str) -> dict[str, Any] | None:
    """This patient's out-of-fold probability from the best outcome classifier."""
    summary, table = cohort.outcome_summary, cohort.outcome_probability
    if not summary["available"] or patient_id not in table.index:
        return None
    best = next((r for r in summary["rows"] if r["best"]), None)
    return {
        "column": summary["column"],
        "probability": to_float(table.at[patient_id, "probability"]),
        "model": summary["best_model"],
        "auroc": best["auroc"] if best else math.nan,
        "auroc_sd": best["auroc_sd"] if best else math.nan,
        "beats": summary["best_beats"],
    }
