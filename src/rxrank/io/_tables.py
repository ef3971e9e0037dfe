"""The clinical table, the long response table, drug annotations and binary features."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RxrankInputError
from ..identifiers import clean_ids
from ._read import _check_unique, _require_columns, _shown, read_table

log = logging.getLogger(__name__)


def read_clinical(
    path: str | Path,
    *,
    id_column: str = "patient_id",
    time_column: str = "os_months",
    event_column: str = "os_event",
    binary_columns: tuple[str, ...] | list[str] = (),
) -> pd.DataFrame:
    """Read the clinical table indexed by patient ID, validating survival time and event.

    IDs are normalised and checked (:func:`rxrank.identifiers.clean_ids`); ``binary_columns``
    (e.g. the outcome classifiers' response column) must hold 0, 1 or nothing. Messages name the
    line, never the patient's ID.
    """
    path = Path(path)
    frame = read_table(path, what="clinical")
    _require_columns(frame, [id_column, time_column, event_column], path, "clinical")
    frame[id_column] = clean_ids(
        list(frame[id_column].astype(str)), source=f"clinical file {path}, column {id_column!r}"
    )
    frame = frame.set_index(id_column)
    frame.index.name = "patient_id"
    line = lambda mask: int(np.flatnonzero(mask.to_numpy())[0]) + 2  # noqa: E731
    time = pd.to_numeric(frame[time_column], errors="coerce")
    bad = time.isna() | (time <= 0) | ~np.isfinite(time)
    if bad.any():
        row = line(bad)
        raise RxrankInputError(
            f"clinical file {path}, line {row}: column {time_column!r} is "
            f"{_shown(frame[time_column].iloc[row - 2])}; survival times must be positive finite "
            "numbers. Fix or remove that row."
        )
    event = pd.to_numeric(frame[event_column], errors="coerce")
    bad = ~event.isin([0, 1])
    if bad.any():
        row = line(bad)
        raise RxrankInputError(
            f"clinical file {path}, line {row}: column {event_column!r} is "
            f"{_shown(frame[event_column].iloc[row - 2])}; events must be 0 (censored) or 1 (event)."
        )
    for column in binary_columns:
        if not column or column not in frame:
            continue
        text = frame[column].astype("string").str.strip()
        value = pd.to_numeric(text, errors="coerce")
        bad = (text.notna() & (text != "") & value.isna()) | (value.notna() & ~value.isin([0, 1]))
        if bad.any():
            row = line(bad)
            raise RxrankInputError(
                f"clinical file {path}, line {row}: column {column!r} is "
                f"{_shown(frame[column].iloc[row - 2])}; it must be 0, 1 or empty (unknown). Recode "
                "the column (e.g. responder = 1, non-responder = 0)."
            )
        frame[column] = value.astype(float)
    frame[time_column] = time.astype(float)
    frame[event_column] = event.astype(int)
    return frame


def read_response(
    path: str | Path, *, value_column: str = "ln_ic50", min_lines: int = 1
) -> pd.DataFrame:
    """Read a long drug-response table into columns ``cell_line``, ``drug``, ``value``."""
    path = Path(path)
    frame = read_table(path, what="reference response")
    _require_columns(frame, ["cell_line", "drug", value_column], path, "reference response")
    out = pd.DataFrame(
        {
            "cell_line": frame["cell_line"].astype(str).str.strip(),
            "drug": frame["drug"].astype(str).str.strip(),
            "value": pd.to_numeric(frame[value_column], errors="coerce"),
        }
    )
    bad = out["value"].isna() & frame[value_column].notna()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RxrankInputError(
            f"reference response file {path}: row {i + 2} has non-numeric {value_column!r} "
            f"value {frame[value_column].iloc[i]!r}. Use numbers, or leave the cell empty."
        )
    out = out.dropna(subset=["value"])
    dup = out.duplicated(["cell_line", "drug"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise RxrankInputError(
            f"reference response file {path}: cell line {out['cell_line'].iloc[i]!r} and drug "
            f"{out['drug'].iloc[i]!r} appear more than once. Keep one measurement per pair."
        )
    return out.reset_index(drop=True)


def read_drugs(path: str | Path) -> pd.DataFrame:
    """Read drug annotations (drug, targets ``;``-separated, pathway) indexed by drug."""
    path = Path(path)
    frame = read_table(path, what="drug annotation")
    _require_columns(frame, ["drug", "targets"], path, "drug annotation")
    frame["drug"] = frame["drug"].astype(str).str.strip()
    _check_unique(pd.Index(frame["drug"]), path, "drug annotation", "drug")
    if "pathway" not in frame:
        frame["pathway"] = ""
    frame["targets"] = frame["targets"].fillna("").astype(str)
    frame["pathway"] = frame["pathway"].fillna("").astype(str)
    return frame.set_index("drug")[["targets", "pathway"]]


def read_binary_features(path: str | Path) -> pd.DataFrame:
    """Cell lines x binary features (mutation or copy-number calls): first column the cell line ID,
    then one column per feature holding 0/1 (empty or NA: not assessed)."""
    path = Path(path)
    frame = read_table(path, what="binary features")
    ids = frame.iloc[:, 0].astype(str).str.strip()
    _check_unique(pd.Index(ids), path, "binary features", "cell line")
    calls = frame.iloc[:, 1:].copy()
    calls.index = pd.Index(ids, name="cell_line")
    for col in calls.columns:
        text = calls[col].astype("string").str.strip().str.lower()
        value = text.map({"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "true": 1.0, "false": 0.0})
        bad = text.notna() & (text != "") & (text != "na") & value.isna()
        if bad.any():
            rows = list(calls.index[bad.to_numpy()][:5])
            raise RxrankInputError(
                f"binary features file {path}: column {col!r} holds {text[bad].iloc[0]!r} for "
                f"cell line(s) {rows}; calls must be 0 or 1 (empty = not assessed). Recode the "
                "column, or drop it if it is not a binary call."
            )
        calls[col] = value.astype(float)
    return calls


def target_genes(targets: str) -> list[str]:
    """Split a ``;``-separated target string into gene-like symbols."""
    return [t.strip() for t in targets.split(";") if t.strip() and " " not in t.strip()]
