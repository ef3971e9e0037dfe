"""Readers for published drug-screen layouts: GDSC, DepMap PRISM, wide matrices and long tables.

:func:`read_screen` maps a screen file onto rxrank's long response table (``cell_line``, ``drug``,
``value``), each cell line's tissue and, when the screen carries them, drug annotations (index
``drug``; ``targets`` ``;``-separated, ``pathway``). Every row dropped and every duplicate merged is
recorded in :attr:`Screen.notes`; bad input raises :class:`~rxrank.io.RxrankInputError` naming the
file, the line or column at fault and the fix. Column names match in any case.

- ``gdsc``: the GDSC fitted dose-response export (COSMIC_ID, CELL_LINE_NAME, DRUG_ID, DRUG_NAME,
  LN_IC50, AUC, ...). Metrics ``ln_ic50`` (LN_IC50), ``auc`` (AUC), ``z_score`` (Z_SCORE). Cell lines
  by CELL_LINE_NAME, COSMIC_ID or SANGER_MODEL_ID (``cell_line_id`` name / cosmic / sanger); tissue
  from TCGA_DESC; targets from PUTATIVE_TARGET (", " becomes ";"), pathway from PATHWAY_NAME. A drug
  screened under two DRUG_IDs (or in GDSC1 and GDSC2) is merged by name.
- ``prism``: DepMap PRISM secondary-screen dose-response curve parameters (depmap_id, ccle_name,
  name, broad_id, auc, ic50, ec50, target, moa, screen_id, passed_str_profiling). Rows not passing
  STR profiling are dropped. Metrics ``auc``, ``ic50``, ``ec50`` and ``ln_ic50`` / ``ln_ec50``
  (natural log, in ln uM like GDSC's LN_IC50; missing or non-positive values dropped). Cell lines by
  depmap_id or ccle_name (``cell_line_id`` depmap / ccle); tissue is the lower-cased ccle_name after
  its first underscore ("A549_LUNG" -> "lung"); targets from target, pathway from moa.
- ``long``: ``cell_line``, ``drug`` and the value column (``value_column``, else the metric's name);
  optional ``tissue``, ``targets`` and ``pathway``.
- ``wide``: the first column holds cell-line IDs and every other column is a drug (or the transpose,
  ``orientation="drugs_by_lines"``); empty cells are missing; a column named ``tissue`` is the tissue.
"""

from __future__ import annotations

import csv
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rxrank.io import RxrankInputError, check_fields, check_input_size, write_tsv

__all__ = ["AGGREGATES", "LAYOUTS", "METRICS", "Screen", "detect_layout", "read_screen"]

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "long", "gdsc", "prism", "wide")
AGGREGATES = ("mean", "median", "first")
ORIENTATIONS = ("lines_by_drugs", "drugs_by_lines")
#: metric -> (source column, take the natural log) for the layouts with fixed column names
METRICS = {
    "gdsc": {"ln_ic50": ("LN_IC50", False), "auc": ("AUC", False), "z_score": ("Z_SCORE", False)},
    "prism": {
        "auc": ("auc", False),
        "ln_ic50": ("ic50", True),
        "ic50": ("ic50", False),
        "ln_ec50": ("ec50", True),
        "ec50": ("ec50", False),
    },
}
CELL_LINE_IDS = {
    "gdsc": {"name": "CELL_LINE_NAME", "cosmic": "COSMIC_ID", "sanger": "SANGER_MODEL_ID"},
    "prism": {"depmap": "depmap_id", "ccle": "ccle_name"},
}
DEFAULT_CELL_LINE_ID = {"gdsc": "name", "prism": "depmap"}
NA_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A", "<NA>")
TRUE_TOKENS = ("true", "t", "1", "yes", "y")
FALSE_TOKENS = ("false", "f", "0", "no", "n")
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods")


@dataclass(frozen=True)
class Screen:
    """A drug screen in rxrank's terms: long responses, tissues, drug annotations and provenance."""

    response: pd.DataFrame
    tissues: pd.Series | None
    drugs: pd.DataFrame | None
    layout: str
    metric: str
    notes: list[str] = field(default_factory=list)

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``response.tsv`` (cell_line, drug, <metric>), ``cell_lines.tsv`` and ``drugs.tsv``.

        These are the ``reference.response`` / ``cell_lines`` / ``drugs`` inputs of the config.
        """
        directory = Path(directory)
        column = self.metric if self.metric not in ("cell_line", "drug") else "value"
        paths = {"response": directory / "response.tsv"}
        write_tsv(self.response.rename(columns={"value": column}), paths["response"])
        if self.tissues is not None:
            paths["cell_lines"] = directory / "cell_lines.tsv"
            write_tsv(self.tissues.rename("tissue").reset_index(), paths["cell_lines"])
        if self.drugs is not None:
            paths["drugs"] = directory / "drugs.tsv"
            write_tsv(self.drugs, paths["drugs"], index=True)
        return paths


class _Notes:
    """Collects what was done to a screen (``Screen.notes``) and why rows went missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self.drops: list[str] = []
        self.unit = "row(s)"

    def add(self, message: str) -> None:
        self.lines.append(message)
        log.info("%s: %s", self.path, message)

    def drop(self, count: int, reason: str) -> None:
        if count:
            self.drops.append(f"{count} {self.unit} {reason}")
            self.add(f"dropped {count} {self.unit} {reason}")


@dataclass
class _Table:
    """A screen file as strings: the stripped header and the body indexed by file line number."""

    path: Path
    header: list[str]
    body: pd.DataFrame

    def find(self, name: str) -> int | None:
        """Position of the column called ``name`` (any case); an error if two columns match."""
        hits = [i for i, h in enumerate(self.header) if h.lower() == name.lower()]
        if len(hits) > 1:
            raise RxrankInputError(
                f"screen file {self.path}: column {name!r} appears {len(hits)} times in the header "
                f"(columns {[i + 1 for i in hits]}). Rename or remove the extra copies."
            )
        return hits[0] if hits else None

    def has(self, name: str) -> bool:
        return self.find(name) is not None

    def column(self, name: str) -> pd.Series:
        return _strip(self.body[self.find(name)])

    def name(self, name: str) -> str:
        """The column's name as spelled in the file."""
        return self.header[self.find(name)]


def _per_unique(values: pd.Series, func) -> pd.Series:
    """Apply a string transform to each distinct value once (screen columns repeat a lot)."""
    codes, uniques = pd.factorize(values.fillna(""))
    done = func(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    return pd.Series(done[codes], index=values.index, dtype=object)


def _strip(values: pd.Series) -> pd.Series:
    return _per_unique(values, lambda s: s.str.strip())


def _show(header: Sequence[str], limit: int = 15) -> str:
    shown = [str(h) for h in header[:limit]]
    more = f" ... ({len(header)} columns)" if len(header) > limit else ""
    return f"{shown}{more}"


def _read(path: Path) -> _Table:
    """Read a TSV/CSV (optionally gzipped) as strings, keeping the header as written."""
    if not path.is_file():
        raise RxrankInputError(f"screen file not found: {path}. Check the path.")
    if path.suffix.lower() in SPREADSHEET_SUFFIXES:
        raise RxrankInputError(
            f"screen file {path} is a spreadsheet. Export the sheet as CSV (.csv) or "
            "tab-separated text (.tsv) and read that."
        )
    if path.stat().st_size == 0:
        raise RxrankInputError(f"screen file {path} is empty. Download or export it again.")
    gzipped = path.name.lower().endswith(".gz")
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    check_input_size(path, "screen")
    check_fields(path, "screen")
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            compression="gzip" if gzipped else None,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise RxrankInputError(f"screen file {path} has no rows. Export the table again.") from None
    except UnicodeDecodeError as err:
        raise RxrankInputError(
            f"screen file {path} is not UTF-8 text (byte {err.start}: {err.reason}). Save it as "
            "UTF-8 text (.tsv or .csv), or check that it is the file you meant."
        ) from None
    except (pd.errors.ParserError, EOFError, OSError, csv.Error, zlib.error) as err:
        kind = "CSV" if sep == "," else "TSV"
        raise RxrankInputError(
            f"screen file {path} could not be parsed as {kind}: {str(err).strip()}. Save it as UTF-8 "
            "tab-separated (.tsv) or comma-separated (.csv) text with one header line; if the "
            "header has one field fewer than the rows (R row names), name the first column."
        ) from None
    raw.index = pd.RangeIndex(1, len(raw) + 1)  # 1-based file line numbers
    header = [str(h).strip() for h in raw.iloc[0]] if len(raw) else []
    if len(header) < 2:
        other = "comma" if sep == "\t" else "tab"
        raise RxrankInputError(
            f"screen file {path} has a single column; it is probably {other}-separated. "
            "Use the extension that matches its delimiter (.tsv for tabs, .csv for commas)."
        )
    return _Table(path=path, header=header, body=raw.iloc[1:])


def detect_layout(header: Sequence[str]) -> tuple[str, str]:
    """Guess a screen's layout from its header; return the layout and the reason, for the log."""
    names = [str(h).strip() for h in header]
    lower = {n.lower() for n in names}
    gdsc = [c for c in ("DRUG_NAME", "CELL_LINE_NAME", "COSMIC_ID") if c.lower() in lower]
    if gdsc:
        return "gdsc", f"the header has GDSC column(s) {gdsc}"
    if "broad_id" in lower:
        return "prism", "the header has the PRISM column 'broad_id'"
    if {"depmap_id", "name"} <= lower:
        return "prism", "the header has the PRISM columns 'depmap_id' and 'name'"
    if {"cell_line", "drug"} <= lower:
        return "long", "the header has 'cell_line' and 'drug' columns"
    if "ln_ic50" in lower:
        return "gdsc", "the header has 'LN_IC50' but no 'cell_line' and 'drug' columns"
    return "wide", (
        "the header has no GDSC (DRUG_NAME, CELL_LINE_NAME), PRISM (broad_id, depmap_id + name) "
        "or long (cell_line + drug) columns, so it was read as a wide matrix"
    )


def _choose(options: dict, key: str, option: str, layout: str, path: Path) -> str:
    if key not in options:
        raise RxrankInputError(
            f"{option}={key!r} is not available for the {layout} layout of {path}; choose one of "
            f"{sorted(options)}."
        )
    return options[key]


def _metric_column(
    layout: str, metric: str, value_column: str | None, path: Path
) -> tuple[str, bool]:
    if value_column is not None:
        return value_column, False
    available = METRICS[layout]
    if metric not in available:
        raise RxrankInputError(
            f"metric {metric!r} is not available for the {layout} layout of {path}; choose one of "
            f"{sorted(available)}, or name the column to read with value_column=."
        )
    return available[metric]


def _require(table: _Table, layout: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if not table.has(c)]
    if missing:
        raise RxrankInputError(
            f"screen file {table.path} does not fit the {layout} layout: it lacks column(s) "
            f"{missing}; its header has {_show(table.header)}. Rename the columns, or choose "
            f"another layout (one of {list(LAYOUTS)}), metric or value_column."
        )


def _join_targets(targets: pd.Series) -> pd.Series:
    """Normalise ``", "`` or ``;`` separated targets to ``;``-separated, without blanks or repeats."""
    parts = targets.str.split(r"\s*[,;]\s*", regex=True).explode().str.strip()
    frame = pd.DataFrame({"key": parts.index, "target": parts.to_numpy()})
    frame = frame[frame["target"].notna() & (frame["target"] != "")].drop_duplicates()
    joined = frame.groupby("key", sort=False)["target"].agg(";".join)
    return joined.reindex(targets.index, fill_value="")


def _note_multiple_ids(drug: pd.Series, ids: pd.Series, id_name: str, notes: _Notes) -> None:
    pairs = pd.DataFrame({"drug": drug, "id": ids})
    pairs = pairs[~pairs.isin(NA_TOKENS).any(axis=1)].drop_duplicates()
    counts = pairs.groupby("drug", sort=False)["id"].agg(list)
    multi = counts[counts.str.len() > 1]
    if len(multi):
        example = f"{multi.index[0]!r}: {', '.join(multi.iloc[0])}"
        notes.add(
            f"{len(multi)} drug name(s) carry more than one {id_name} (e.g. {example}); their "
            "measurements are merged by drug name"
        )


def _gdsc(
    table: _Table, *, metric: str, value_column: str | None, cell_line_id: str | None, notes: _Notes
) -> tuple[pd.DataFrame, bool]:
    path = table.path
    id_column = _choose(CELL_LINE_IDS["gdsc"], cell_line_id, "cell_line_id", "gdsc", path)
    value, take_log = _metric_column("gdsc", metric, value_column, path)
    _require(table, "gdsc", [id_column, "DRUG_NAME", value])
    rec = pd.DataFrame(
        {
            "cell_line": table.column(id_column),
            "drug": table.column("DRUG_NAME"),
            "raw": table.column(value),
            "column": table.name(value),
        }
    )
    if id_column == "COSMIC_ID":  # spreadsheets turn 683665 into 683665.0
        rec["cell_line"] = rec["cell_line"].str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    if table.has("TCGA_DESC"):
        rec["tissue"] = table.column("TCGA_DESC")
    if table.has("PUTATIVE_TARGET") or table.has("PATHWAY_NAME"):
        rec["targets"] = table.column("PUTATIVE_TARGET") if table.has("PUTATIVE_TARGET") else ""
        rec["pathway"] = table.column("PATHWAY_NAME") if table.has("PATHWAY_NAME") else ""
    if table.has("DRUG_ID"):
        _note_multiple_ids(rec["drug"], table.column("DRUG_ID"), "DRUG_ID", notes)
    if table.has("DATASET"):
        datasets = sorted(set(table.column("DATASET")) - set(NA_TOKENS))
        if len(datasets) > 1:
            notes.add(f"rows from datasets {datasets} are pooled")
    return rec, take_log


def _prism(
    table: _Table, *, metric: str, value_column: str | None, cell_line_id: str | None, notes: _Notes
) -> tuple[pd.DataFrame, bool]:
    path = table.path
    id_column = _choose(CELL_LINE_IDS["prism"], cell_line_id, "cell_line_id", "prism", path)
    value, take_log = _metric_column("prism", metric, value_column, path)
    _require(table, "prism", [id_column, "name", value])
    if table.has("passed_str_profiling"):
        written = table.column("passed_str_profiling")
        flag = written.str.lower()
        odd = ~(flag.isin(TRUE_TOKENS) | flag.isin(FALSE_TOKENS) | written.isin(NA_TOKENS))
        if odd.any():
            line = int(flag.index[np.flatnonzero(odd)[0]])
            raise RxrankInputError(
                f"screen file {path}, line {line}, column "
                f"{table.name('passed_str_profiling')!r}: {written.loc[line]!r} is not TRUE or FALSE. "
                "Fix the value or remove the column to keep every row."
            )
        passed = flag.isin(TRUE_TOKENS)
        notes.drop(int((~passed).sum()), "not marked as passing STR profiling")
        table = _Table(path=path, header=table.header, body=table.body[passed])
    rec = pd.DataFrame(
        {
            "cell_line": table.column(id_column),
            "drug": table.column("name"),
            "raw": table.column(value),
            "column": table.name(value),
        }
    )
    if table.has("broad_id"):
        broad = table.column("broad_id")
        unnamed = rec["drug"].isin(NA_TOKENS) & ~broad.isin(NA_TOKENS)
        if unnamed.any():
            rec.loc[unnamed, "drug"] = broad[unnamed]
            notes.add(f"{int(unnamed.sum())} row(s) without a drug name use their broad_id")
        _note_multiple_ids(rec["drug"], broad, "broad_id", notes)
    if table.has("ccle_name"):
        rec["tissue"] = _per_unique(
            table.column("ccle_name"),
            lambda s: s.str.extract(r"^[^_]*_(.*)$", expand=False).fillna("").str.lower(),
        )
    if table.has("target") or table.has("moa"):
        rec["targets"] = table.column("target") if table.has("target") else ""
        rec["pathway"] = table.column("moa") if table.has("moa") else ""
    return rec, take_log


def _long(
    table: _Table, *, metric: str, value_column: str | None, notes: _Notes
) -> tuple[pd.DataFrame, bool]:
    value = value_column or metric
    _require(table, "long", ["cell_line", "drug", value])
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
        rec["targets"] = table.column("targets") if table.has("targets") else ""
        rec["pathway"] = table.column("pathway") if table.has("pathway") else ""
    return rec, False


def _wide(table: _Table, *, orientation: str, notes: _Notes) -> tuple[pd.DataFrame, bool]:
    header, body = table.header, table.body
    by_lines = orientation == "lines_by_drugs"
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
    return rec, False


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


def _finish(
    rec: pd.DataFrame,
    *,
    path: Path,
    layout: str,
    metric: str,
    take_log: bool,
    aggregate: str,
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
    if take_log:
        source = str(rec["column"].iloc[0]) if len(rec) else "value"
        unusable = ~no_id & ~(value > 0)
        notes.drop(
            int(unusable.sum()),
            f"with a missing or non-positive {source} (its natural log is undefined)",
        )
        value = np.log(value.where(value > 0))
    else:
        notes.drop(int((~no_id & value.isna()).sum()), "with an empty value")
    rec = rec.assign(value=value)[~no_id & value.notna()]
    if rec.empty:
        dropped = "; ".join(notes.drops) or "the file has no data rows"
        raise RxrankInputError(
            f"screen file {path} ({layout} layout, metric {metric!r}) has no usable measurements: "
            f"{n_rows} data row(s) read; {dropped}. Check that the file holds the metric's values "
            "and that the layout and metric options match it."
        )
    keys = ["cell_line", "drug"]
    extra = rec.duplicated(keys)
    if extra.any():
        pairs = rec.loc[rec.duplicated(keys, keep=False), keys].drop_duplicates()
        notes.add(
            f"{len(pairs)} (cell_line, drug) pair(s) measured more than once ({int(extra.sum())} "
            f"extra measurement(s), e.g. {pairs.iloc[0, 0]!r} x {pairs.iloc[0, 1]!r}); merged by "
            f"{aggregate}"
        )
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
    )


def read_screen(
    path: str | Path,
    *,
    layout: str = "auto",
    metric: str = "ln_ic50",
    value_column: str | None = None,
    aggregate: str = "mean",
    cell_line_id: str | None = None,
    orientation: str = "lines_by_drugs",
) -> Screen:
    """Read a drug-screen file (GDSC, PRISM, wide or long; see the module docstring) as a Screen.

    ``layout="auto"`` follows :func:`detect_layout`; duplicate (cell_line, drug) pairs are merged.
    """
    path = Path(path)
    for option, given, allowed in (
        ("layout", layout, LAYOUTS),
        ("aggregate", aggregate, AGGREGATES),
        ("orientation", orientation, ORIENTATIONS),
    ):
        if given not in allowed:
            raise RxrankInputError(
                f"{option}={given!r} for screen file {path} is not one of {list(allowed)}."
            )
    if not isinstance(metric, str) or not metric.strip():
        raise RxrankInputError(f"metric for screen file {path} must be a non-empty name.")
    table = _read(path)
    reason = None
    if layout == "auto":
        layout, reason = detect_layout(table.header)
    notes = _Notes(path)
    if reason:
        notes.add(f"layout {layout!r} auto-detected: {reason}")
    try:
        if cell_line_id is not None and layout not in CELL_LINE_IDS:
            raise RxrankInputError(
                f"cell_line_id applies to the gdsc ({sorted(CELL_LINE_IDS['gdsc'])}) and prism "
                f"({sorted(CELL_LINE_IDS['prism'])}) layouts, not to the {layout} layout of {path}."
            )
        if orientation != "lines_by_drugs" and layout != "wide":
            raise RxrankInputError(
                f"orientation={orientation!r} applies to the wide layout only; {path} is read as "
                f"the {layout} layout."
            )
        if value_column is not None and layout == "wide":
            raise RxrankInputError(
                f"value_column applies to the long, gdsc and prism layouts; {path} is read as a "
                "wide matrix whose cells are the values."
            )
        n_rows = len(table.body)
        notes.add(f"read {n_rows} data row(s)")
        if layout in CELL_LINE_IDS:
            reader = _gdsc if layout == "gdsc" else _prism
            rec, take_log = reader(
                table,
                metric=metric,
                value_column=value_column,
                cell_line_id=cell_line_id or DEFAULT_CELL_LINE_ID[layout],
                notes=notes,
            )
        elif layout == "long":
            rec, take_log = _long(table, metric=metric, value_column=value_column, notes=notes)
        else:
            rec, take_log = _wide(table, orientation=orientation, notes=notes)
        return _finish(
            rec,
            path=path,
            layout=layout,
            metric=metric,
            take_log=take_log,
            aggregate=aggregate,
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
