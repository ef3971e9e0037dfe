"""The reference cell lines most like each patient: Pearson correlation of the harmonised profiles
on the model's genes (what the drug models see), the k highest per patient with their tissue."""

from __future__ import annotations

import numpy as np
import pandas as pd

SIMILAR_COLUMNS = ["patient_id", "rank", "cell_line", "tissue", "r"]
#: patients whose correlations are computed at once (a block of patients x lines in float32)
BLOCK = 2048


def cohort_matrix(patients: pd.DataFrame, genes) -> np.ndarray:
    """Patients x ``genes`` as float32 (the profiled cohort's own precision; harmonising reads it
    in float64 blocks), without a copy when the frame already holds exactly those columns."""
    genes = list(genes)
    if list(patients.columns) == genes:
        return patients.to_numpy(np.float32, copy=False)
    return patients[genes].to_numpy(np.float32)


def similar_to_patients(
    harmoniser,
    genes,
    patients: pd.DataFrame,
    lines: pd.DataFrame,
    *,
    tissues=None,
    k: int = 5,
    Z: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`similar_lines` of a cohort (patients x genes log expression) against the reference
    lines, both harmonised as the fitted drug models see them (``harmoniser`` on ``genes``)."""
    if k <= 0:
        return pd.DataFrame(columns=SIMILAR_COLUMNS)
    genes = list(genes)
    Z = cohort_matrix(patients, genes) if Z is None else Z  # Z: that matrix, already made
    h = harmoniser.fixed_for(Z)
    return similar_lines(
        Z, harmoniser.transform_reference(lines[genes].to_numpy(np.float64)),
        patient_ids=patients.index, line_ids=lines.index, tissues=tissues, k=k,
        transform=h.transform_target,
    )  # fmt: skip


def _rows_standardised(M: np.ndarray) -> np.ndarray:
    M = M - M.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(M, axis=1, keepdims=True)
    return (M / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def similar_lines(
    patients: np.ndarray,
    lines: np.ndarray,
    *,
    patient_ids,
    line_ids,
    tissues: pd.Series | None = None,
    k: int = 5,
    transform=None,
) -> pd.DataFrame:
    """The ``k`` lines of highest Pearson r with each patient (rows of ``patients`` and
    ``lines``: harmonised profiles on the same genes); columns patient_id, rank, cell_line,
    tissue, r. Blocks of patients keep memory at ``BLOCK`` x lines; ``transform``, if given, is
    applied to each block of ``patients`` first (harmonising a block, not the whole cohort)."""
    L = _rows_standardised(np.asarray(lines, dtype=np.float64))
    line_ids = np.asarray([str(i) for i in line_ids], dtype=object)
    tissue = (
        tissues.astype("string").reindex(line_ids).fillna("").to_numpy(dtype=object)
        if tissues is not None
        else np.full(len(line_ids), "", dtype=object)
    )
    k = min(k, len(line_ids))
    pids = np.asarray([str(i) for i in patient_ids], dtype=object)
    frames = []
    for start in range(0, len(pids), BLOCK):
        block = patients[start : start + BLOCK]
        if transform is not None:
            block = transform(block)
        P = _rows_standardised(np.asarray(block, dtype=np.float64))
        r = P @ L.T
        top = np.argpartition(-r, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(r, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        n = len(P)
        frames.append(
            pd.DataFrame(
                {
                    "patient_id": np.repeat(pids[start : start + n], k),
                    "rank": np.tile(np.arange(1, k + 1), n),
                    "cell_line": line_ids[top.ravel()],
                    "tissue": tissue[top.ravel()],
                    "r": np.round(np.take_along_axis(r, top, axis=1).ravel().astype(float), 4),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=SIMILAR_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SIMILAR_COLUMNS]
