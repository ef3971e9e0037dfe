"""Cell-line annotation tables: rxrank's (cell_line, tissue) or DepMap's ``Model.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import RxrankInputError, read_table

#: Model.csv's ID columns, by the name ``cell_line_id`` gives them
MODEL_IDS = {"depmap": "ModelID", "name": "CellLineName", "stripped": "StrippedCellLineName"}


def read_cell_lines(path: str | Path, *, cell_line_id: str | None = None) -> pd.Series:
    """Each cell line's tissue (index ``cell_line``), from a cell-line annotation table.

    DepMap's ``Model.csv`` (ModelID, CellLineName, StrippedCellLineName, OncotreeLineage, ...) is
    recognised by its header: the tissue is OncotreeLineage and the lines are named by ModelID
    (``ACH-...``, as DepMap expression and PRISM rows are; ``cell_line_id`` ``name`` or
    ``stripped`` chooses the other names). Any other table: the first column names the line and
    the second is its tissue.
    """
    path = Path(path)
    table = read_table(path, what="cell-line annotation")
    if {"ModelID", "OncotreeLineage"} <= set(table.columns):
        key = cell_line_id or "depmap"
        if key not in MODEL_IDS:
            raise RxrankInputError(
                f"cell-line annotation {path} is DepMap's Model.csv: cell_line_id {key!r} is not "
                f"one of {sorted(MODEL_IDS)}."
            )
        if MODEL_IDS[key] not in table.columns:
            raise RxrankInputError(
                f"cell-line annotation {path} (DepMap Model.csv) has no column {MODEL_IDS[key]!r}; "
                f"its columns are {list(table.columns)[:12]}."
            )
        ids, tissue = table[MODEL_IDS[key]], table["OncotreeLineage"]
    else:
        if table.shape[1] < 2:
            raise RxrankInputError(
                f"cell-line annotation {path} needs two columns: cell_line and tissue."
            )
        ids, tissue = table.iloc[:, 0], table.iloc[:, 1]
    frame = pd.DataFrame({"cell_line": ids, "tissue": tissue}).dropna(subset=["cell_line"])
    frame = frame.astype({"cell_line": str}).assign(
        cell_line=lambda f: f["cell_line"].str.strip(),
        tissue=lambda f: f["tissue"].fillna("").astype(str).str.strip(),
    )
    frame = frame[frame["cell_line"] != ""]
    dup = frame["cell_line"][frame["cell_line"].duplicated()]
    if len(dup):
        raise RxrankInputError(
            f"cell-line annotation {path} lists cell line(s) more than once, e.g. "
            f"{list(dup[:3])}. Each line must appear once."
        )
    return frame.set_index("cell_line")["tissue"]
