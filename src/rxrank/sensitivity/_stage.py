"""The sensitivity stage: cross-validated metrics against the baseline, the final model fitted on
every reference line, and every patient's prediction from that model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from .. import __version__
from ..config import SensitivityParams
from ..harmonise import Harmoniser, TargetSummary
from ..io import RxrankInputError
from ._cv import conformal_halfwidth, cross_validate, response_matrix, shared_genes
from ._models import make_model, model_kind
from ._predict import predict_patients
from ._similar import cohort_matrix, similar_to_patients
from ._store import FittedModel, training_checksum

log = logging.getLogger(__name__)


@dataclass
class SensitivityResult:
    """Everything the sensitivity stage produces; ``fitted`` applies to any other cohort."""

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    held_out: pd.DataFrame
    model: object
    harmoniser: Harmoniser
    genes: list[str]
    drugs: list[str]
    metadata: dict
    fitted: FittedModel
    similar: pd.DataFrame | None = None  # the reference lines most like each patient


def save_model(outdir: str | Path, result: SensitivityResult) -> None:
    """Store the fitted model (``FittedModel.save``): arrays, metrics and checksummed metadata."""
    result.fitted.save(outdir)


def run_sensitivity(
    patients: pd.DataFrame,
    lines: pd.DataFrame,
    response: pd.DataFrame,
    *,
    tissues: pd.Series | None = None,
    params: SensitivityParams | Mapping[str, Any] | None = None,
) -> SensitivityResult:
    """Whole stage: CV metrics against the baseline, final all-lines model, patient predictions.

    ``patients`` and ``lines`` are samples x genes log-expression frames; ``params`` the
    ``sensitivity`` section (:class:`rxrank.config.SensitivityParams`, or its config mapping).
    """
    if not isinstance(params, SensitivityParams):
        params = SensitivityParams.from_config(params)
    kind = model_kind(params.model)
    genes = shared_genes(patients, lines, minimum=params.min_shared_genes)
    Y = response_matrix(response, lines.index, min_lines=params.min_lines)
    if Y.shape[1] == 0:
        raise RxrankInputError(
            "no drug has enough cell lines with a response; lower sensitivity.min_lines in the "
            "config or check the response table."
        )
    X = lines[genes].to_numpy(np.float64)
    Z = cohort_matrix(patients, genes)
    alphas = tuple(params.alphas)
    harmonisation = {
        "method": params.harmonisation,
        "min_sd": params.min_sd,
        "n_top_genes": params.n_top_genes,
    }
    groups = labels = None
    if tissues is not None:
        labels = tissues.reindex(lines.index).fillna("").astype(str).to_numpy()
    if params.cv == "tissue":
        if tissues is None:
            raise RxrankInputError(
                "sensitivity.cv: tissue needs the cell-line table (reference.cell_lines) with a "
                "tissue per line."
            )
        groups = tissues.reindex(lines.index).fillna("unknown").to_numpy()
    metrics, held_out = cross_validate(
        X,
        Y,
        model=kind.name,
        harmonisation=harmonisation,
        target=Z,
        groups=groups,
        tissues=labels,
        n_folds=params.cv_folds,
        alphas=alphas,
        screen=params.screen_genes,
        factors=params.shared_factors,
        seed=params.seed,
    )
    harmoniser = Harmoniser(**harmonisation).fit(
        X, TargetSummary.of(Z) if params.harmonisation == "standardise" else Z
    )
    model = make_model(
        kind.name,
        alphas=alphas,
        screen=params.screen_genes,
        seed=params.seed,
        factors=params.shared_factors,
    )
    model.fit(harmoniser.transform_reference(X), Y.to_numpy(np.float64))
    metrics.insert(2, "model", kind.name)
    metrics.insert(3, "n_genes_shared", len(genes))
    arrays = kind.to_arrays(model)
    if "alpha" in arrays:
        metrics.insert(4, "alpha", arrays["alpha"])
    level = params.interval_level
    metadata = {
        "model": kind.name,
        "harmonisation": harmoniser.to_dict(),
        "n_genes_shared": len(genes),
        "n_lines": int(len(lines)),
        "drugs": list(Y.columns),
        "alphas_grid": list(alphas),
        "screen_genes": params.screen_genes,
        "shared_factors": params.shared_factors,
        "cv": params.cv,
        "cv_folds": params.cv_folds,
        "interval_level": level,
        "baseline_rule": "cv_rmse < the stronger of baseline_rmse (drug mean) and "
        "tissue_baseline_rmse (tissue-drug mean), and cv_pearson > 0 with p < 0.05",
        "training_data_sha256": training_checksum(X, Y.to_numpy(np.float64)),
        "seed": params.seed,
        "versions": {
            "rxrank": __version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    fitted = FittedModel(
        name=kind.name,
        genes=list(genes),
        harmoniser=harmoniser,
        arrays=arrays,
        reference_response=Y,
        halfwidth=conformal_halfwidth(
            held_out, Y, level=level, tissues=labels, tissue=params.reference_tissue
        ),
        metrics=metrics,
        metadata=metadata,
        tissues=tissues,
        reference_tissue=params.reference_tissue,
    )
    # the patients are predicted by the restored predictor, so a saved model reproduces this run
    predictions = predict_patients(
        fitted.predictor,
        harmoniser,
        Z,
        patient_ids=patients.index,
        Y=Y,
        halfwidth=fitted.halfwidth,
        tissues=tissues,
        reference_tissue=params.reference_tissue,
    )
    log.info(
        "%d of %d drug models beat the naive baselines",
        int(metrics["beats_baseline"].sum()),
        len(metrics),
    )
    similar = similar_to_patients(
        harmoniser, genes, patients, lines, tissues=tissues, k=params.similar_lines, Z=Z
    )
    return SensitivityResult(
        metrics, predictions, held_out, model, harmoniser, genes, list(Y.columns), metadata,
        fitted, similar,
    )  # fmt: skip
