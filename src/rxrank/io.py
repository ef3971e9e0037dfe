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

from .gene_ids import GeneMap, gene_like_fraction, load_gene_map, normalise_gene_ids

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


SAMPLE_LIKE = re.compile(
    r"^(TCGA-|TARGET-|GSM\d|SRR\d|ERR\d|DRR\d|SAM[NED]\d|sample|patient|case|subject|"
    r"[A-Za-z]{1,3}[-_.]?\d{2,}$)",
    re.IGNORECASE,
)


def _section(what: str) -> str:
    return "reference" if what.startswith("reference") else "cohort"


def _genes_on_rows(
    row_ids, col_ids, orientation: str, *, path: Path | str = "", what: str = "expression"
) -> bool:
    """Whether gene IDs run down the first column.

    ``auto`` decides from the IDs: the axis with (many more) Ensembl IDs or known HGNC symbols holds
    the genes; failing that, the axis whose IDs look like sample IDs (TCGA barcodes, GSM/SRR
    accessions, P001-style codes) holds the samples; failing that, the longer axis holds the genes
    (with a warning). Equal axes with nothing to go on are an error saying what to set.
    """
    if orientation == "genes_by_samples":
        return True
    if orientation == "samples_by_genes":
        return False
    key = f"{_section(what)}.orientation"
    if orientation != "auto":
        raise RxrankInputError(
            f"{key} is {orientation!r} for {what} file {path}; use auto, genes_by_samples or "
            "samples_by_genes."
        )
    rows = [str(i).strip() for i in row_ids]
    cols = [str(i).strip() for i in col_ids]
    gmap = load_gene_map()
    r, c = gene_like_fraction(rows, gmap), gene_like_fraction(cols, gmap)
    if max(r, c) > 0 and min(r, c) * 4 < max(r, c):
        return r > c
    if r == c == 0:
        rs = np.mean([bool(SAMPLE_LIKE.match(i)) for i in rows]) if rows else 0.0
        cs = np.mean([bool(SAMPLE_LIKE.match(i)) for i in cols]) if cols else 0.0
        if max(rs, cs) > 0.5 and min(rs, cs) * 2 < max(rs, cs):
            return cs > rs
    if len(rows) == len(cols):
        raise RxrankInputError(
            f"{what} file {path}: cannot tell genes from samples (the first column and the header "
            f"both have {len(rows)} IDs, e.g. {rows[:2]} and {cols[:2]}). Set {key}: "
            "genes_by_samples (genes down the first column) or samples_by_genes in the config."
        )
    longer = len(rows) > len(cols)
    log.warning(
        "%s file %s: gene IDs not recognised on either axis; assuming genes on the %s (the longer "
        "axis). If that is wrong, set %s: %s.",
        what,
        path,
        "rows" if longer else "columns",
        key,
        "samples_by_genes" if longer else "genes_by_samples",
    )
    return longer


def _read_h5ad(path: Path, layer: str | None, what: str) -> pd.DataFrame:
    """obs x var of an .h5ad (``.X`` or ``layer``) as a dense frame."""
    try:
        adata = ad.read_h5ad(path)
    except FileNotFoundError:
        raise RxrankInputError(
            f"{what} file not found: {path}. Check the path in your config."
        ) from None
    except Exception as err:  # h5py/anndata raise many types for a damaged file
        raise RxrankInputError(
            f"{what} file {path} could not be read as .h5ad ({type(err).__name__}: {err}). "
            "Write it again with anndata (adata.write_h5ad)."
        ) from None
    if layer:
        if layer not in adata.layers:
            raise RxrankInputError(
                f"{what} file {path} has no layer {layer!r}; its layers are "
                f"{sorted(adata.layers)}. Set {_section(what)}.expression_layer to one of them, "
                "or to null to use .X."
            )
        matrix = adata.layers[layer]
    else:
        matrix = adata.X
    if matrix is None:
        raise RxrankInputError(
            f"{what} file {path} has no .X matrix. Set {_section(what)}.expression_layer to one "
            f"of its layers: {sorted(adata.layers)}."
        )
    dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    return pd.DataFrame(
        dense, index=adata.obs_names.astype(str), columns=adata.var_names.astype(str)
    )


def _check_declared_type(
    X: np.ndarray, values: pd.DataFrame, expression_type: str, path: Path, what: str
) -> str | None:
    """Errors for numbers that cannot be of the declared type; a warning text for doubtful ones."""
    key = f"{_section(what)}.expression_type"

    def where(mask: np.ndarray) -> str:
        r, c = np.argwhere(mask)[0]
        return f"sample {values.index[r]!r}, gene {values.columns[c]!r} ({X[r, c]:g})"

    if X.size == 0:
        return None
    if expression_type == "counts":
        if (X < 0).any():
            raise RxrankInputError(
                f"{what} file {path}: negative count at {where(X < 0)}. Counts cannot be "
                f"negative; if the values are log-scale set {key}: log."
            )
        frac = np.abs(X - np.round(X)) > 1e-6 * np.maximum(1.0, np.abs(X))
        if frac.any():
            raise RxrankInputError(
                f"{what} file {path} is declared as counts but holds non-integer values, e.g. at "
                f"{where(frac)}. Set {key}: tpm (or log) to match the data."
            )
    elif expression_type == "log":
        if X.max() > 50:
            raise RxrankInputError(
                f"{what} file {path} is declared as log but holds values up to {X.max():g} (e.g. "
                f"{where(X == X.max())}); log2 expression rarely exceeds 20. Set {key}: counts "
                "(raw integer counts) or tpm (TPM/FPKM) so that rxrank log-transforms them."
            )
    elif expression_type == "tpm":
        if (X < 0).any():
            raise RxrankInputError(
                f"{what} file {path}: negative value at {where(X < 0)} declared as tpm; TPM "
                f"cannot be negative. If the values are log-scale set {key}: log."
            )
        if X.max() <= 30:
            return (
                f"{what} file {path} is declared as tpm but its largest value is {X.max():g}; "
                f"it looks log-scale already. If so, set {key}: log (it would be log-transformed "
                "twice otherwise)."
            )
    return None


def read_expression(
    path: str | Path,
    *,
    expression_type: str = "counts",
    orientation: str = "auto",
    what: str = "expression",
    layer: str | None = None,
    gene_map: GeneMap | None = None,
) -> ad.AnnData:
    """Read an expression table or ``.h5ad`` into a samples x genes AnnData.

    TSV/CSV (optionally gzipped) in either orientation (``auto`` decides from the IDs), or an
    ``.h5ad`` whose ``obs`` are the samples (``.X``, or ``layer``). Gene IDs are normalised
    (:func:`rxrank.gene_ids.normalise_gene_ids`: Ensembl versions stripped and mapped to HGNC
    symbols, symbol case normalised) and duplicates merged: summed for counts, averaged otherwise.
    ``.uns['rxrank_io']`` records the orientation, the merges, any warning and, under
    ``gene_ids``, the per-ID table (input_id, gene, id_type, action, detail).
    """
    path = Path(path)
    if expression_type not in EXPRESSION_TYPES:
        raise RxrankInputError(
            f"expression_type {expression_type!r} for {path} is not one of {EXPRESSION_TYPES}."
        )
    if path.suffix.lower() == ".h5ad":
        if orientation not in ("auto", "samples_by_genes", "genes_by_samples"):
            _genes_on_rows([], [], orientation, path=path, what=what)
        values = _read_h5ad(path, layer, what)
        genes_on_rows = orientation == "genes_by_samples"  # obs are samples unless told otherwise
        if genes_on_rows:
            values = values.T
    else:
        frame = read_table(path, what=what)
        first = frame.columns[0]
        frame[first] = frame[first].astype(str).str.strip()
        genes_on_rows = _genes_on_rows(
            frame[first], frame.columns[1:], orientation, path=path, what=what
        )
        if genes_on_rows:
            _check_unique(pd.Index(_raw_header(path)[1:]), path, what, "sample")
        else:
            _check_unique(pd.Index(frame[first]), path, what, "sample")
        frame = frame.set_index(first)
        if frame.shape[0] == 0:
            raise RxrankInputError(
                f"{what} file {path} has a header but no data rows. Export the table again with "
                "its values."
            )
        values = frame.apply(pd.to_numeric, errors="coerce")
        bad = values.isna() & frame.notna()
        text_columns = [c for c in frame.columns if frame[c].notna().any() and bad[c].all()]
        if text_columns and frame.shape[0] > 1:
            raise RxrankInputError(
                f"{what} file {path}: column(s) {text_columns[:3]} hold text in every row (e.g. "
                f"{frame[text_columns[0]].dropna().iloc[0]!r}); an annotation column such as a gene "
                "name or description? Delete it: the first column holds the IDs and every other "
                "column must be numeric."
            )
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
    X = values.to_numpy(dtype=np.float64)
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise RxrankInputError(
            f"{what} file {path}: missing or infinite value for sample {values.index[r]!r}, gene "
            f"{values.columns[c]!r}. Fill or remove it before running rxrank."
        )
    warning = _check_declared_type(X, values, expression_type, path, what)
    if warning:
        log.warning(warning)
    agg = "sum" if expression_type == "counts" else "mean"
    new_ids, table = normalise_gene_ids(
        values.columns, load_gene_map() if gene_map is None else gene_map, merge=agg
    )
    keep = np.array([g is not None for g in new_ids], dtype=bool)
    values = values.loc[:, keep]
    values.columns = pd.Index([g for g in new_ids if g is not None])
    n_dup = int(values.columns.duplicated().sum())
    if n_dup:
        values = values.T.groupby(level=0, sort=False).agg(agg).T
        log.warning("%s: %d duplicate gene IDs merged by %s", path, n_dup, agg)
    X = values.to_numpy(dtype=np.float32)
    adata = ad.AnnData(
        X=X, obs=pd.DataFrame(index=values.index), var=pd.DataFrame(index=values.columns)
    )
    _check_unique(adata.obs_names, path, what, "sample")
    if adata.n_vars == 0:
        raise RxrankInputError(
            f"{what} file {path} has no usable gene IDs (all empty or NA). Put gene IDs (HGNC "
            "symbols or Ensembl IDs) in the first column or the header."
        )
    actions = table["action"].value_counts()
    log.info(
        "%s: %d samples x %d genes (%s); gene IDs: %s",
        path,
        adata.n_obs,
        adata.n_vars,
        "genes on rows" if genes_on_rows else "genes in the header",
        ", ".join(f"{n} {a}" for a, n in actions.items()),
    )
    adata.uns["rxrank_io"] = {
        "path": str(path),
        "expression_type": expression_type,
        "orientation": "genes_by_samples" if genes_on_rows else "samples_by_genes",
        "layer": layer or "X",
        "duplicate_genes_merged": n_dup,
        "gene_ids_mapped": int(actions.get("mapped", 0)),
        "gene_ids_renamed": int(actions.get("renamed", 0)),
        "gene_ids_merged": int(actions.get("merged", 0)),
        "gene_ids_dropped": int(actions.get("dropped", 0)),
        "warnings": [warning] if warning else [],
        "gene_ids": table,
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
    if path.suffix.lower() == ".h5ad":
        backed = ad.read_h5ad(path, backed="r")
        ids = backed.var_names if orientation == "genes_by_samples" else backed.obs_names
        return list(ids)
    if not path.exists():
        raise RxrankInputError(f"expression file not found: {path}. Check the path in your config.")
    try:
        first = pd.read_csv(path, sep=_sep_for(path), usecols=[0], encoding="utf-8-sig")
        header = pd.read_csv(path, sep=_sep_for(path), nrows=0, encoding="utf-8-sig").columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise RxrankInputError(f"expression file {path} could not be read: {err}") from None
    rows = first.iloc[:, 0].astype(str).str.strip()
    cols = [str(c).strip() for c in header[1:]]
    genes_on_rows = _genes_on_rows(rows, cols, orientation, path=path, what="expression")
    return cols if genes_on_rows else list(rows)
