"""Survival stage: Cox models, prognosis and treatment-benefit estimates (lifelines).

The design matrix is learned on the cohort by :class:`Design` and applied unchanged to new patients;
:class:`CoxModel` wraps lifelines' L2-penalised ``CoxPHFitter`` with the penalty chosen by K-fold CV
C-index; :func:`run_survival` builds every file of ``results/survival/`` (see ``docs/outputs.md``).
Hazard ratios of numeric covariates are per cohort standard deviation; time is in the clinical
table's unit (months for the demo).

Private modules, in import order (each imports only those before it):
``_checks`` (input validation) -> ``_design`` (:class:`Design`) -> ``_cox`` (:class:`CoxModel`,
nested CV, C-index) -> ``_prognosis`` / ``_treatment`` / ``_longitudinal`` -> ``_stage``
(:func:`run_survival`).
"""

from ._checks import check_survival_data
from ._cox import DEFAULT_PENALIZERS, CoxModel, uno_cindex
from ._design import Design, design_matrix
from ._intervals import survival_curves, survival_intervals
from ._longitudinal import LONGITUDINAL_COLUMNS, time_varying_cox
from ._prognosis import bootstrap_prognosis, km_by_group, patient_curves, prognosis
from ._stage import run_survival, stage_settings
from ._treatment import TREATMENT_EFFECT_COLUMNS, treatment_effects

__all__ = [
    "DEFAULT_PENALIZERS",
    "LONGITUDINAL_COLUMNS",
    "TREATMENT_EFFECT_COLUMNS",
    "CoxModel",
    "Design",
    "bootstrap_prognosis",
    "check_survival_data",
    "design_matrix",
    "km_by_group",
    "patient_curves",
    "prognosis",
    "run_survival",
    "stage_settings",
    "survival_curves",
    "survival_intervals",
    "time_varying_cox",
    "treatment_effects",
    "uno_cindex",
]
