"""Patient predictions: the predicted response, its interval, and where it falls among the
reference lines' measured responses (percentile, z)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..harmonise import Harmoniser
from ..io import RxrankInputError


def predict_patients(
    model,
    harmoniser: Harmoniser,
    patients: np.ndarray,
    *,
    patient_ids: pd.Index,
    Y: pd.DataFrame,
    halfwidth: pd.Series,
    tissues: pd.Series | None = None,
    reference_tissue: str | None = None,
) -> pd.DataFrame:
    """Every patient x drug: prediction, interval, percentile and z against the reference lines.

    ``percentile`` is the share of reference lines at least as sensitive (lower value); with
    ``reference_tissue`` a second percentile against the lines of that tissue is added.
    """
    pred = model.predict(harmoniser.transform_target(patients))
    ref = Y.to_numpy(dtype=np.float64)
    tissue_mask = None
    if reference_tissue is not None and tissues is not None:
        tissue_mask = (tissues.reindex(Y.index) == reference_tissue).to_numpy()
        if tissue_mask.sum() < 5:
            raise RxrankInputError(
                f"sensitivity.reference_tissue {reference_tissue!r} matches {int(tissue_mask.sum())}"
                " reference lines; at least 5 are needed. Check the spelling against the cell-line "
                "table's tissue column."
            )
    frames = []
    for j, drug in enumerate(Y.columns):
        measured = ~np.isnan(ref[:, j])
        vals = np.sort(ref[measured, j])
        frame = {
            "patient_id": patient_ids,
            "drug": drug,
            "predicted": pred[:, j],
            "lower": pred[:, j] - halfwidth[drug],
            "upper": pred[:, j] + halfwidth[drug],
            "percentile": 100.0 * np.searchsorted(vals, pred[:, j], side="right") / len(vals),
            "z": (pred[:, j] - vals.mean()) / vals.std(),
        }
        if tissue_mask is not None:
            tv = np.sort(ref[measured & tissue_mask, j])
            frame["percentile_tissue"] = (
                100.0 * np.searchsorted(tv, pred[:, j], side="right") / max(len(tv), 1)
            )
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["patient_id", "drug"], ignore_index=True
    )
