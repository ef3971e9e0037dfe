"""The bundle indexed once per cohort, and the context every page shares.

:class:`Cohort` indexes a :class:`~rxrank.report._bundle.ReportBundle` once so that rendering
thousands of pages stays linear. It holds what both pages use (pseudonyms, rankings by patient, the
common header and provenance, survival and outcome summaries); the patient page's sections are
built in :mod:`rxrank.report._patient` and the index's in :mod:`rxrank.report._index`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from . import _figures as figs
from ._bundle import ReportBundle
from ._env import NAME_MAX, clip_text, fmt_age, is_missing, stylesheet

__all__ = ["TOP_N", "Cohort", "str_index", "to_bool", "to_float"]

TOP_N = 3  # drugs explained in the summary and drawn against the reference


# ------------------------------------------------------------------------------------------ helpers


def str_index(frame: pd.DataFrame | None, key: str = "patient_id") -> pd.DataFrame:
    """The frame indexed by ``key`` as strings (a ``key`` column wins over the existing index)."""
    if frame is None:
        return pd.DataFrame()
    if key in frame.columns:
        frame = frame.set_index(key)
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    frame.index.name = key
    return frame


def to_float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def to_bool(value: Any) -> bool | None:
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


#: how each response metric is named on the pages, with its unit; every one is lower = more sensitive
METRIC_LABELS = {
    "ln_ic50": "ln IC50 (IC50 in µM)",
    "ln_ec50": "ln EC50 (EC50 in µM)",
    "auc": "AUC (area under the viability curve)",
    "z_score": "z-score of ln IC50",
    "neg_act_area": "minus activity area",
}


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _curve_end(km: pd.DataFrame, curves: pd.DataFrame) -> float:
    """The time axis' end: the last Kaplan-Meier or predicted-curve time (1 if there is none)."""
    ends = [float(km["time"].max())] if len(km) and "time" in km else []
    if len(curves):
        ends.append(float(np.nanmax(curves.index.to_numpy(float))))
    return max(ends) if ends else 1.0


# ------------------------------------------------------------------------------------------ context


class Cohort:
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
        self.prognosis = str_index(bundle.prognosis)
        self.obs = str_index(bundle.obs)
        age = bundle.age_column
        if bundle.pseudonymised and age and age in self.obs.columns:  # Safe Harbor: 90+
            self.obs[age] = self.obs[age].map(fmt_age).astype(object)
        self.umap = str_index(bundle.umap)
        self.target_z = str_index(bundle.target_z)
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
        self.outcome_probability = str_index(bundle.outcome_patients)
        similar = bundle.similar_lines
        self.similar = (
            {str(k): v for k, v in similar.groupby("patient_id", sort=False)}
            if similar is not None and len(similar)
            else {}
        )
        self.measured = (
            ref.assign(
                cell_line=ref["cell_line"].astype(str), drug=ref["drug"].astype(str)
            ).set_index(["cell_line", "drug"])["value"]
            if ref is not None and len(ref) and "cell_line" in ref
            else pd.Series(dtype=float)
        )
        # the cohort's layers of the figures are built once here and reused on every page
        self.survival_figure = figs.SurvivalFigure(
            self.km if len(self.km) else pd.DataFrame(columns=["group", "time", "survival"]),
            time_unit=self.time_unit,
            t_max=_curve_end(self.km, self.curves),
        )
        has_umap = len(self.umap) and {"umap1", "umap2"} <= set(self.umap.columns)
        self.umap_figure = figs.UmapFigure(self.umap, self.obs.get("subtype")) if has_umap else None

    # -- shared pieces -----------------------------------------------------------------------------

    @cached_property
    def subtype_counts(self) -> pd.Series:
        """Patients per subtype (as text), counted once rather than on every page."""
        if "subtype" not in self.obs.columns:
            return pd.Series(dtype=int)
        return self.obs["subtype"].astype(str).value_counts()

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
                "css": Markup(stylesheet()),
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
            "n_genes_shared": int(self.metrics["n_genes_shared"].iloc[0])
            if "n_genes_shared" in self.metrics.columns and len(self.metrics)
            else None,
            "n_reliable": sum(to_bool(v) is True for v in self.metrics["beats_baseline"])
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
            "failed_folds": int(s.get("cv_failed_folds") or 0),
            "folds": s.get("cv_folds"),
            "ph_violations": [str(p) for p in ph] if isinstance(ph, (list, tuple)) else [],
            "n_ph_violations": len(ph) if isinstance(ph, (list, tuple)) else ph,
            "logrank_p": s.get("logrank_p"),
            "time_unit": self.time_unit,
        }

    @cached_property
    def outcome_summary(self) -> dict[str, Any]:
        """The outcome classifiers against the prevalence baseline, or why there are none."""
        info = dict(self.bundle.outcome_summary or {})
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
                "auroc": to_float(r.get("auroc_mean")),
                "auroc_sd": to_float(r.get("auroc_sd")),
                "pooled": to_float(r.get("auroc_pooled")),
                "lower": to_float(r.get("auroc_lower")),
                "upper": to_float(r.get("auroc_upper")),
                "brier": to_float(r.get("brier")),
                "best": to_bool(r.get("best")) is True,
                "beats": to_bool(r.get("beats_baseline")),
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
