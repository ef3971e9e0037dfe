"""Readers for published drug-screen layouts, each recognised by its header, never guessed.

:func:`read_screen` maps a screen file onto rxrank's long response table (``cell_line``, ``drug``,
``value``), each cell line's tissue and, when the screen carries them, drug annotations (index
``drug``; ``targets`` ``;``-separated, ``pathway``). Every row dropped and every duplicate merged is
recorded in :attr:`Screen.notes` (what a user must see also in :attr:`Screen.warnings`); bad input
raises :class:`~rxrank.io.RxrankInputError` naming the file, the line or column at fault and the
fix. Column names match in any case. A header that fits no layout is refused with the list.

Different measurements are never averaged: a drug name under two drug IDs or in two datasets is one
drug per (dataset, ID), labelled ``name (dataset:ID)`` (plain names otherwise; ``Screen.drug_ids``
maps labels to names, datasets and IDs), unless ``dataset`` keeps one dataset. Repeats of one
(cell line, drug) in one dataset are merged by ``aggregate``.

- ``gdsc``: GDSC1/GDSC2 fitted dose-response export (CSV or the distributed .xlsx; DATASET,
  NLME_RESULT_ID, COSMIC_ID, CELL_LINE_NAME, SANGER_MODEL_ID, TCGA_DESC, DRUG_ID, DRUG_NAME,
  PUTATIVE_TARGET, PATHWAY_NAME, ..., LN_IC50, AUC, RMSE, Z_SCORE). Metrics ``ln_ic50`` (default),
  ``auc``, ``z_score``. Cell lines by CELL_LINE_NAME, COSMIC_ID or SANGER_MODEL_ID (``cell_line_id``
  name / cosmic / sanger); tissue TCGA_DESC; targets PUTATIVE_TARGET, pathway PATHWAY_NAME.
  ``dataset="auto"`` keeps GDSC2 when the file holds GDSC1 and GDSC2.
- ``gdsc_web``: the GDSC website's table export (Drug Name, Drug ID, Cell Line Name, Cosmic ID,
  TCGA Classification, Tissue, Tissue Sub-type, IC50, AUC, Max Conc, RMSE, Z score, Dataset
  Version). ``ln_ic50`` is its IC50 column (already the natural log, in ln uM), ``auc``,
  ``z_score``; cell lines by name or cosmic; tissue from Tissue; dataset from Dataset Version.
- ``prism``: DepMap PRISM secondary-screen dose-response curve parameters (broad_id, depmap_id,
  ccle_name, screen_id, auc, ec50, ic50, name, moa, target, passed_str_profiling). Metric ``auc``
  by default; ``ln_ic50`` / ``ln_ec50`` (natural log of ic50 / ec50, in ln uM like GDSC's) leave
  out curves without one, with a warning and the count; ``ic50``, ``ec50``. Rows not passing STR
  profiling are dropped. Cell lines by depmap_id or ccle_name (``cell_line_id`` depmap / ccle);
  tissue is the lower-cased ccle_name after its first underscore ("A549_LUNG" -> "lung"); each
  (screen_id, broad_id) is its own drug.
- ``ctrp``: CTRPv2 curves joined with its meta tables (cpd_name, ccl_name, area_under_curve,
  master_cpd_id, apparent_ec50_umol, ccle_primary_site, gene_symbol_of_protein_target,
  target_or_activity_of_compound). Metrics ``auc`` (default), ``ln_ec50``, ``ec50``; cell lines by
  ccl_name or master_ccl_id (``name`` / ``ctrp``). The bare curves table is refused with how to join.
- ``ccle``: CCLE 2012 pharmacology (CCLE Cell Line Name, Primary Cell Line Name, Compound, Target,
  ..., EC50 (uM), IC50 (uM), Amax, ActArea). Metrics ``ln_ic50`` (default; IC50 is 8 uM where not
  reached), ``ic50``, ``ln_ec50``, ``ec50``, ``neg_act_area`` (minus ActArea); cell lines by CCLE
  name or primary name (``ccle`` / ``name``); tissue from the CCLE name's suffix.
- ``long``: ``cell_line``, ``drug`` and the value column (``value_column``, else the metric's name);
  optional ``tissue``, ``targets`` and ``pathway``.
- ``wide``: the first column (named ``cell_line`` or the like, or empty) holds cell-line IDs and
  every other column is a drug (or the transpose, first column ``drug``,
  ``orientation="drugs_by_lines"``); empty cells are missing; a column named ``tissue`` is the tissue.
"""

from __future__ import annotations

from pathlib import Path

from ..io import RxrankInputError
from ._base import Screen, _Notes, read_table
from ._finish import AUTO, finish
from ._layouts import (
    CELL_LINE_IDS,
    DEFAULT_CELL_LINE_ID,
    DEFAULT_METRIC,
    LAYOUTS,
    METRICS,
    SIGNATURES,
    detect_layout,
    read_fixed,
    read_long,
    read_wide,
)
from ._lines import read_cell_lines

__all__ = [
    "AGGREGATES",
    "DEFAULT_METRIC",
    "LAYOUTS",
    "METRICS",
    "SIGNATURES",
    "Screen",
    "detect_layout",
    "read_cell_lines",
    "read_screen",
]

AGGREGATES = ("mean", "median", "first")
ORIENTATIONS = ("lines_by_drugs", "drugs_by_lines")


def _check_options(path: Path, layout: str, aggregate: str, orientation: str, metric) -> None:
    for option, given, allowed in (
        ("layout", layout, LAYOUTS),
        ("aggregate", aggregate, AGGREGATES),
        ("orientation", orientation, ORIENTATIONS),
    ):
        if given not in allowed:
            raise RxrankInputError(
                f"{option}={given!r} for screen file {path} is not one of {list(allowed)}."
            )
    if metric is not None and (not isinstance(metric, str) or not metric.strip()):
        raise RxrankInputError(f"metric for screen file {path} must be a non-empty name.")


def _check_applies(path: Path, layout: str, cell_line_id, orientation: str, value_column) -> None:
    if cell_line_id is not None and layout not in CELL_LINE_IDS:
        known = "; ".join(f"{k}: {sorted(v)}" for k, v in CELL_LINE_IDS.items())
        raise RxrankInputError(
            f"cell_line_id applies to the screen layouts with named ID columns ({known}), not "
            f"to the {layout} layout of {path}."
        )
    if orientation != "lines_by_drugs" and layout != "wide":
        raise RxrankInputError(
            f"orientation={orientation!r} applies to the wide layout only; {path} is read as "
            f"the {layout} layout."
        )
    if value_column is not None and layout == "wide":
        raise RxrankInputError(
            f"value_column applies to the layouts with named columns; {path} is read as a "
            "wide matrix whose cells are the values."
        )


def read_screen(
    path: str | Path,
    *,
    layout: str = "auto",
    metric: str | None = None,
    value_column: str | None = None,
    aggregate: str = "mean",
    cell_line_id: str | None = None,
    orientation: str = "lines_by_drugs",
    dataset: str | None = AUTO,
) -> Screen:
    """Read a drug-screen file (any layout of the module docstring) as a Screen.

    ``layout="auto"`` follows :func:`detect_layout`; ``metric=None`` takes the layout's default
    (:data:`DEFAULT_METRIC`: AUC for PRISM and CTRP, ln IC50 otherwise). ``dataset``: ``"auto"``
    keeps GDSC2 of a GDSC file holding several datasets (and all of other files); a name keeps
    that dataset; ``None`` keeps all, a drug in several being one drug per dataset, labelled.
    """
    path = Path(path)
    _check_options(path, layout, aggregate, orientation, metric)
    table = read_table(path)
    reason = None
    if layout == "auto":
        layout, reason = detect_layout(table.header, f"screen file {path}")
    metric = metric or DEFAULT_METRIC[layout]
    notes = _Notes(path)
    if reason:
        notes.add(f"layout {layout!r} auto-detected: {reason}")
    try:
        _check_applies(path, layout, cell_line_id, orientation, value_column)
        n_rows = len(table.body)
        notes.add(f"read {n_rows} data row(s)")
        if layout in CELL_LINE_IDS:
            rec, transform = read_fixed(
                table,
                layout,
                metric=metric,
                value_column=value_column,
                cell_line_id=cell_line_id or DEFAULT_CELL_LINE_ID[layout],
                notes=notes,
            )
        elif layout == "long":
            rec, transform = read_long(table, metric=metric, value_column=value_column, notes=notes)
        else:
            rec, transform = read_wide(table, orientation=orientation, notes=notes)
        return finish(
            rec,
            path=path,
            layout=layout,
            metric=metric,
            transform=transform,
            aggregate=aggregate,
            dataset=dataset,
            notes=notes,
            n_rows=n_rows,
        )
    except RxrankInputError as err:
        if reason is None:
            raise
        raise RxrankInputError(
            f"{err} (layout {layout!r} was auto-detected because {reason}; pass layout= to "
            "choose another.)"
        ) from None
