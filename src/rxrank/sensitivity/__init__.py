"""Drug-sensitivity models trained on cell lines, judged against naive baselines, applied to patients.

One stage: harmonise patient and cell-line expression (:mod:`rxrank.harmonise`), fit one model per
drug (ridge for all drugs at once by :class:`rxrank.ridge.MaskedRidge`; elastic net or random forest as
scikit-learn Pipelines; the registry is :data:`MODELS`), cross-validate over whole cell lines (or whole
tissues) with everything fitted inside the folds, report each drug next to its drug-mean baseline, and
predict every patient with a split-conformal interval and a percentile against the reference lines.
The fitted model (:class:`FittedModel`) is saved as arrays and applies to any later cohort without
retraining (:func:`load_model`, ``rxrank predict --model DIR``).
"""

from ._cv import (
    baseline_rule,
    conformal_halfwidth,
    cross_validate,
    fold_baselines,
    response_matrix,
    shared_genes,
)
from ._models import MODELS, ModelKind, PerDrugModel, make_model, model_kind
from ._predict import predict_patients
from ._stage import SensitivityResult, run_sensitivity, save_model
from ._store import FittedModel, load_model, training_checksum

__all__ = [
    "MODELS",
    "FittedModel",
    "ModelKind",
    "PerDrugModel",
    "SensitivityResult",
    "baseline_rule",
    "conformal_halfwidth",
    "cross_validate",
    "fold_baselines",
    "load_model",
    "make_model",
    "model_kind",
    "predict_patients",
    "response_matrix",
    "run_sensitivity",
    "save_model",
    "shared_genes",
    "training_checksum",
]
