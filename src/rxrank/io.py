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
import zlib
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .errors import RxrankInputError
from .gene_ids import GeneMap, gene_like_fraction, load_gene_map, normalise_gene_ids
from .identifiers import clean_ids

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


#: peak memory per cell while a table is parsed and validated (pandas frames, copies, checks):
#: 60 B for a 2,000 x 2,000 count matrix through read_expression, 74 B for a 400,000-row long
#: response table through read_response (peak RSS over the interpreter's, measured 2026-12-06)
BYTES_PER_CELL = 64
MEMORY_ENV = "RXRANK_INPUT_MEMORY_GB"
DEFAULT_INPUT_MEMORY_GB = 4.0


def input_memory_gb() -> float:
    """The memory an input may need to be read: ``limits.input_memory_gb``, passed by environment."""
    try:
        return float(os.environ.get(MEMORY_ENV) or DEFAULT_INPUT_MEMORY_GB)
    except ValueError:
        raise RxrankInputError(
            f"the environment variable {MEMORY_ENV} is {os.environ[MEMORY_ENV]!r}; set it to a "
            "number of gigabytes (or unset it)."
        ) from None


def set_input_memory_gb(gb: float | None) -> None:
    """Set the budget for this process and the workflow's jobs (which inherit the environment)."""
    if gb:
        os.environ[MEMORY_ENV] = str(float(gb))


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


TEXT_FIX = "Save it as tab-separated (.tsv) or comma-separated (.csv) UTF-8 text."
REBUILD_FIX = (
    "It is an output of an earlier stage: delete it and run snakemake again to rebuild it."
)


@contextlib.contextmanager
def reading(path: str | Path, what: str, fix: str = TEXT_FIX) -> Iterator[None]:
    """Turn any failure while reading ``path`` into an :class:`RxrankInputError` naming the file."""
    try:
        yield
    except RxrankInputError:
        raise
    except FileNotFoundError:
        raise RxrankInputError(
            f"{what} file not found: {path}. Check the path in your config."
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise RxrankInputError(
            f"{what} file {path} is damaged or truncated ({err}). "
            + (fix if fix is REBUILD_FIX else "Copy or export it again.")
        ) from None
    except UnicodeDecodeError as err:
        raise RxrankInputError(
            f"{what} file {path} is not UTF-8 text (byte {err.start}: {err.reason}). Save it as "
            "UTF-8 text (.tsv or .csv), or check that it is the file you meant."
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError, KeyError) as err:
        raise RxrankInputError(
            f"{what} file {path} could not be read ({type(err).__name__}: {err}). {fix}"
        ) from None


def read_output_tsv(path: str | Path, **kwargs) -> pd.DataFrame:
    """An earlier stage's TSV output; a damaged one gets a message naming it and how to rebuild."""
    with reading(path, "intermediate", REBUILD_FIX):
        return pd.read_csv(path, sep="\t", **kwargs)


def read_output_h5ad(path: str | Path, **kwargs) -> ad.AnnData:
    """The profiled cohort (.h5ad), read with the same handling as :func:`read_output_tsv`."""
    with reading(path, "intermediate", REBUILD_FIX):
        try:
            return ad.read_h5ad(path, **kwargs)
        except RxrankInputError:
            raise
        except Exception as err:  # h5py/anndata raise many types for a damaged file
            raise OSError(f"{type(err).__name__}: {err}") from None


def check_input_size(path: Path, what: str) -> None:
    """Refuse, before parsing, a table whose parsing would need more than the memory budget.

    The number of cells is estimated from the header and the first megabyte (decompressed size
    from the compression ratio of that megabyte for .gz files), so a 2 GB table or a gzip bomb is
    refused in well under a second.
    """
    size = path.stat().st_size
    budget = input_memory_gb() * 1024**3
    gz = path.name.lower().endswith(".gz")
    if not gz and size * 2 < budget / BYTES_PER_CELL:  # even one-byte cells would fit
        return
    with reading(path, what), open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if gz else raw
        sample = stream.read(1 << 20)
        text_bytes = size if not gz else size * len(sample) / max(raw.tell(), 1)
    if b"\x00" in sample:
        raise RxrankInputError(
            f"{what} file {path} holds binary data (NUL bytes), not a text table. Check that it "
            "is the file you meant, or export the table again as .tsv or .csv."
        )
    if not sample:
        return  # empty: refused with its own message by the reader
    lines = sample.split(b"\n")
    n_fields = lines[0].count(_sep_for(path).encode()) + 1
    per_line = len(sample) / max(len(lines) - 1, 1)
    cells = text_bytes / per_line * n_fields
    need = cells * BYTES_PER_CELL
    if need > budget:
        raise RxrankInputError(
            f"{what} file {path} is {size / 1024**3:.1f} GB on disk with about {cells:,.0f} "
            f"cells: reading it needs about {need / 1024**3:.1f} GB of memory, more than "
            f"limits.input_memory_gb ({input_memory_gb():g} GB). If the file is what you meant "
            f"and the machine has the memory, raise limits.input_memory_gb in the config (and "
            "the rule's mem_mb in the profile); otherwise check the file."
        )


def _first_bad_line(path: Path, sep: str) -> tuple[int, int, int] | None:
    """(line, fields, header fields) of the first non-blank row whose field count differs from
    the header's; rows of exactly one field more throughout (R's write.table) are accepted."""
    sepb = ord(sep)
    header = None
    line0 = 0  # lines before the current block
    carry = b""
    extra = None  # True once data rows are found to carry one field more than the header
    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
        while True:
            chunk = stream.read(1 << 22)
            buf = carry + chunk
            if not chunk:
                if not buf:
                    return None
                buf += b"\n"
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            block, carry = buf[: cut + 1], buf[cut + 1 :]
            if b'"' in block:
                return _first_bad_line_quoted(path, sep)
            arr = np.frombuffer(block, np.uint8)
            ends = np.flatnonzero(arr == 10)
            seps = np.cumsum(arr == sepb, dtype=np.int64)[ends]
            fields = np.diff(seps, prepend=0) + 1
            starts = np.concatenate(([0], ends[:-1] + 1))
            length = ends - starts - (arr[np.maximum(ends - 1, 0)] == 13)
            if header is None:
                header = int(fields[0])
                fields, length, offset = fields[1:], length[1:], 1
            else:
                offset = 0
            data = length > 0
            if extra is None and data.any():  # most rows one field longer: R's write.table
                extra = bool(np.mean(fields[data] == header + 1) > 0.5)
            wrong = data & (fields != header + bool(extra))
            if wrong.any():
                i = int(np.flatnonzero(wrong)[0])
                return line0 + offset + i + 1, int(fields[i]), header
            line0 += len(ends)
            if not chunk:
                return None


def _first_bad_line_quoted(path: Path, sep: str) -> tuple[int, int, int] | None:
    with _open_text(path) as fh:
        reader = csv.reader(fh, delimiter=sep)
        header = len(next(reader, []))
        counts = [(reader.line_num, len(row)) for row in reader if row]
    extra = bool(counts) and np.mean([n == header + 1 for _, n in counts[:1000]]) > 0.5
    return next(((line, n, header) for line, n in counts if n != header + extra), None)


def check_fields(path: Path, what: str) -> None:
    """Refuse a single-column table (the wrong delimiter) and rows with fewer or more fields than
    the header, which pandas would fill with NA or misread silently; the message names the line."""
    sep = _sep_for(path)
    with reading(path, what):
        with _open_text(path) as fh:
            first = fh.readline()
        bad = _first_bad_line(path, sep)
    if not first.strip():
        raise RxrankInputError(
            f"{what} file {path} is empty: its first line, the header, is blank. Export the table "
            "again."
        )
    if sep not in first:
        other = "comma" if sep == "\t" else "tab"
        raise RxrankInputError(
            f"{what} file {path} has a single column; it is probably {other}-separated. "
            f"Use the extension that matches its delimiter (.tsv for tabs, .csv for commas)."
        )
    if bad:
        line, n, header = bad
        raise RxrankInputError(
            f"{what} file {path}, line {line}: {n} field(s) where the header has {header}. A "
            "cell is missing or a value holds the delimiter: leave empty cells as empty fields "
            "(two delimiters in a row), or quote values that hold the delimiter."
        )


def read_table(path: str | Path, *, what: str = "table") -> pd.DataFrame:
    """Read a TSV/CSV (optionally gzipped) with errors that name the file, the line and the fix.

    Refused before parsing: a file whose parsing would exceed the memory budget; after: rows with
    fewer or more fields than the header (pandas would fill them with NA silently), a header
    without rows, a single column (the wrong delimiter).
    """
    path = Path(path)
    if not path.exists():
        raise RxrankInputError(f"{what} file not found: {path}. Check the path in your config.")
    if path.stat().st_size == 0:
        raise RxrankInputError(f"{what} file {path} is empty. Export the table again.")
    check_input_size(path, what)
    sep = _sep_for(path)
    check_fields(path, what)
    with reading(path, what):
        try:
            frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", low_memory=False)
        except pd.errors.EmptyDataError:
            raise RxrankInputError(
                f"{what} file {path} is empty: it has no rows. Export the table again."
            ) from None
    if frame.shape[0] == 0:
        raise RxrankInputError(
            f"{what} file {path} has a header but no data rows. Export the table again with its "
            "rows, or remove the file from the config if it is optional."
        )
    if not isinstance(frame.index, pd.RangeIndex):  # R's write.table: no header over the row names
        frame = frame.reset_index(names="id")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _raw_header(path: Path) -> list[str]:
    """Header fields as written (pandas renames duplicate names, which would hide them)."""
    with _open_text(path) as fh:
        line = fh.readline()
    return [f.strip().strip('"') for f in next(csv.reader([line], delimiter=_sep_for(path)), [])]


def _require_columns(frame: pd.DataFrame, columns: list[str], path: Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RxrankInputError(
            f"{what} file {path} lacks column(s) {missing}; it has {list(frame.columns)[:12]}. "
            "Rename the columns or set their names in the config."
        )


def _sample_ids(raw, where: list[str], path: Path, what: str) -> tuple[list[str], list[str]]:
    """Sample IDs and how messages name each sample: a patient by its place in the file (never
    its ID, which would reach logs), a reference cell line by its name."""
    if _section(what) == "cohort":
        return clean_ids(list(raw), source=f"{what} file {path}", where=where), where
    ids = [str(i).strip() for i in raw]
    _check_unique(pd.Index(ids), path, what, "sample")
    return ids, [repr(i) for i in ids]


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
        backed = ad.read_h5ad(path, backed="r")
        need = backed.n_obs * backed.n_vars * 8 * 3
        backed.file.close()
        if need > input_memory_gb() * 1024**3:
            raise RxrankInputError(
                f"{what} file {path} holds {backed.n_obs:,} x {backed.n_vars:,} values: reading "
                f"it needs about {need / 1024**3:.1f} GB of memory, more than "
                f"limits.input_memory_gb ({input_memory_gb():g} GB). Raise that limit in the "
                "config if the machine has the memory, or subset the file."
            )
        adata = ad.read_h5ad(path)
    except RxrankInputError:
        raise
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
    X: np.ndarray,
    values: pd.DataFrame,
    expression_type: str,
    path: Path,
    what: str,
    labels: list[str],
) -> str | None:
    """Errors for numbers that cannot be of the declared type; a warning text for doubtful ones."""
    key = f"{_section(what)}.expression_type"

    def where(mask: np.ndarray) -> str:
        r, c = np.argwhere(mask)[0]
        return f"sample {labels[r]}, gene {values.columns[c]!r} ({X[r, c]:g})"

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
        where = [f"{'var' if genes_on_rows else 'obs'} row {i + 1}" for i in range(len(values))]
        ids, labels = _sample_ids(values.index, where, path, what)
        values.index = pd.Index(ids)
    else:
        frame = read_table(path, what=what)
        first = frame.columns[0]
        frame[first] = frame[first].astype(str).str.strip()
        genes_on_rows = _genes_on_rows(
            frame[first], frame.columns[1:], orientation, path=path, what=what
        )
        if genes_on_rows:
            header = _raw_header(path)
            raw = header[len(header) - (frame.shape[1] - 1) :]
            where = [f"column {j + 2} of the header" for j in range(len(raw))]
            ids, labels = _sample_ids(raw, where, path, what)
            frame.columns = [first, *ids]
        else:
            where = [f"line {i + 2}" for i in range(len(frame))]
            ids, labels = _sample_ids(frame[first], where, path, what)
            frame[first] = ids
        frame = frame.set_index(first)
        values = frame.apply(pd.to_numeric, errors="coerce")
        bad = values.isna() & frame.notna()
        text_columns = [
            j for j, c in enumerate(frame.columns) if frame[c].notna().any() and bad[c].all()
        ]
        if text_columns and frame.shape[0] > 1:
            j = text_columns[0]
            raise RxrankInputError(
                f"{what} file {path}: column(s) {[str(frame.columns[k]) for k in text_columns[:3]]} "
                f"(column {j + 2} of the header first) hold text in every row (e.g. "
                f"{frame.iloc[:, j].dropna().iloc[0]!r}); an annotation column such as a gene "
                "name or description? Delete it: the first column holds the IDs and every other "
                "column must be numeric."
            )
        if bad.to_numpy().any():
            r, c = np.argwhere(bad.to_numpy())[0]
            raise RxrankInputError(
                f"{what} file {path}, line {r + 2}, column {c + 2} (gene "
                f"{frame.index[r] if genes_on_rows else frame.columns[c]!r}): non-numeric value "
                f"{frame.iat[r, c]!r}. Expression values must be numbers."
            )
        if genes_on_rows:
            values = values.T
    values.index = values.index.astype(str)
    values.columns = values.columns.astype(str)
    X = values.to_numpy(dtype=np.float64)
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise RxrankInputError(
            f"{what} file {path}: missing or infinite value for sample {labels[r]}, gene "
            f"{values.columns[c]!r}. Fill or remove it before running rxrank."
        )
    warning = _check_declared_type(X, values, expression_type, path, what, labels)
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


def _shown(value) -> str:
    """A cell's value as the user wrote it, or 'empty'."""
    return "empty" if pd.isna(value) or str(value).strip() == "" else repr(str(value))


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


def expression_sample_ids(path: str | Path, *, orientation: str = "auto") -> list[str]:
    """Sample IDs of an expression file (normalised and checked), read without loading the matrix."""
    path = Path(path)
    what = "expression"
    if not path.exists():
        raise RxrankInputError(f"expression file not found: {path}. Check the path in your config.")
    if path.suffix.lower() == ".h5ad":
        with reading(path, what):
            try:
                backed = ad.read_h5ad(path, backed="r")
            except Exception as err:  # h5py/anndata raise many types for a damaged file
                raise RxrankInputError(
                    f"expression file {path} could not be read as .h5ad ({type(err).__name__}: "
                    f"{err}). Write it again with anndata (adata.write_h5ad)."
                ) from None
            on_var = orientation == "genes_by_samples"
            raw = list(backed.var_names if on_var else backed.obs_names)
            backed.file.close()
        where = [f"{'var' if on_var else 'obs'} row {i + 1}" for i in range(len(raw))]
        return _sample_ids(raw, where, path, what)[0]
    check_input_size(path, what)
    with reading(path, what):
        first = pd.read_csv(path, sep=_sep_for(path), usecols=[0], encoding="utf-8-sig")
        header = _raw_header(path)
    rows = first.iloc[:, 0].astype(str).str.strip()
    cols = [str(c).strip() for c in header[1:]]
    genes_on_rows = _genes_on_rows(rows, cols, orientation, path=path, what=what)
    if genes_on_rows:
        where = [f"column {j + 2} of the header" for j in range(len(cols))]
        return _sample_ids(cols, where, path, what)[0]
    where = [f"line {i + 2}" for i in range(len(rows))]
    return _sample_ids(list(rows), where, path, what)[0]
