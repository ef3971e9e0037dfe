"""Readers and validation of every input table, and atomic writers for every output.

Every reader either returns a clean object or raises :class:`RxrankInputError` whose message names the
file, the row or column at fault and what to do about it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

__all__ = [
    "read_binary_features",
    "RxrankInputError",
    "atomic_path",
    "read_clinical",
    "read_drugs",
    "read_expression",
    "read_response",
    "read_table",
    "write_tsv",
]

log = logging.getLogger(__name__)

EXPRESSION_TYPES = ("counts", "tpm", "log")
ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")


class RxrankInputError(ValueError):
    """An input that rxrank cannot trust; the message says where and how to fix it."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; outputs follow the umask like any file
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_tsv(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Write a TSV atomically (floats with 6 significant digits)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=index, float_format="%.6g")


def _sep_for(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def read_table(path: str | Path, *, what: str = "table") -> pd.DataFrame:
    """Read a TSV/CSV (optionally gzipped) as strings-first, with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise RxrankInputError(f"{what} file not found: {path}. Check the path in your config.")
    if path.stat().st_size == 0:
        raise RxrankInputError(f"{what} file {path} is empty. Export the table again.")
    sep = _sep_for(path)
    try:
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as err:
        raise RxrankInputError(
            f"{what} file {path} could not be parsed as {'CSV' if sep == ',' else 'TSV'}: {err}. "
            "Save it as tab-separated text (.tsv) or comma-separated (.csv), UTF-8."
        ) from None
    except pd.errors.EmptyDataError:
        raise RxrankInputError(
            f"{what} file {path} is empty: it has no rows. Export the table again."
        ) from None
    if frame.shape[1] < 2:
        other = "comma" if sep == "\t" else "tab"
        raise RxrankInputError(
            f"{what} file {path} has a single column; it is probably {other}-separated. "
            f"Use the extension that matches its delimiter (.tsv for tabs, .csv for commas)."
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _raw_header(path: Path) -> list[str]:
    """Header fields as written (pandas renames duplicate names, which would hide them)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        line = fh.readline()
    return [f.strip().strip('"') for f in next(csv.reader([line], delimiter=_sep_for(path)), [])]


def _require_columns(frame: pd.DataFrame, columns: list[str], path: Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RxrankInputError(
            f"{what} file {path} lacks column(s) {missing}; it has {list(frame.columns)[:12]}. "
            "Rename the columns or set their names in the config."
        )


def _check_unique(ids: pd.Index, path: Path, what: str, kind: str) -> None:
    dup = ids[ids.duplicated()]
    if len(dup):
        raise RxrankInputError(
            f"{what} file {path} has duplicate {kind} IDs, e.g. {list(dup[:3])}. "
            f"Each {kind} must appear once."
        )


def _genes_on_rows(row_ids, col_ids, orientation: str) -> bool:
    """Whether gene IDs run down the first column: Ensembl-looking IDs decide, else the longer axis."""
    if orientation == "genes_by_samples":
        return True
    if orientation == "samples_by_genes":
        return False
    rows = pd.Series(list(row_ids), dtype=str)
    cols = pd.Series(list(col_ids), dtype=str)
    row_ens = rows.str.match(ENSEMBL).mean()
    col_ens = cols.str.match(ENSEMBL).mean()
    if row_ens > 0.5 or col_ens > 0.5:
        return row_ens >= col_ens
    return len(rows) >= len(cols)


def read_expression(
    path: str | Path,
    *,
    expression_type: str = "counts",
    orientation: str = "auto",
    what: str = "expression",
) -> ad.AnnData:
    """Read an expression table (genes x samples or samples x genes) into samples x genes AnnData.

    Duplicate gene IDs are summed for counts and averaged otherwise; ``.uns['rxrank_io']`` records
    the orientation detected and how many duplicates were merged.
    """
    path = Path(path)
    if expression_type not in EXPRESSION_TYPES:
        raise RxrankInputError(
            f"expression_type {expression_type!r} for {path} is not one of {EXPRESSION_TYPES}."
        )
    if path.suffix == ".h5ad":
        adata = ad.read_h5ad(path)
        genes_on_rows = False
        values = pd.DataFrame(
            np.asarray(adata.X.todense() if hasattr(adata.X, "todense") else adata.X),
            index=adata.obs_names.astype(str),
            columns=adata.var_names.astype(str),
        )
    else:
        frame = read_table(path, what=what)
        genes_on_rows = _genes_on_rows(frame.iloc[:, 0], frame.columns[1:], orientation)
        first = frame.columns[0]
        frame[first] = frame[first].astype(str).str.strip()
        if genes_on_rows:
            _check_unique(pd.Index(_raw_header(path)[1:]), path, what, "sample")
        else:
            _check_unique(pd.Index(frame[first]), path, what, "sample")
        frame = frame.set_index(first)
        values = frame.apply(pd.to_numeric, errors="coerce")
        bad = values.isna() & frame.notna()
        if bad.to_numpy().any():
            r, c = np.argwhere(bad.to_numpy())[0]
            raise RxrankInputError(
                f"{what} file {path}: non-numeric value {frame.iat[r, c]!r} at row "
                f"{frame.index[r]!r}, column {frame.columns[c]!r}. Expression values must be numbers."
            )
        if genes_on_rows:
            values = values.T
    values.index = values.index.astype(str)
    values.columns = values.columns.astype(str)
    X = values.to_numpy(dtype=np.float32)
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise RxrankInputError(
            f"{what} file {path}: missing or infinite value for sample {values.index[r]!r}, gene "
            f"{values.columns[c]!r}. Fill or remove it before running rxrank."
        )
    if expression_type == "counts":
        if (X < 0).any():
            r, c = np.argwhere(X < 0)[0]
            raise RxrankInputError(
                f"{what} file {path}: negative count at sample {values.index[r]!r}, gene "
                f"{values.columns[c]!r}. Counts cannot be negative; if the values are log-scale "
                "set expression_type: log."
            )
        if not np.allclose(X, np.round(X)):
            raise RxrankInputError(
                f"{what} file {path} is declared as counts but holds non-integer values. "
                "Set expression_type: tpm (or log) to match the data."
            )
    n_dup = int(values.columns.duplicated().sum())
    if n_dup:
        agg = "sum" if expression_type == "counts" else "mean"
        values = values.T.groupby(level=0, sort=False).agg(agg).T
        X = values.to_numpy(dtype=np.float32)
        log.warning("%s: %d duplicate gene IDs merged by %s", path, n_dup, agg)
    adata = ad.AnnData(
        X=X, obs=pd.DataFrame(index=values.index), var=pd.DataFrame(index=values.columns)
    )
    _check_unique(adata.obs_names, path, what, "sample")
    adata.uns["rxrank_io"] = {
        "path": str(path),
        "expression_type": expression_type,
        "orientation": "genes_by_samples" if genes_on_rows else "samples_by_genes",
        "duplicate_genes_merged": n_dup,
    }
    return adata


def read_clinical(
    path: str | Path,
    *,
    id_column: str = "patient_id",
    time_column: str = "os_months",
    event_column: str = "os_event",
) -> pd.DataFrame:
    """Read the clinical table indexed by patient ID, validating survival time and event."""
    path = Path(path)
    frame = read_table(path, what="clinical")
    _require_columns(frame, [id_column, time_column, event_column], path, "clinical")
    frame[id_column] = frame[id_column].astype(str).str.strip()
    _check_unique(pd.Index(frame[id_column]), path, "clinical", "patient")
    frame = frame.set_index(id_column)
    frame.index.name = "patient_id"
    time = pd.to_numeric(frame[time_column], errors="coerce")
    bad = time.isna() | (time <= 0)
    if bad.any():
        pid = bad[bad].index[0]
        raise RxrankInputError(
            f"clinical file {path}: column {time_column!r} for patient {pid!r} is "
            f"{frame.at[pid, time_column]!r}; survival times must be positive numbers. "
            "Fix or remove that row."
        )
    event = pd.to_numeric(frame[event_column], errors="coerce")
    bad = ~event.isin([0, 1])
    if bad.any():
        pid = bad[bad].index[0]
        raise RxrankInputError(
            f"clinical file {path}: column {event_column!r} for patient {pid!r} is "
            f"{frame.at[pid, event_column]!r}; events must be 0 (censored) or 1 (event)."
        )
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


def expression_sample_ids(path: str | Path, *, orientation: str = "auto") -> list[str]:
    """Sample IDs of an expression file, read without loading the matrix."""
    path = Path(path)
    if path.suffix == ".h5ad":
        return list(ad.read_h5ad(path, backed="r").obs_names)
    if not path.exists():
        raise RxrankInputError(f"expression file not found: {path}. Check the path in your config.")
    try:
        first = pd.read_csv(path, sep=_sep_for(path), usecols=[0], encoding="utf-8-sig")
        header = pd.read_csv(path, sep=_sep_for(path), nrows=0, encoding="utf-8-sig").columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise RxrankInputError(f"expression file {path} could not be read: {err}") from None
    rows = first.iloc[:, 0].astype(str).str.strip()
    cols = [str(c).strip() for c in header[1:]]
    return cols if _genes_on_rows(rows, cols, orientation) else list(rows)
