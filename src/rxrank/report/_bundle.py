"""What the reports read: :class:`ReportBundle`, and the check that a patient ID makes a safe file
name for its page."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from rxrank.config import PrivacyParams
from rxrank.errors import RxrankInputError
from rxrank.identifiers import id_problem, normalise_id

__all__ = ["ReportBundle", "safe_filename"]


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
    outcome_metrics: pd.DataFrame | None = None  # outcome/metrics.tsv
    outcome_calibration: pd.DataFrame | None = None  # outcome/calibration.tsv
    outcome_patients: pd.DataFrame | None = None  # outcome/patients.tsv
    outcome_summary: dict | None = None  # outcome/summary.json
    similar_lines: pd.DataFrame | None = None  # sensitivity/similar_lines.tsv

    @classmethod
    def from_stage_outputs(
        cls, cohort, *, privacy: PrivacyParams, cohort_name: str, provenance: dict, **tables
    ) -> ReportBundle:
        """The bundle from the profiled cohort (AnnData) and the other stages' tables (the
        fields above, by name). Only the clinical columns ``privacy.report_clinical_columns``
        allows reach a page; the QC columns and the first two UMAP coordinates are taken."""
        obs = cohort.obs
        shown = [c for c in privacy.report_clinical_columns if c in obs]
        patients = obs[["subtype", *shown]].copy()
        patients.index.name = "patient_id"
        umap = pd.DataFrame(
            cohort.obsm["X_umap"][:, :2], index=patients.index, columns=["umap1", "umap2"]
        )
        qc = obs[[c for c in ("total_counts", "n_genes", "qc_outlier") if c in obs]]
        return cls(
            obs=patients,
            umap=umap,
            qc=qc,
            provenance=provenance,
            pseudonyms={pid: pid for pid in patients.index},
            pseudonymised=privacy.pseudonymize,
            age_column=privacy.age_column,
            cohort_name=cohort_name,
            **tables,
        )


def safe_filename(patient_id: str) -> str:
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
