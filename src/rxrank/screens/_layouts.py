"""The layouts: what identifies each in a header, and one reader per layout into long records.

A reader returns the records (``cell_line``, ``drug``, ``raw`` value, ``column`` it came from, and
where the file has them ``tissue``, ``targets``, ``pathway``, ``dataset``, ``drug_id``) and how to
turn the raw value into the metric (``""``, ``"log"`` or ``"negate"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import RxrankInputError
from ._base import (
    FALSE_TOKENS,
    NA_TOKENS,
    TRUE_TOKENS,
    _integral,
    _Notes,
    _per_unique,
    _show,
    _strip,
    _Table,
)

LAYOUTS = ("auto", "long", "gdsc", "gdsc_web", "prism", "ctrp", "ccle", "wide")
#: metric -> (source column, transform) for the layouts with fixed column names
METRICS = {
    "gdsc": {"ln_ic50": ("LN_IC50", ""), "auc": ("AUC", ""), "z_score": ("Z_SCORE", "")},
    # the website's IC50 column holds the natural log of the IC50 in uM, as LN_IC50 does
    "gdsc_web": {"ln_ic50": ("IC50", ""), "auc": ("AUC", ""), "z_score": ("Z score", "")},
    "prism": {
        "auc": ("auc", ""),
        "ln_ic50": ("ic50", "log"),
        "ic50": ("ic50", ""),
        "ln_ec50": ("ec50", "log"),
        "ec50": ("ec50", ""),
    },
    "ctrp": {
        "auc": ("area_under_curve", ""),
        "ln_ec50": ("apparent_ec50_umol", "log"),
        "ec50": ("apparent_ec50_umol", ""),
    },
    "ccle": {
        "ln_ic50": ("IC50 (uM)", "log"),
        "ic50": ("IC50 (uM)", ""),
        "ln_ec50": ("EC50 (uM)", "log"),
        "ec50": ("EC50 (uM)", ""),
        "neg_act_area": ("ActArea", "negate"),  # ActArea grows with sensitivity: sign flipped
    },
}
#: the metric read when none is asked for: AUC where the IC50 is missing for resistant lines
DEFAULT_METRIC = {
    "gdsc": "ln_ic50",
    "gdsc_web": "ln_ic50",
    "prism": "auc",
    "ctrp": "auc",
    "ccle": "ln_ic50",
    "long": "ln_ic50",
    "wide": "ln_ic50",
}
CELL_LINE_IDS = {
    "gdsc": {"name": "CELL_LINE_NAME", "cosmic": "COSMIC_ID", "sanger": "SANGER_MODEL_ID"},
    "gdsc_web": {"name": "Cell Line Name", "cosmic": "Cosmic ID"},
    "prism": {"depmap": "depmap_id", "ccle": "ccle_name"},
    "ctrp": {"name": "ccl_name", "ctrp": "master_ccl_id"},
    "ccle": {"ccle": "CCLE Cell Line Name", "name": "Primary Cell Line Name"},
}
DEFAULT_CELL_LINE_ID = {"gdsc": "name", "gdsc_web": "name", "prism": "depmap", "ctrp": "name"}
DEFAULT_CELL_LINE_ID["ccle"] = "ccle"
#: per layout: drug name, drug ID, dataset, tissue ("suffix:<col>" = the CCLE name's suffix),
#: targets and pathway columns (None where the layout has none)
SPECS = {
    "gdsc": ("DRUG_NAME", "DRUG_ID", "DATASET", "TCGA_DESC", "PUTATIVE_TARGET", "PATHWAY_NAME"),
    "gdsc_web": ("Drug Name", "Drug ID", "Dataset Version", "Tissue", None, None),
    "prism": ("name", "broad_id", "screen_id", "suffix:ccle_name", "target", "moa"),
    "ctrp": (
        "cpd_name",
        "master_cpd_id",
        None,
        "ccle_primary_site",
        "gene_symbol_of_protein_target",
        "target_or_activity_of_compound",
    ),
    "ccle": ("Compound", None, None, "suffix:CCLE Cell Line Name", "Target", None),
}
#: the dataset kept by reference.dataset: auto when a file holds several
PREFERRED_DATASET = {"gdsc": "GDSC2", "gdsc_web": "GDSC2"}


def _has(header: set[str], *names: str) -> bool:
    return all(n.lower() in header for n in names)


def _any(header: set[str], *names: str) -> bool:
    return any(n.lower() in header for n in names)


#: layout -> (what identifies it, the test on the lower-cased header)
SIGNATURES: dict[str, tuple[str, Callable[[set[str]], bool]]] = {
    "gdsc": (
        "GDSC1/GDSC2 fitted dose-response: DRUG_NAME with CELL_LINE_NAME, COSMIC_ID or "
        "SANGER_MODEL_ID",
        lambda h: (
            _has(h, "DRUG_NAME") and _any(h, "CELL_LINE_NAME", "COSMIC_ID", "SANGER_MODEL_ID")
        ),
    ),
    "gdsc_web": (
        "GDSC website table export: 'Drug Name' with 'Cell Line Name' or 'Cosmic ID'",
        lambda h: _has(h, "Drug Name") and _any(h, "Cell Line Name", "Cosmic ID"),
    ),
    "prism": (
        "DepMap PRISM secondary-screen curves: broad_id, or depmap_id with name",
        lambda h: _has(h, "broad_id") or _has(h, "depmap_id", "name"),
    ),
    "ctrp": (
        "CTRPv2 curves: area_under_curve with cpd_name or master_cpd_id",
        lambda h: _has(h, "area_under_curve") and _any(h, "cpd_name", "master_cpd_id"),
    ),
    "ccle": (
        "CCLE 2012 pharmacology: 'CCLE Cell Line Name' and 'Compound'",
        lambda h: _has(h, "CCLE Cell Line Name", "Compound"),
    ),
    "long": ("rxrank's long table: cell_line and drug", lambda h: _has(h, "cell_line", "drug")),
}
#: first header cells of a wide matrix (lines x drugs, or drugs x lines)
WIDE_LINES = ("", "cell_line", "cell line", "cell_line_name", "cell line name", "model_id")
WIDE_LINES += ("modelid", "depmap_id", "cosmic_id", "line")
WIDE_DRUGS = ("drug", "drug_name", "drug name", "compound")
#: column names of the fixed layouts (and the CTRP curve and meta tables): a header holding one
#: after its first column is no wide matrix of drugs
KNOWN_COLUMNS = {
    c.lower()
    for layout in METRICS.values()
    for metric, (column, _) in layout.items()
    for c in (metric, column)
} | {c.lower() for ids in CELL_LINE_IDS.values() for c in ids.values()}
KNOWN_COLUMNS |= {c.lower() for spec in SPECS.values() for c in spec if c and ":" not in c}
KNOWN_COLUMNS |= {
    "experiment_id", "master_ccl_id", "conc_pts_fit", "fit_num_param", "p1_center", "p2_slope",
    "p3_total_decline", "p4_baseline", "pred_pv_high_conc", "drug", "value", "cell_line", "targets",
    "pathway", "nlme_result_id", "nlme_curve_id", "max_conc", "min_conc", "rmse", "screen_id",
}  # fmt: skip


def _wide_reason(names: list[str]) -> str | None:
    first, rest = names[0].lower(), [n.lower() for n in names[1:]]
    if first not in WIDE_LINES + WIDE_DRUGS:
        return None
    known = sorted({n for n in rest if n in KNOWN_COLUMNS - {"tissue"}})
    if known:
        return None
    return (
        f"the first column is {names[0]!r} and no other column is a known screen column, so "
        "it is a wide matrix"
    )


def signatures_text() -> str:
    lines = [f"{name} ({what})" for name, (what, _) in SIGNATURES.items()]
    lines.append(
        f"wide (first column named one of {list(WIDE_LINES + WIDE_DRUGS)}, then one column per "
        "drug or cell line)"
    )
    return "; ".join(lines)


def detect_layout(header: Sequence[str], path: Path | str = "the screen file") -> tuple[str, str]:
    """A screen's layout from its header, and the reason, for the log; unrecognised: an error.

    A layout is recognised by the column names that identify it (:data:`SIGNATURES`); a header
    that fits none is refused with the list of layouts, never read as something it may not be.
    """
    names = [str(h).strip() for h in header]
    lower = {n.lower() for n in names}
    for layout, (what, test) in SIGNATURES.items():
        if test(lower):
            return layout, f"the header fits the {layout} layout ({what})"
    reason = _wide_reason(names) if names else None
    if reason:
        return "wide", reason
    raise RxrankInputError(
        f"{path}: the header {_show(names)} fits none of the screen layouts rxrank reads: "
        f"{signatures_text()}. Rename the columns to one of these layouts (a long table with "
        "cell_line, drug and the value column is the simplest), or set "
        "reference.response_layout (layout=) if the file is one of them."
    )


def choose(options: dict, key: str, option: str, layout: str, path: Path) -> str:
    if key not in options:
        raise RxrankInputError(
            f"{option}={key!r} is not available for the {layout} layout of {path}; choose one of "
            f"{sorted(options)}."
        )
    return options[key]


def metric_column(
    layout: str, metric: str, value_column: str | None, path: Path
) -> tuple[str, str]:
    if value_column is not None:
        return value_column, ""
    available = METRICS[layout]
    if metric not in available:
        raise RxrankInputError(
            f"metric {metric!r} is not available for the {layout} layout of {path}; choose one of "
            f"{sorted(available)}, or name the column to read with value_column=."
        )
    return available[metric]


def require(table: _Table, layout: str, columns: Sequence[str], fix: str = "") -> None:
    missing = [c for c in columns if not table.has(c)]
    if missing:
        raise RxrankInputError(
            f"screen file {table.path} does not fit the {layout} layout: it lacks column(s) "
            f"{missing}; its header has {_show(table.header)}. "
            + (fix or "Rename the columns, or choose another layout")
            + f" (one of {list(LAYOUTS)}), metric or value_column."
        )


def _ccle_tissue(names: pd.Series) -> pd.Series:
    """A CCLE name's tissue: lower-cased, after its first underscore ("A549_LUNG" -> "lung")."""
    return _per_unique(
        names, lambda s: s.str.extract(r"^[^_]*_(.*)$", expand=False).fillna("").str.lower()
    )


def _prism_str_filter(table: _Table, notes: _Notes) -> _Table:
    if not table.has("passed_str_profiling"):
        return table
    written = table.column("passed_str_profiling")
    flag = written.str.lower()
    odd = ~(flag.isin(TRUE_TOKENS) | flag.isin(FALSE_TOKENS) | written.isin(NA_TOKENS))
    if odd.any():
        line = int(flag.index[np.flatnonzero(odd)[0]])
        raise RxrankInputError(
            f"screen file {table.path}, line {line}, column "
            f"{table.name('passed_str_profiling')!r}: {written.loc[line]!r} is not TRUE or FALSE. "
            "Fix the value or remove the column to keep every row."
        )
    passed = flag.isin(TRUE_TOKENS)
    notes.drop(int((~passed).sum()), "not marked as passing STR profiling")
    return table.rows(passed)


CTRP_FIX = (
    "A CTRPv2 curves table (v20.data.curves_post_qc.txt) names no compound or cell line: join "
    "it first with v20.meta.per_experiment.txt (experiment_id -> master_ccl_id), "
    "v20.meta.per_cell_line.txt (master_ccl_id -> ccl_name) and v20.meta.per_compound.txt "
    "(master_cpd_id -> cpd_name), and read the joined table"
)


def read_fixed(
    table: _Table,
    layout: str,
    *,
    metric: str,
    value_column: str | None,
    cell_line_id: str,
    notes: _Notes,
) -> tuple[pd.DataFrame, str]:
    """Records of the layouts with fixed column names (gdsc, gdsc_web, prism, ctrp, ccle)."""
    path = table.path
    id_column = choose(CELL_LINE_IDS[layout], cell_line_id, "cell_line_id", layout, path)
    value, transform = metric_column(layout, metric, value_column, path)
    drug, drug_id, dataset, tissue, targets, pathway = SPECS[layout]
    if layout == "prism":
        table = _prism_str_filter(table, notes)
    require(table, layout, [id_column, drug, value], CTRP_FIX if layout == "ctrp" else "")
    rec = pd.DataFrame(
        {
            "cell_line": table.column(id_column),
            "drug": table.column(drug),
            "raw": table.column(value),
            "column": table.name(value),
        }
    )
    if id_column.lower() in ("cosmic_id", "cosmic id", "master_ccl_id"):
        rec["cell_line"] = _integral(rec["cell_line"])  # spreadsheets turn 683665 into 683665.0
    for key, column in (("drug_id", drug_id), ("dataset", dataset)):
        if column and table.has(column):
            rec[key] = _integral(table.column(column)).where(lambda s: ~s.isin(NA_TOKENS), "")
    if layout == "prism" and "drug_id" in rec:
        unnamed = rec["drug"].isin(NA_TOKENS) & (rec["drug_id"] != "")
        if unnamed.any():
            rec.loc[unnamed, "drug"] = rec.loc[unnamed, "drug_id"]
            notes.add(f"{int(unnamed.sum())} row(s) without a drug name use their broad_id")
    if tissue and tissue.startswith("suffix:"):
        if table.has(tissue[7:]):
            rec["tissue"] = _ccle_tissue(table.column(tissue[7:]))
    elif tissue and table.has(tissue):
        rec["tissue"] = table.column(tissue)
    if (targets and table.has(targets)) or (pathway and table.has(pathway)):
        rec["targets"] = table.optional(targets) if targets else ""
        rec["pathway"] = table.optional(pathway) if pathway else ""
    return rec, transform


def read_long(
    table: _Table, *, metric: str, value_column: str | None, notes: _Notes
) -> tuple[pd.DataFrame, str]:
    value = value_column or metric
    require(table, "long", ["cell_line", "drug", value])
    rec = pd.DataFrame(
        {
            "cell_line": table.column("cell_line"),
            "drug": table.column("drug"),
            "raw": table.column(value),
            "column": table.name(value),
        }
    )
    if table.has("tissue"):
        rec["tissue"] = table.column("tissue")
    if table.has("targets") or table.has("pathway"):
        rec["targets"] = table.optional("targets")
        rec["pathway"] = table.optional("pathway")
    return rec, ""


def read_wide(table: _Table, *, orientation: str, notes: _Notes) -> tuple[pd.DataFrame, str]:
    header, body = table.header, table.body
    by_lines = orientation == "lines_by_drugs"
    first = header[0].lower()
    if first in (WIDE_DRUGS if by_lines else WIDE_LINES[1:]):
        right = "drugs_by_lines" if by_lines else "lines_by_drugs"
        raise RxrankInputError(
            f"screen file {table.path}: the first column of this wide matrix is {header[0]!r}, "
            f"but orientation is {orientation!r}. Set orientation (reference.orientation of the "
            f"screen) to {right!r}, or rename the column."
        )
    tissue_at = table.find("tissue") if by_lines else None
    tissue_at = tissue_at or None  # a first column called "tissue" still holds the IDs
    keep = [i for i in range(1, len(header)) if i != tissue_at]
    names = np.array([header[i] for i in keep], dtype=object)
    if (names == "").any():
        col = keep[int(np.flatnonzero(names == "")[0])] + 1
        what = "a drug" if by_lines else "a cell line"
        raise RxrankInputError(
            f"screen file {table.path}: column {col} of the header (line 1) has no name; in the "
            f"wide layout ({orientation}) every column after the first must name {what}."
        )
    ids = _strip(body[0]).to_numpy(dtype=object)
    cells = body[keep].to_numpy(dtype=object)
    n_rows, n_cols = cells.shape
    row_ids, col_ids = np.repeat(ids, n_cols), np.tile(names, n_rows)
    lines = pd.Index(np.repeat(body.index.to_numpy(), n_cols))
    rec = pd.DataFrame(
        {
            "cell_line": row_ids if by_lines else col_ids,
            "drug": col_ids if by_lines else row_ids,
            "raw": _strip(pd.Series(cells.ravel(), index=lines, dtype=object)),
            "column": col_ids,
        },
        index=lines,
    )
    notes.unit = "cell(s)"
    if tissue_at is not None:
        rec["tissue"] = np.repeat(_strip(body[tissue_at]).to_numpy(dtype=object), n_cols)
        notes.add(f"column {header[tissue_at]!r} read as the cell lines' tissue, not as a drug")
    return rec, ""
