"""Rendering of the per-patient and cohort HTML reports.

This module turns the stage outputs (a :class:`ReportBundle`) into template contexts and renders
them with Jinja2. It decides what to say and which figures to draw; the figures themselves live in
:mod:`rxrank.report._figures` and the layout in ``templates/``. Templates only format: every number
reaches them raw and is formatted by a filter (:func:`fmt_sig` and friends).

Safety: autoescaping is on for every template, so every string that came from an input file (drug
names, patient IDs, pathways, clinical values) is escaped; the only unescaped insertions are the
package's own stylesheet and the SVG figures, which escape every label they draw.
Display spoofing: every user string is shown through :func:`display_text` (the ``display`` filter)
or :func:`rxrank.report._svg.short_text`, which show invisible and direction-changing characters
escaped (a right-to-left override reads ``\\u202e``) and shorten long strings with an ellipsis,
the full value in a ``title``; the finished page is cleaned once more as a whole. With
pseudonymisation on, ages of 90 and over are shown as "90+" (HIPAA Safe Harbor).
Pages load nothing: a Content-Security-Policy forbids every source except inline styles and
``data:`` images, there are no scripts, and the finished page is checked for ``http(s)://``; any
left (which can only come from input text) is defanged to ``http[:]//``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from rxrank.errors import RxrankInputError
from rxrank.identifiers import id_problem, normalise_id
from rxrank.io import atomic_path

from . import _figures as figs
from ._svg import clean_text, short_text

__all__ = ["ReportBundle", "fmt_sig", "render_index", "render_patient", "write_reports"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
NA = "\u2013"  # en dash for missing values
TOP_N = 3  # drugs explained in the summary and drawn against the reference
MAX_TARGET_GENES = 15
CELL_MAX = 60  # characters of a user string in a table cell or heading before it is shortened
NAME_MAX = 40  # a name inside a sentence, a list or a short cell (genes, flags, column names)
AGE_TOP = 90  # HIPAA Safe Harbor: ages from 90 on are one group, shown as "90+"
_URL = re.compile(r"(?i)\b(https?):(//)")
_SPLIT_GENES = re.compile(r"[;,|]")

COMPONENTS = ("comp_sensitivity", "comp_reliability", "comp_target", "comp_survival", "comp_module")
COMPONENT_NAMES = {
    "comp_sensitivity": "predicted sensitivity",
    "comp_reliability": "model reliability",
    "comp_target": "target expression",
    "comp_survival": "survival evidence",
    "comp_module": "co-expression module evidence",
}
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


@dataclass
class ReportBundle:
    """Everything the reports read, as loaded from the stage outputs (see docs/outputs.md).

    Tables indexed by patient may instead carry ``patient_id`` as a column; IDs are compared as
    strings.
    """

    rankings: pd.DataFrame
    metrics: pd.DataFrame
    reference_response: pd.DataFrame
    prognosis: pd.DataFrame
    km: pd.DataFrame
    patient_curves: pd.DataFrame
    survival_metrics: dict
    obs: pd.DataFrame
    umap: pd.DataFrame
    target_z: pd.DataFrame
    provenance: dict
    pseudonyms: dict
    cohort_name: str
    tier_table: list = field(default_factory=list)
    response_metric: str = "ln_ic50"
    qc: pd.DataFrame | None = None  # per patient: total_counts, n_genes, qc_outlier
    module_traits: pd.DataFrame | None = None  # module, trait, r, p, q
    pseudonymised: bool = True  # IDs shown are pseudonyms (labels say so) or the original IDs
    age_column: str | None = "age"  # obs column of ages: shown as "90+" from 90 on if pseudonymised
    outcome_metrics: pd.DataFrame | None = None  # survival/outcome_metrics.tsv
    outcome_calibration: pd.DataFrame | None = None  # survival/outcome_calibration.tsv
    outcome_patients: pd.DataFrame | None = None  # survival/outcome_patients.tsv


# ----------------------------------------------------------------------------------------- filters


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False


def fmt_sig(value: Any, digits: int = 2) -> str:
    """Format a number with ``digits`` significant digits (integers are never truncated).

    Missing and non-finite values become an en dash. ``fmt_sig(96.4) == "96"``,
    ``fmt_sig(0.7123) == "0.71"``, ``fmt_sig(1234.5) == "1235"``, ``fmt_sig(float("nan")) == "–"``.
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if _is_missing(value):
        return NA
    if isinstance(value, str):
        return value if value.strip() else NA
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if x == 0:
        return "0"
    x = float(f"{x:.{digits}g}") if abs(x) < 10**digits else x
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude < -4:
        return f"{x:.{digits}g}"
    decimals = max(digits - 1 - magnitude, 0)
    out = f"{x:.{decimals}f}"
    return "0" if out in ("-0", "-0.0") else out


def fmt_percent(value: Any, scale: float = 100.0) -> str:
    """A fraction (0-1, or 0-100 with ``scale=1``) as a whole percentage; missing -> en dash."""
    if _is_missing(value):
        return NA
    return f"{float(value) * scale:.0f}%"


def fmt_interval(lower: Any, upper: Any, digits: int = 2) -> str:
    """``[lower, upper]``, or an empty string when both ends are missing."""
    if _is_missing(lower) and _is_missing(upper):
        return ""
    return f"[{fmt_sig(lower, digits)}, {fmt_sig(upper, digits)}]"


def fmt_text(value: Any) -> str:
    """A string cell: missing -> en dash, otherwise the text (escaped later by autoescape)."""
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return NA
    return str(value)


def display_text(value: Any, max_len: int | None = CELL_MAX) -> Markup:
    """A user string as HTML: invisible and bidi characters shown escaped, shortened, escaped.

    Missing values become an en dash. Bidi controls (U+202A-E, U+2066-9, U+200E/F, U+061C) and
    other invisible characters are shown as their escape (``\\u202e``, see
    :func:`rxrank.report._svg.clean_text`), so "Ven\\u202egnp.exe" cannot read as "Venexe.png".
    A text longer than ``max_len`` characters is cut with an ellipsis inside
    ``<span class="clip" title="...">`` holding the full (cleaned, escaped) value.
    Registered as the ``display`` filter: ``{{ row.drug|display }}``, ``{{ gene|display(40) }}``.
    """
    shown, full = short_text(fmt_text(value), max_len)
    if shown == full:
        return escape(shown)
    return Markup('<span class="clip" title="{}">{}</span>').format(full, shown)


def clip_text(value: Any, max_len: int | None = CELL_MAX) -> str:
    """Plain-text :func:`display_text` (no markup, no title): for ``<title>``, sentences and
    figure captions. Autoescaping still escapes the result."""
    return short_text(fmt_text(value), max_len)[0]


def fmt_age(value: Any) -> Any:
    """An age as shown when pseudonymised: 90 and over -> "90+", others in whole years.

    Values that are not numbers are returned as they are (shown as text).
    """
    if _is_missing(value) or isinstance(value, (bool, np.bool_)):
        return value
    try:
        age = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return value
    if not math.isfinite(age):
        return value
    return f"{AGE_TOP}+" if age >= AGE_TOP else str(math.floor(age))


def _defang(html: str) -> str:
    return _URL.sub(r"\1[:]\2", html)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["sig"] = fmt_sig
    env.filters["percent"] = fmt_percent
    env.filters["interval"] = fmt_interval
    env.filters["text"] = fmt_text
    env.filters["display"] = display_text
    env.filters["clip"] = clip_text
    return env


@cache
def _stylesheet() -> str:
    return (HERE / "style.css").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ helpers


def _str_index(frame: pd.DataFrame | None, key: str = "patient_id") -> pd.DataFrame:
    """The frame indexed by ``key`` as strings (a ``key`` column wins over the existing index)."""
    if frame is None:
        return pd.DataFrame()
    if key in frame.columns:
        frame = frame.set_index(key)
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    frame.index.name = key
    return frame


def _genes(text: Any) -> list[str]:
    if _is_missing(text):
        return []
    return [g.strip() for g in _SPLIT_GENES.split(str(text)) if g.strip()]


def _flags(text: Any) -> list[str]:
    if _is_missing(text):
        return []
    return [f.strip() for f in str(text).split(";") if f.strip()]


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def _bool(value: Any) -> bool | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _metric_label(metric: str) -> str:
    return {"ln_ic50": "ln IC50", "auc": "AUC"}.get(metric, metric)


def _safe_filename(patient_id: str) -> str:
    """The page's file name; the ID rules of every reader, checked again where the file is made."""
    problem = id_problem(patient_id) or (
        None if patient_id == normalise_id(patient_id) else "holds invisible characters"
    )
    if problem:
        raise RxrankInputError(
            f"a patient ID {problem} and cannot be used as a report file name. Rename the patient "
            "in the clinical table and the expression file."
        )
    return f"{patient_id}.html"


# ------------------------------------------------------------------------------------------ context


class _Cohort:
    """The bundle, indexed once so that rendering thousands of pages stays linear."""

    def __init__(self, bundle: ReportBundle) -> None:
        self.bundle = bundle
        rankings = bundle.rankings.copy()
        rankings["patient_id"] = rankings["patient_id"].astype(str)
        rankings = rankings.sort_values(["patient_id", "rank"], kind="stable")
        self.patients: list[str] = list(dict.fromkeys(bundle.rankings["patient_id"].astype(str)))
        self.by_patient = {str(k): v for k, v in rankings.groupby("patient_id", sort=False)}
        ref = bundle.reference_response
        self.reference = (
            {str(k): v.to_numpy(float) for k, v in ref.groupby("drug")["value"]}
            if ref is not None and len(ref)
            else {}
        )
        metrics = bundle.metrics if bundle.metrics is not None else pd.DataFrame()
        self.metrics = (
            metrics.assign(drug=metrics["drug"].astype(str)).set_index("drug")
            if "drug" in metrics.columns
            else metrics
        )
        self.prognosis = _str_index(bundle.prognosis)
        self.obs = _str_index(bundle.obs)
        age = bundle.age_column
        if bundle.pseudonymised and age and age in self.obs.columns:  # Safe Harbor: 90+
            self.obs[age] = self.obs[age].map(fmt_age).astype(object)
        self.umap = _str_index(bundle.umap)
        self.target_z = _str_index(bundle.target_z)
        curves = bundle.patient_curves
        if curves is not None and "time" in curves.columns:
            curves = curves.set_index("time")
        self.curves = curves if curves is not None else pd.DataFrame()
        if len(self.curves.columns):
            self.curves.columns = self.curves.columns.astype(str)
        self.km = bundle.km if bundle.km is not None else pd.DataFrame()
        self.surv = dict(bundle.survival_metrics or {})
        self.time_unit = clip_text(self.surv.get("time_unit") or "months", NAME_MAX)
        self.metric = clip_text(_metric_label(bundle.response_metric), NAME_MAX)
        self.pseudonyms = {str(k): str(v) for k, v in (bundle.pseudonyms or {}).items()}
        self._common: dict[str, Any] | None = None
        self.outcome_probability = _str_index(bundle.outcome_patients)
        self.survival_figure = figs.SurvivalFigure(
            self.km if len(self.km) else pd.DataFrame(columns=["group", "time", "survival"]),
            time_unit=self.time_unit,
            t_max=_curve_end(self.km, self.curves),
        )
        has_umap = len(self.umap) and {"umap1", "umap2"} <= set(self.umap.columns)
        self.umap_figure = figs.UmapFigure(self.umap, self.obs.get("subtype")) if has_umap else None

    # -- shared pieces -----------------------------------------------------------------------------

    def pseudonym(self, patient_id: str) -> str:
        try:
            return self.pseudonyms[patient_id]
        except KeyError:
            raise ValueError(
                f"no pseudonym for patient {patient_id!r}; reports never show raw patient IDs. "
                "Pass the pseudonyms from rxrank.privacy for every patient in the rankings."
            ) from None

    def ranking(self, patient_id: str) -> pd.DataFrame:
        try:
            return self.by_patient[patient_id]
        except KeyError:
            raise KeyError(f"patient {patient_id!r} is not in the rankings") from None

    def lookup(self, frame: pd.DataFrame, patient_id: str, column: str) -> Any:
        if column in frame.columns and patient_id in frame.index:
            return frame.at[patient_id, column]
        return None

    def common(self) -> dict[str, Any]:
        """Context shared by every page (computed once per cohort)."""
        if self._common is None:
            prov = self.bundle.provenance or {}
            self._common = {
                "css": Markup(_stylesheet()),
                "id_label": "Patient (pseudonym)" if self.bundle.pseudonymised else "Patient",
                "cohort_name": self.bundle.cohort_name,
                "created": prov.get("created"),
                "rxrank_version": prov.get("rxrank_version"),
                "provenance": self.provenance(),
            }
        return self._common

    def provenance(self) -> dict[str, Any]:
        prov = self.bundle.provenance or {}
        libraries = prov.get("libraries")
        checksums = prov.get("input_checksums") or {}
        return {
            "rxrank_version": prov.get("rxrank_version"),
            "created": prov.get("created"),
            "config_hash": prov.get("config_hash"),
            "libraries": sorted((str(k), str(v)) for k, v in dict(libraries or {}).items()),
            "checksums": sorted((str(k), str(v)) for k, v in dict(checksums).items()),
            "tier_table": [(str(t), str(d)) for t, d in (self.bundle.tier_table or [])],
            "survival": self.survival_summary(),
            "n_drugs": int(len(self.metrics)),
            "n_reliable": sum(_bool(v) is True for v in self.metrics["beats_baseline"])
            if "beats_baseline" in self.metrics.columns
            else None,
        }

    def survival_summary(self) -> dict[str, Any]:
        s = self.surv
        covariates = s.get("covariates") or []
        if isinstance(covariates, str):
            covariates = [covariates]
        ph = s.get("ph_violations") or []
        if isinstance(ph, str):
            ph = [ph]
        return {
            "n": s.get("n"),
            "events": s.get("events"),
            "covariates": [str(c) for c in covariates],
            "penalizer": s.get("penalizer"),
            "cindex": s.get("cv_cindex_mean"),
            "cindex_sd": s.get("cv_cindex_sd"),
            "ph_violations": [str(p) for p in ph] if isinstance(ph, (list, tuple)) else [],
            "n_ph_violations": len(ph) if isinstance(ph, (list, tuple)) else ph,
            "logrank_p": s.get("logrank_p"),
            "time_unit": self.time_unit,
        }

    # -- patient page ------------------------------------------------------------------------------

    def patient(self, patient_id: str, *, max_rows: int) -> dict[str, Any]:
        patient_id = str(patient_id)
        ranked = self.ranking(patient_id)
        pseudonym = self.pseudonym(patient_id)
        rows = [self.table_row(r) for r in ranked.to_dict("records")]
        top = rows[:TOP_N]
        return {
            **self.common(),
            "pseudonym": pseudonym,
            "metric": self.metric,
            "summary": [self.explain(r) for r in top],
            "rows": rows[:max_rows],
            "more_rows": rows[max_rows:],
            "n_drugs": len(rows),
            "reference_figures": [self.reference_figure(r) for r in top],
            "prognosis": self.prognosis_section(patient_id),
            "outcome": self.outcome_patient(patient_id),
            "profile": self.profile_section(patient_id),
            "targets": self.target_section(patient_id, top),
            "caveats": self.caveats(rows),
        }

    def table_row(self, r: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "rank": r.get("rank"),
            "drug": str(r.get("drug")),
            "pathway": None if fmt_text(r.get("pathway")) == NA else str(r.get("pathway")),
            "tier": r.get("tier"),
            "score": _float(r.get("score")),
            "predicted": _float(r.get("predicted")),
            "lower": _float(r.get("lower")),
            "upper": _float(r.get("upper")),
            "percentile": _float(r.get("percentile")),
            "cv_pearson": _float(r.get("cv_pearson")),
            "beats_baseline": _bool(r.get("beats_baseline")),
            "target_genes": _genes(r.get("target_genes")),
            "target_z": _float(r.get("target_z")),
            "hr": _float(r.get("survival_hr")),
            "hr_lower": _float(r.get("survival_hr_lower")),
            "hr_upper": _float(r.get("survival_hr_upper")),
            "module_evidence": r.get("module_evidence"),
            "flags": _flags(r.get("flags")),
            "components": {c: _float(r.get(c)) for c in COMPONENTS},
        }

    def explain(self, row: Mapping[str, Any]) -> dict[str, Any]:
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
            sentence = f"its model beats the drug-mean baseline ({r_text})"
        elif beats is False:
            sentence = (
                f"its model does not beat the drug-mean baseline ({r_text}), "
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
        if not _is_missing(row["module_evidence"]) and str(row["module_evidence"]).strip():
            reasons.append(
                (
                    "comp_module",
                    comps["comp_module"],
                    f"co-expression evidence: {clip_text(str(row['module_evidence']).strip(), 2 * CELL_MAX)}",
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

    def reference_figure(self, row: Mapping[str, Any]) -> dict[str, Any]:
        drug = row["drug"]
        ref = self.reference.get(drug)
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
                xlabel=f"{self.metric} (lower = more sensitive)"
                if self.metric == "ln IC50"
                else self.metric,
                name=f"{clip_text(drug, NAME_MAX)}: reference cell-line responses and "
                "the prediction",
            )
        )
        out["n_lines"] = int(np.isfinite(ref).sum())
        return out

    def prognosis_section(self, patient_id: str) -> dict[str, Any] | None:
        p = self.prognosis
        if patient_id not in p.index:
            return None
        rec = p.loc[patient_id]
        group = rec.get("risk_group")
        group = None if _is_missing(group) else str(group)
        curve = self.curves[patient_id] if patient_id in self.curves.columns else None
        svg = None
        if len(self.km) or curve is not None:
            svg = Markup(
                self.survival_figure.render(
                    curve,
                    group,
                    name="Predicted survival of this patient and the cohort by risk group",
                )
            )
        median = _float(rec.get("median_survival"))
        return {
            "risk_group": group,
            "risk_score": _float(rec.get("risk_score")),
            "median": median,
            "median_reached": math.isfinite(median),
            "median_lower": _float(rec.get("median_lower")),
            "median_upper": _float(rec.get("median_upper")),
            "s": [
                (
                    f"{float(t):g}",
                    _float(rec.get(f"s_{float(t):g}")),
                    _float(rec.get(f"s_{float(t):g}_lower")),
                    _float(rec.get(f"s_{float(t):g}_upper")),
                )
                for t in self.surv.get("times") or (12, 36, 60)
            ],
            "interval_method": (self.surv.get("intervals") or {}).get("method"),
            "svg": svg,
            **self.survival_summary(),
        }

    def profile_section(self, patient_id: str) -> dict[str, Any]:
        subtype = self.lookup(self.obs, patient_id, "subtype")
        clinical = []
        if patient_id in self.obs.index:
            for col, val in self.obs.loc[patient_id].items():
                if col == "subtype":
                    continue
                clinical.append((str(col), val))
        svg = None
        if self.umap_figure is not None:
            svg = Markup(
                self.umap_figure.render(
                    patient_id, name="Cohort UMAP coloured by subtype; the star marks this patient"
                )
            )
        n_subtype = (
            int((self.obs["subtype"].astype(str) == str(subtype)).sum())
            if subtype is not None and "subtype" in self.obs.columns
            else None
        )
        return {
            "subtype": None if _is_missing(subtype) else str(subtype),
            "n_subtype": n_subtype,
            "n_cohort": len(self.obs),
            "clinical": clinical,
            "svg": svg,
        }

    def target_section(self, patient_id: str, top: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        rows: list[tuple[str, str, float]] = []  # (gene, drug, z)
        seen: set[str] = set()
        missing: list[str] = []
        have = patient_id in self.target_z.index
        for r in top:
            for gene in r["target_genes"]:
                if gene in seen:
                    continue
                seen.add(gene)
                if have and gene in self.target_z.columns:
                    rows.append((gene, r["drug"], _float(self.target_z.at[patient_id, gene])))
                else:
                    missing.append(gene)
        rows = rows[:MAX_TARGET_GENES]
        svg = None
        if rows:
            labels = [f"{clip_text(g, 12)} ({clip_text(d, 14)})" for g, d, _ in rows]
            z = pd.Series([z for _, _, z in rows], index=labels)
            svg = Markup(
                figs.target_z(z, name="Expression z-scores of the top drugs' target genes")
            )
        return {"rows": rows, "missing": missing, "svg": svg}

    def caveats(self, rows: list[dict[str, Any]]) -> list[str]:
        out: list[str] = []
        unreliable = [r["drug"] for r in rows if r["beats_baseline"] is False]
        if unreliable:
            out.append(
                f"{_count(len(unreliable), len(rows))} no reliable model (the model does not beat "
                f"the drug-mean baseline in cross-validation) and rank below all drugs that do: "
                f"{_listing(unreliable)}."
            )
        for comp in COMPONENTS:
            lacking = [r["drug"] for r in rows if not math.isfinite(r["components"][comp])]
            if lacking:
                out.append(
                    f"No {COMPONENT_NAMES[comp]} for {len(lacking)} of {len(rows)} drugs "
                    f"({_listing(lacking)}); their score uses the remaining components."
                )
        s = self.survival_summary()
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

    # -- index page --------------------------------------------------------------------------------

    @cached_property
    def outcome_summary(self) -> dict[str, Any]:
        """The outcome classifiers against the prevalence baseline, or why there are none."""
        info = dict(self.surv.get("outcome") or {})
        metrics = self.bundle.outcome_metrics
        available = bool(info.get("available")) and metrics is not None and len(metrics) > 0
        out: dict[str, Any] = {
            "available": available,
            "column": info.get("column"),
            "note": info.get("note"),
        }
        if not available:
            return out
        rows = [
            {
                "model": str(r["model"]).replace("_", " "),
                "auroc": _float(r.get("auroc_mean")),
                "auroc_sd": _float(r.get("auroc_sd")),
                "pooled": _float(r.get("auroc_pooled")),
                "lower": _float(r.get("auroc_lower")),
                "upper": _float(r.get("auroc_upper")),
                "brier": _float(r.get("brier")),
                "best": _bool(r.get("best")) is True,
                "beats": _bool(r.get("beats_baseline")),
            }
            for r in metrics.to_dict("records")
        ]
        cal = self.bundle.outcome_calibration
        svg = Markup(figs.calibration(cal)) if cal is not None and len(cal) else None
        return {
            **out,
            "rows": rows,
            "svg": svg,
            "n": info.get("n"),
            "positives": info.get("positives"),
            "best_model": str(info.get("best_model") or "").replace("_", " "),
            "best_beats": bool(info.get("best_beats_baseline")),
        }

    def outcome_patient(self, patient_id: str) -> dict[str, Any] | None:
        """This patient's out-of-fold probability from the best outcome classifier."""
        summary, table = self.outcome_summary, self.outcome_probability
        if not summary["available"] or patient_id not in table.index:
            return None
        best = next((r for r in summary["rows"] if r["best"]), None)
        return {
            "column": summary["column"],
            "probability": _float(table.at[patient_id, "probability"]),
            "model": summary["best_model"],
            "auroc": best["auroc"] if best else math.nan,
            "auroc_sd": best["auroc_sd"] if best else math.nan,
            "beats": summary["best_beats"],
        }

    def qc_summary(self) -> dict[str, Any] | None:
        qc = _str_index(self.bundle.qc)
        if qc is None or not len(qc):
            return None
        flagged = qc.index[qc["qc_outlier"].astype(bool)] if "qc_outlier" in qc else []
        stats = [
            (label, qc[col].median(), qc[col].min(), qc[col].max())
            for col, label in (("total_counts", "library size"), ("n_genes", "detected genes"))
            if col in qc
        ]
        pseudonyms = self.pseudonyms
        return {
            "n": len(qc),
            "stats": stats,
            "flagged": [pseudonyms.get(str(pid), str(pid)) for pid in flagged],
        }

    def subtype_summary(self) -> dict[str, Any] | None:
        if "subtype" not in self.obs.columns:
            return None
        counts = self.obs["subtype"].astype(str).value_counts()
        order = sorted(counts.index, key=figs._natural_key)
        svg = Markup(self.umap_figure.render()) if self.umap_figure is not None else None
        return {"counts": [(k, int(counts[k])) for k in order], "svg": svg}

    def module_summary(self) -> dict[str, Any] | None:
        mt = self.bundle.module_traits
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

    def rank_heatmap(self) -> Markup | None:
        """Patients (rows, grouped by subtype) x drugs (columns, by median rank) coloured by rank."""
        rk = self.bundle.rankings
        if not len(rk):
            return None
        ranks = rk.assign(patient_id=rk["patient_id"].astype(str)).pivot_table(
            index="patient_id", columns="drug", values="rank", aggfunc="min"
        )
        ranks = ranks[ranks.median().sort_values(kind="stable").index]
        order = ranks.idxmin(axis=1).map({d: i for i, d in enumerate(ranks.columns)})
        keys = pd.DataFrame({"top": order})
        if "subtype" in self.obs.columns:
            keys["subtype"] = self.obs["subtype"].reindex(ranks.index).astype(str)
            keys = keys.sort_values(["subtype", "top"], kind="stable")
        else:
            keys = keys.sort_values("top", kind="stable")
        ranks = ranks.loc[keys.index]
        pseudonyms = self.pseudonyms
        ranks.index = [pseudonyms.get(pid, pid) for pid in ranks.index]
        svg = figs.heatmap(
            ranks,
            kind="sequential",
            value_label="rank (1 = top)",
            name="Rank of every drug for every patient (dark = ranked high)",
        )
        return Markup(svg)

    def index(self) -> dict[str, Any]:
        rows = []
        for pid in self.patients:
            ranked = self.ranking(pid)
            first = ranked.iloc[0]
            rows.append(
                {
                    "href": "./" + _url_quote(_safe_filename(pid)),
                    "pseudonym": self.pseudonym(pid),
                    "subtype": self.lookup(self.obs, pid, "subtype"),
                    "risk_group": self.lookup(self.prognosis, pid, "risk_group"),
                    "top_drug": str(first["drug"]),
                    "top_tier": first.get("tier"),
                    "top_reliable": _bool(first.get("beats_baseline")),
                    "top3": [str(d) for d in ranked["drug"].head(TOP_N)],
                }
            )
        by_drug = Counter(r["top_drug"] for r in rows).most_common()
        by_tier = sorted(
            Counter(fmt_text(r["top_tier"]) for r in rows).items(), key=lambda kv: kv[0]
        )
        by_risk = Counter(fmt_text(r["risk_group"]) for r in rows)
        risk_order = ["low", "intermediate", "high"]
        by_risk_list = [(g, by_risk[g]) for g in risk_order if g in by_risk] + sorted(
            (g, c) for g, c in by_risk.items() if g not in risk_order
        )
        metrics = self.bundle.metrics
        model_rows = [
            {
                "drug": str(r["drug"]),
                "n_lines": r.get("n_lines"),
                "model": r.get("model"),
                "cv_pearson": r.get("cv_pearson"),
                "cv_normalised_pearson": r.get("cv_normalised_pearson"),
                "cv_rmse": r.get("cv_rmse"),
                "baseline_rmse": r.get("baseline_rmse"),
                "beats_baseline": _bool(r.get("beats_baseline")),
            }
            for r in metrics.sort_values("rmse_ratio").to_dict("records")
        ]
        skill_figure = None
        if len(metrics) and "rmse_ratio" in metrics:
            skill_figure = Markup(figs.model_skill(metrics))
        return {
            **self.common(),
            "qc": self.qc_summary(),
            "outcome": self.outcome_summary,
            "subtypes": self.subtype_summary(),
            "modules": self.module_summary(),
            "km_figure": Markup(self.survival_figure.render()) if len(self.km) else None,
            "rank_figure": self.rank_heatmap(),
            "rows": rows,
            "model_rows": model_rows,
            "skill_figure": skill_figure,
            "n_patients": len(rows),
            "n_drugs": int(self.bundle.rankings["drug"].nunique()),
            "by_drug": by_drug,
            "by_tier": by_tier,
            "by_risk": by_risk_list,
            "n_unreliable_top": sum(1 for r in rows if r["top_reliable"] is False),
            "survival": self.survival_summary(),
        }


def _curve_end(km: pd.DataFrame, curves: pd.DataFrame) -> float:
    """The time axis' end: the last Kaplan-Meier or predicted-curve time (1 if there is none)."""
    ends = [float(km["time"].max())] if len(km) and "time" in km else []
    if len(curves):
        ends.append(float(np.nanmax(curves.index.to_numpy(float))))
    return max(ends) if ends else 1.0


def _count(n: int, total: int) -> str:
    return f"{n} of {total} drug{'s' if total != 1 else ''} {'has' if n == 1 else 'have'}"


def _listing(items: list[str], limit: int = 6) -> str:
    items = [clip_text(item, NAME_MAX) for item in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def _url_quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# --------------------------------------------------------------------------------------- public API


def _render(template: str, context: Mapping[str, Any]) -> str:
    html = _environment().get_template(template).render(**context)
    # the whole page once more: no invisible or bidi character can reach it by any path
    return _defang(clean_text(html))


def render_patient(bundle: ReportBundle, patient_id: str, *, max_rows: int = 15) -> str:
    """The self-contained HTML report of one patient (named by pseudonym only).

    ``max_rows`` drugs are shown in the ranked table; the rest follow in a collapsed table.
    """
    return _render_patient(_Cohort(bundle), str(patient_id), max_rows=max_rows)


def _render_patient(cohort: _Cohort, patient_id: str, *, max_rows: int) -> str:
    return _render("patient.html", cohort.patient(patient_id, max_rows=max_rows))


def render_index(bundle: ReportBundle) -> str:
    """The cohort index: one row per patient linking to ``<patient_id>.html``, plus counts."""
    return _render("index.html", _Cohort(bundle).index())


def write_reports(
    bundle: ReportBundle, outdir: str | Path, *, max_rows: int = 15, sealing: Any = None
) -> list[Path]:
    """Write ``<outdir>/<patient_id>.html`` for every ranked patient and ``<outdir>/index.html``.

    With ``sealing`` (a :class:`rxrank.report.encrypt.Sealing`) every page is encrypted under its
    own passphrase (the index under the passphrase of ``index``) and the passphrases are written to
    ``sealing.passphrase_file``; random passphrases already in it are kept, so a rerun re-encrypts
    each page under the passphrase handed out before. Each file is written atomically. Returns the
    paths, index last.
    """
    outdir = Path(outdir)
    cohort = _Cohort(bundle)
    names = {pid: _safe_filename(pid) for pid in cohort.patients}
    if "index.html" in names.values():
        raise ValueError("a patient called 'index' would overwrite the cohort index; rename it.")
    seal = _Sealer(bundle, sealing)
    written: list[Path] = []
    for pid, name in names.items():
        html = _render_patient(cohort, pid, max_rows=max_rows)
        # passphrases are keyed by file name (the pseudonym in a workflow run)
        written.append(_write(outdir / name, seal(Path(name).stem, html, "patient report")))
    index = _render("index.html", cohort.index())
    written.append(_write(outdir / "index.html", seal("index", index, "cohort index")))
    if sealing is not None:  # merged into the file: other reports' entries are kept
        sealing.save(seal.passphrases)
    log.info("wrote %d patient reports and the index to %s", len(names), outdir)
    return written


class _Sealer:
    """Turns a rendered page into the page written: encrypted when ``sealing`` is given."""

    def __init__(self, bundle: ReportBundle, sealing: Any) -> None:
        self.sealing = sealing
        prov = bundle.provenance or {}
        self.plain = {k: prov.get(k) for k in PLAIN_PROVENANCE if k in prov}
        self.passphrases: dict[str, str] = {}

    def __call__(self, name: str, html: str, kind: str) -> str:
        if self.sealing is None:
            return html
        from .encrypt import encrypt_page

        phrase = self.passphrases[name] = self.sealing.passphrase(name)
        return encrypt_page(
            html, phrase, provenance=self.plain, kind=kind, iterations=self.sealing.iterations
        )


#: provenance kept in plain text on encrypted pages: versions and checksums, no patient data
PLAIN_PROVENANCE = (
    "rxrank_version",
    "python",
    "libraries",
    "config_hash",
    "input_checksums",
    "created",
)


def _write(path: Path, html: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
        tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; reports follow the umask like open()
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
