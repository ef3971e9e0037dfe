"""The context of the cohort index: one row per patient linking to its page, the cohort's QC,
subtypes, modules, outcome classifiers, survival and model skill, and every rank in one heatmap
(:func:`index_context`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from . import _figures as figs
from ._bundle import safe_filename
from ._cohort import TOP_N, Cohort, str_index, to_bool
from ._env import fmt_text

__all__ = ["index_context"]


def _url_quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _qc_summary(cohort: Cohort) -> dict[str, Any] | None:
    qc = str_index(cohort.bundle.qc)
    if qc is None or not len(qc):
        return None
    flagged = qc.index[qc["qc_outlier"].astype(bool)] if "qc_outlier" in qc else []
    stats = [  # log-scale or TPM input has no counts to measure: its columns are empty
        (label, qc[col].median(), qc[col].min(), qc[col].max())
        for col, label in (("total_counts", "library size"), ("n_genes", "detected genes"))
        if col in qc and pd.to_numeric(qc[col], errors="coerce").notna().any()
    ]
    pseudonyms = cohort.pseudonyms
    return {
        "n": len(qc),
        "stats": stats,
        "flagged": [pseudonyms.get(str(pid), str(pid)) for pid in flagged],
    }


def _nearest_tissues(cohort: Cohort) -> list[tuple[str, int]]:
    """How often each tissue is that of a patient's most similar reference line."""
    firsts = [
        str(t.sort_values("rank")["tissue"].iloc[0]) if len(t) else ""
        for t in cohort.similar.values()
    ]
    counts = pd.Series([f or "(no tissue)" for f in firsts], dtype=object).value_counts()
    return [(str(k), int(v)) for k, v in counts.items()]


def _subtype_summary(cohort: Cohort) -> dict[str, Any] | None:
    if "subtype" not in cohort.obs.columns:
        return None
    counts = cohort.obs["subtype"].astype(str).value_counts()
    order = sorted(counts.index, key=figs._natural_key)
    umap = cohort.umap_figure
    svg = Markup(umap.render()) if umap is not None else None
    drawn = (umap.n_drawn, umap.n_total) if umap is not None and umap.sampled else None
    return {"counts": [(k, int(counts[k])) for k in order], "svg": svg, "drawn": drawn}


def _module_summary(cohort: Cohort) -> dict[str, Any] | None:
    mt = cohort.bundle.module_traits
    if mt is None or not len(mt) or not {"module", "trait", "r"} <= set(mt.columns):
        return None
    r = mt.pivot_table(index="module", columns="trait", values="r", sort=False)
    r = r.loc[sorted(r.index, key=figs._natural_key)]
    stars = None
    n_sig = 0
    if "q" in mt.columns:
        q = mt.pivot_table(index="module", columns="trait", values="q", sort=False)
        q = q.reindex(index=r.index, columns=r.columns)
        n_sig = int((q < 0.05).sum().sum())
        stars = pd.DataFrame(
            np.where(q.to_numpy(float) < 0.05, "*", ""), index=r.index, columns=r.columns
        )
    svg = figs.heatmap(
        r,
        kind="diverging",
        lim=1.0,
        value_label="Pearson r",
        cell_text=stars,
        name="Module eigengenes against traits (Pearson r; * BH q < 0.05)",
    )
    return {"svg": Markup(svg), "n_modules": len(r), "n_traits": r.shape[1], "n_sig": n_sig}


def _rank_heatmap(cohort: Cohort) -> Markup | None:
    """Patients (rows, grouped by subtype) x drugs (columns, by median rank) coloured by rank."""
    rk = cohort.bundle.rankings
    if not len(rk):
        return None
    ranks = rk.assign(patient_id=rk["patient_id"].astype(str)).pivot_table(
        index="patient_id", columns="drug", values="rank", aggfunc="min"
    )
    ranks = ranks[ranks.median().sort_values(kind="stable").index]
    order = ranks.idxmin(axis=1).map({d: i for i, d in enumerate(ranks.columns)})
    keys = pd.DataFrame({"top": order})
    if "subtype" in cohort.obs.columns:
        keys["subtype"] = cohort.obs["subtype"].reindex(ranks.index).astype(str)
        keys = keys.sort_values(["subtype", "top"], kind="stable")
    else:
        keys = keys.sort_values("top", kind="stable")
    ranks = ranks.loc[keys.index]
    pseudonyms = cohort.pseudonyms
    ranks.index = [pseudonyms.get(pid, pid) for pid in ranks.index]
    svg = figs.heatmap(
        ranks,
        kind="sequential",
        value_label="rank (1 = top)",
        name="Rank of every drug for every patient (dark = ranked high)",
    )
    return Markup(svg)


def index_context(cohort: Cohort, folders: dict[str, str] | None = None) -> dict[str, Any]:
    """The template context of ``index.html``; ``folders`` maps a patient to the folder of their
    page (relative to the index, e.g. ``pages/001``), else pages sit beside the index."""
    folders = folders or {}
    rows = []
    for pid in cohort.patients:
        ranked = cohort.ranking(pid)
        first = ranked.iloc[0]
        rows.append(
            {
                "href": "./"
                + "".join(
                    _url_quote(part) + "/" for part in folders.get(pid, "").split("/") if part
                )
                + _url_quote(safe_filename(pid)),
                "pseudonym": cohort.pseudonym(pid),
                "subtype": cohort.lookup(cohort.obs, pid, "subtype"),
                "risk_group": cohort.lookup(cohort.prognosis, pid, "risk_group"),
                "top_drug": str(first["drug"]),
                "top_tier": first.get("tier"),
                "top_reliable": to_bool(first.get("beats_baseline")),
                "top3": [str(d) for d in ranked["drug"].head(TOP_N)],
            }
        )
    by_drug = Counter(r["top_drug"] for r in rows).most_common()
    by_tier = sorted(Counter(fmt_text(r["top_tier"]) for r in rows).items(), key=lambda kv: kv[0])
    by_risk = Counter(fmt_text(r["risk_group"]) for r in rows)
    risk_order = ["low", "intermediate", "high"]
    by_risk_list = [(g, by_risk[g]) for g in risk_order if g in by_risk] + sorted(
        (g, c) for g, c in by_risk.items() if g not in risk_order
    )
    metrics = cohort.bundle.metrics
    model_rows = [
        {
            "drug": str(r["drug"]),
            "n_lines": r.get("n_lines"),
            "model": r.get("model"),
            "cv_pearson": r.get("cv_pearson"),
            "cv_normalised_pearson": r.get("cv_normalised_pearson"),
            "cv_rmse": r.get("cv_rmse"),
            "baseline_rmse": r.get("baseline_rmse"),
            "tissue_baseline_rmse": r.get("tissue_baseline_rmse"),
            "beats_baseline": to_bool(r.get("beats_baseline")),
        }
        for r in metrics.sort_values("rmse_ratio").to_dict("records")
    ]
    skill_figure = None
    if len(metrics) and "rmse_ratio" in metrics:
        skill_figure = Markup(figs.model_skill(metrics))
    return {
        **cohort.common(),
        "qc": _qc_summary(
            cohort,
        ),
        "outcome": cohort.outcome_summary,
        "nearest_tissues": _nearest_tissues(cohort),
        "subtypes": _subtype_summary(
            cohort,
        ),
        "modules": _module_summary(
            cohort,
        ),
        "km_figure": Markup(cohort.survival_figure.render()) if len(cohort.km) else None,
        "rank_figure": _rank_heatmap(
            cohort,
        ),
        "rows": rows,
        "model_rows": model_rows,
        "skill_figure": skill_figure,
        "n_patients": len(rows),
        "n_drugs": int(cohort.bundle.rankings["drug"].nunique()),
        "by_drug": by_drug,
        "by_tier": by_tier,
        "by_risk": by_risk_list,
        "n_unreliable_top": sum(1 for r in rows if r["top_reliable"] is False),
        "survival": cohort.survival_summary(),
    }
