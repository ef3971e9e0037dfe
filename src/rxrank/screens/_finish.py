"""From a reader's records to a Screen: numbers, one dataset or labelled drugs, merged repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import RxrankInputError
from ._base import NA_TOKENS, Screen, _join_targets, _Notes
from ._layouts import PREFERRED_DATASET

#: the value of ``dataset`` that keeps the layout's preferred dataset when a file holds several
AUTO = "auto"


def _numeric(rec: pd.DataFrame, path: Path) -> pd.Series:
    """Parse ``rec.raw`` as floats (NA tokens are missing); a non-number names its line and column."""
    missing = rec["raw"].isin(NA_TOKENS)
    value = pd.to_numeric(rec["raw"].where(~missing), errors="coerce").astype(float)
    bad = (value.isna() & ~missing) | np.isinf(value)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RxrankInputError(
            f"screen file {path}, line {rec.index[i]}, column {rec['column'].iloc[i]!r}: "
            f"{rec['raw'].iloc[i]!r} is not a finite number. Use a number with a '.' decimal "
            "point, or leave the cell empty for a missing measurement."
        )
    return value


def _select_dataset(
    rec: pd.DataFrame, dataset: str | None, layout: str, path: Path, notes: _Notes
) -> pd.DataFrame:
    """Keep one dataset (``dataset`` named, or the preferred one under ``auto``), or all."""
    if "dataset" not in rec:
        if dataset not in (AUTO, None):
            raise RxrankInputError(
                f"reference.dataset is {dataset!r}, but screen file {path} ({layout} layout) "
                "names no dataset (GDSC's DATASET or 'Dataset Version', PRISM's screen_id). Set "
                "reference.dataset to auto or null."
            )
        return rec
    counts = rec.loc[rec["dataset"] != "", "dataset"].value_counts()
    present = sorted(counts.index)
    if dataset is None or (dataset == AUTO and len(present) < 2):
        if len(present) > 1:
            notes.add(
                f"datasets {present} are all kept (reference.dataset: null); a drug measured in "
                "several is one drug per dataset, labelled with it"
            )
        return rec
    if dataset == AUTO:
        chosen = PREFERRED_DATASET.get(layout)
        if chosen not in present:
            notes.add(
                f"datasets {present} are all kept; a drug measured in several is one drug per "
                "dataset, labelled with it (reference.dataset names one to keep)"
            )
            return rec
    else:
        by_case = {d.lower(): d for d in present}
        if dataset.lower() not in by_case:
            raise RxrankInputError(
                f"reference.dataset is {dataset!r}, but screen file {path} holds dataset(s) "
                f"{present}. Set it to one of them, to auto, or to null to keep all."
            )
        chosen = by_case[dataset.lower()]
    keep = rec["dataset"] == chosen
    left = {d: int(n) for d, n in counts.items() if d != chosen}
    how = "reference.dataset: auto keeps it when a file holds several" if dataset == AUTO else ""
    notes.add(
        f"kept the {int(keep.sum())} row(s) of dataset {chosen!r} and left out "
        + ", ".join(f"{n} of {d!r}" for d, n in left.items())
        + (f" ({how}; set reference.dataset: null to keep all, each drug labelled)" if how else "")
    )
    return rec[keep]


def _label_drugs(rec: pd.DataFrame, notes: _Notes) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One drug per (dataset, drug ID): the plain name, or ``name (dataset:ID)`` if it is shared."""
    keys = [k for k in ("dataset", "drug_id") if k in rec]
    if not keys:
        return rec, None
    ids = rec[["drug", *keys]].drop_duplicates()
    shared = ids["drug"].map(ids["drug"].value_counts()).to_numpy() > 1
    tag = ids[keys].apply(lambda row: ":".join(v for v in row if v), axis=1) if len(ids) else None
    label = ids["drug"].where(~shared, ids["drug"] + " (" + (tag if tag is not None else "") + ")")
    table = ids.assign(label=label.to_numpy())
    if shared.any():
        names = sorted(set(ids.loc[shared, "drug"]))
        notes.warn(
            f"{len(names)} drug name(s) stand for more than one measurement ({' and '.join(keys)} "
            f"differ): each is its own drug, labelled 'name ({':'.join(keys)})', never averaged: "
            + ", ".join(names[:20])
            + (" ..." if len(names) > 20 else "")
        )
    merged = rec.merge(table, on=["drug", *keys], how="left", validate="many_to_one")
    merged.index = rec.index
    rec = rec.assign(drug=merged["label"])
    table = table.rename(columns={"drug": "name", "label": "drug"}).set_index("drug")
    return rec, table[["name", *keys]]


def _tissues(rec: pd.DataFrame, notes: _Notes) -> pd.Series | None:
    if "tissue" not in rec:
        return None
    pairs = rec.loc[rec["tissue"] != "", ["cell_line", "tissue"]].drop_duplicates()
    if pairs.empty:
        return None
    conflicting = pairs["cell_line"].duplicated(keep=False)
    if conflicting.any():
        example = pairs.loc[conflicting, "cell_line"].iloc[0]
        notes.add(
            f"{pairs.loc[conflicting, 'cell_line'].nunique()} cell line(s) have more than one "
            f"tissue (e.g. {example!r}); the first is kept"
        )
    pairs = pairs.drop_duplicates("cell_line")
    return pd.Series(
        pairs["tissue"].to_numpy(),
        index=pd.Index(pairs["cell_line"], name="cell_line"),
        name="tissue",
    )


def _drugs(rec: pd.DataFrame, notes: _Notes) -> pd.DataFrame | None:
    if "targets" not in rec:
        return None
    drugs = pd.Index(rec["drug"].unique(), name="drug")
    rows = rec[["drug", "targets", "pathway"]].drop_duplicates()
    differing = rows["drug"].duplicated(keep=False)
    if differing.any():
        notes.add(
            f"{rows.loc[differing, 'drug'].nunique()} drug(s) have differing annotations between "
            f"rows (e.g. {rows.loc[differing, 'drug'].iloc[0]!r}); targets are combined and the "
            "first pathway is kept"
        )
    joined = _join_targets(rows["targets"].reset_index(drop=True))
    parts = pd.DataFrame({"drug": rows["drug"].to_numpy(), "targets": joined.to_numpy()})
    targets = _join_targets(parts.groupby("drug", sort=False)["targets"].agg(";".join))
    pathway = rows.loc[rows["pathway"] != ""].drop_duplicates("drug").set_index("drug")["pathway"]
    return pd.DataFrame(
        {
            "targets": targets.reindex(drugs, fill_value=""),
            "pathway": pathway.reindex(drugs, fill_value=""),
        },
        index=drugs,
    )


def _transform(
    rec: pd.DataFrame, value: pd.Series, transform: str, no_id: pd.Series, notes: _Notes
) -> pd.Series:
    source = str(rec["column"].iloc[0]) if len(rec) else "value"
    if transform == "log":
        unusable = ~no_id & ~(value > 0)
        notes.drop(
            int(unusable.sum()),
            f"with a missing or non-positive {source} (its natural log is undefined; these "
            "curves are left out, not censored: the AUC metric keeps them)",
            warn=True,
        )
        return np.log(value.where(value > 0))
    notes.drop(int((~no_id & value.isna()).sum()), "with an empty value")
    if transform == "negate":
        notes.add(f"the metric is minus {source}, so that lower means more sensitive")
        return -value
    return value


def finish(
    rec: pd.DataFrame,
    *,
    path: Path,
    layout: str,
    metric: str,
    transform: str,
    aggregate: str,
    dataset: str | None,
    notes: _Notes,
    n_rows: int,
) -> Screen:
    value = _numeric(rec, path)
    rec = rec.assign(
        **{
            column: rec[column].where(~rec[column].isin(NA_TOKENS), "")
            for column in ("cell_line", "drug", "tissue", "targets", "pathway")
            if column in rec
        }
    )
    no_id = (rec["cell_line"] == "") | (rec["drug"] == "")
    notes.drop(int(no_id.sum()), "without a cell line or drug")
    value = _transform(rec, value, transform, no_id, notes)
    if layout == "ccle" and metric in ("ln_ic50", "ic50"):
        top = int((~no_id & (value >= (np.log(8.0) if transform == "log" else 8.0))).sum())
        if top:
            notes.add(
                f"{top} measurement(s) at CCLE's top concentration (IC50 8 uM: not reached, "
                "censored there by CCLE)"
            )
    rec = rec.assign(value=value)[~no_id & value.notna()]
    if not rec.empty:
        rec = _select_dataset(rec, dataset, layout, path, notes)
    if rec.empty:
        dropped = "; ".join(notes.drops) or "the file has no data rows"
        raise RxrankInputError(
            f"screen file {path} ({layout} layout, metric {metric!r}) has no usable measurements: "
            f"{n_rows} data row(s) read; {dropped}. Check that the file holds the metric's values "
            "and that the layout and metric options match it."
        )
    rec, drug_ids = _label_drugs(rec, notes)
    keys = ["cell_line", "drug"]
    extra = rec.duplicated(keys)
    if extra.any():
        pairs = rec.loc[rec.duplicated(keys, keep=False), keys].drop_duplicates()
        message = (
            f"{len(pairs)} (cell_line, drug) pair(s) measured more than once ({int(extra.sum())} "
            f"extra measurement(s), e.g. {pairs.iloc[0, 0]!r} x {pairs.iloc[0, 1]!r}); merged by "
            f"{aggregate}"
        )
        if layout in ("gdsc", "gdsc_web") and "drug_id" not in rec:
            names = sorted(set(pairs["drug"]))
            notes.warn(
                f"{message}. The file has no DRUG_ID column, so two DRUG_IDs of one name (or "
                "GDSC1 and GDSC2 rows) cannot be told apart and are merged: use the full "
                "export, whose DRUG_ID and DATASET keep them apart. Names concerned: "
                + ", ".join(names[:20])
                + (f" ... ({len(names)})" if len(names) > 20 else "")
            )
        else:
            notes.add(message)
        response = rec.groupby(keys, sort=False)["value"].agg(aggregate).reset_index()
    else:
        response = rec[[*keys, "value"]].reset_index(drop=True)
    response["value"] = response["value"].astype(float)
    tissues, drugs = _tissues(rec, notes), _drugs(rec, notes)
    notes.add(
        f"{len(response)} measurement(s) of {response['drug'].nunique()} drug(s) in "
        f"{response['cell_line'].nunique()} cell line(s)"
    )
    return Screen(
        response=response,
        tissues=tissues,
        drugs=drugs,
        layout=layout,
        metric=metric,
        notes=notes.lines,
        warnings=notes.warnings,
        drug_ids=drug_ids,
    )
