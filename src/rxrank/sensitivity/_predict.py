"""Patient predictions: the predicted response, its interval, and where it falls among the
reference lines' measured responses (percentile, z)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..harmonise import BLOCK, Harmoniser
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
    h = harmoniser.fixed_for(patients)
    pred = np.empty((len(patients), Y.shape[1]))
    for s in range(0, len(patients), BLOCK):  # no harmonised copy of the whole cohort
        pred[s : s + BLOCK] = model.predict(h.transform_target(patients[s : s + BLOCK]))
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
    half = halfwidth.reindex(Y.columns).to_numpy(dtype=np.float64)
    measured = ~np.isnan(ref)
    mean = np.nanmean(ref, axis=0)
    sd = np.nanstd(ref, axis=0)
    columns = {
        "predicted": pred,
        "lower": pred - half,
        "upper": pred + half,
        "percentile": 100.0 * at_or_below(ref, pred) / measured.sum(0),
        "z": (pred - mean) / sd,
    }
    if tissue_mask is not None:
        mine = np.where(tissue_mask[:, None], ref, np.nan)
        columns["percentile_tissue"] = (
            100.0 * at_or_below(mine, pred) / np.maximum((~np.isnan(mine)).sum(0), 1)
        )
    # rows sorted by patient, then drug, built in that order (no per-drug frames, no sort)
    p_order = np.argsort(np.asarray(patient_ids, dtype=str), kind="stable")
    d_order = np.argsort(np.asarray(Y.columns, dtype=str), kind="stable")
    n_p, n_d = len(p_order), len(d_order)
    out = {
        "patient_id": np.repeat(np.asarray(patient_ids, dtype=object)[p_order], n_d),
        "drug": np.tile(np.asarray(Y.columns, dtype=object)[d_order], n_p),
    }
    for name, values in columns.items():
        out[name] = values[np.ix_(p_order, d_order)].ravel()
    return pd.DataFrame(out)


def at_or_below(ref: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per column j, how many measured ``ref[:, j]`` are <= each ``values[:, j]`` (NaN = not
    measured): one ``searchsorted`` over all columns at once, each column shifted onto its own
    interval so that the columns' values never interleave."""
    missing = np.isnan(ref)
    finite = np.concatenate([ref[~missing], values[np.isfinite(values)]])
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    span = (hi - lo) + 1.0
    # column j lies on [2 j span, 2 j span + hi - lo]; its missing values just above any query
    filled = np.where(missing, hi + 0.5 * span, ref)
    shift = np.arange(ref.shape[1]) * span * 2 - lo
    flat = (np.sort(filled, axis=0) + shift).T.ravel()
    counts = np.searchsorted(flat, values + shift, side="right")
    counts = counts - np.arange(ref.shape[1]) * ref.shape[0]
    return np.minimum(counts, (~missing).sum(0))  # a NaN query counts every measured line
