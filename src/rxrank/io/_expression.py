"""Expression matrices (TSV/CSV or .h5ad, either orientation) into samples x genes AnnData."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import RxrankInputError
from ..gene_ids import GeneMap, gene_like_fraction, load_gene_map, normalise_gene_ids
from ..identifiers import clean_ids
from ._read import (
    _check_unique,
    _raw_header,
    _sep_for,
    check_input_size,
    input_memory_gb,
    read_h5ad,
    read_table,
    reading,
)

log = logging.getLogger(__name__)

EXPRESSION_TYPES = ("counts", "tpm", "log")


def _sample_ids(raw, where: list[str], path: Path, what: str) -> tuple[list[str], list[str]]:
    """Sample IDs and how messages name each sample: a patient by its place in the file (never
    its ID, which would reach logs), a reference cell line by its name."""
    if _section(what) == "cohort":
        return clean_ids(list(raw), source=f"{what} file {path}", where=where), where
    ids = [str(i).strip() for i in raw]
    _check_unique(pd.Index(ids), path, what, "sample")
    return ids, [repr(i) for i in ids]


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


#: DepMap's expression columns: ``SYMBOL (ENTREZ)``
DEPMAP_GENE = re.compile(r"^(\S+) \((\d+)\)$")
SANGER_SAMPLE = re.compile(r"^DATA\.(\d+)(?:\.0)?$")


def _published_layout(header: list[str]) -> str | None:
    """A published expression layout recognised by its header: ``sanger_rma`` (Sanger's
    Cell_line_RMA_proc_basalExp.txt: GENE_SYMBOLS, GENE_title, DATA.<COSMIC_ID>...; genes as rows)
    or ``depmap`` (OmicsExpressionProteinCodingGenesTPMLogp1.csv: the model ID ACH-... first,
    then ``SYMBOL (ENTREZ)`` columns); None for any other table."""
    names = [str(h).strip() for h in header]
    if len(names) > 2 and names[0].upper() == "GENE_SYMBOLS" and names[1].lower() == "gene_title":
        return "sanger_rma"
    genes = names[1:]
    if genes and sum(bool(DEPMAP_GENE.match(g)) for g in genes) > 0.5 * len(genes):
        return "depmap"
    return None


def _sanger_sample(name: str) -> str:
    hit = SANGER_SAMPLE.match(name.strip())
    return hit.group(1) if hit else name.strip()


def _read_published(frame: pd.DataFrame, layout: str, path: Path, what: str) -> pd.DataFrame:
    """The table in rxrank's terms: Sanger's genes x COSMIC IDs without GENE_title (rows without
    a symbol dropped, a COSMIC ID repeated keeps its first column); DepMap's columns as symbols."""
    if layout == "depmap":
        return frame.rename(columns={c: DEPMAP_GENE.sub(r"\1", c) for c in frame.columns[1:]})
    header = _raw_header(path)
    frame = frame.drop(columns=frame.columns[1])
    frame.columns = [frame.columns[0], *[_sanger_sample(c) for c in header[2:]]]
    symbols = frame.iloc[:, 0]
    empty = symbols.isna() | (symbols.astype(str).str.strip().isin(["", "nan", "NA"]))
    if empty.any():
        log.info("%s file %s: %d row(s) without a gene symbol dropped", what, path, empty.sum())
        frame = frame[~empty.to_numpy()]
    repeated = pd.Index(frame.columns).duplicated()
    if repeated.any():
        log.warning(
            "%s file %s: COSMIC ID(s) %s appear in more than one DATA column; the first is kept",
            what,
            path,
            sorted(set(frame.columns[repeated]))[:5],
        )
        frame = frame.loc[:, ~repeated]
    return frame


def _read_h5ad(path: Path, layer: str | None, what: str) -> pd.DataFrame:
    """obs x var of an .h5ad (``.X`` or ``layer``) as a dense frame."""
    backed = read_h5ad(path, what, backed="r")
    # the matrix twice in its own type plus a float64 working column set: 16 B a value for
    # float32 (an 11,000 x 20,000 cohort peaked at 3.5 GB in the check, 3.7 GB in profiling)
    matrix = backed.layers[layer] if layer and layer in backed.layers else backed.X
    itemsize = getattr(getattr(matrix, "dtype", None), "itemsize", 8)
    need = backed.n_obs * backed.n_vars * (2 * itemsize + 8)
    backed.file.close()
    if need > input_memory_gb() * 1024**3:
        raise RxrankInputError(
            f"{what} file {path} holds {backed.n_obs:,} x {backed.n_vars:,} values: reading "
            f"it needs about {need / 1024**3:.1f} GB of memory, more than "
            f"limits.input_memory_gb ({input_memory_gb():g} GB). Raise that limit in the "
            "config if the machine has the memory, or subset the file."
        )
    adata = read_h5ad(path, what)
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
        published = _published_layout(list(frame.columns))
        if published:
            frame = _read_published(frame, published, path, what)
            orientation = "genes_by_samples" if published == "sanger_rma" else "samples_by_genes"
            log.info("%s file %s: read as the %s layout", what, path, published)
        first = frame.columns[0]
        frame[first] = frame[first].astype(str).str.strip()
        genes_on_rows = _genes_on_rows(
            frame[first], frame.columns[1:], orientation, path=path, what=what
        )
        if genes_on_rows:
            header = _raw_header(path) if not published else list(frame.columns)
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


def expression_sample_ids(path: str | Path, *, orientation: str = "auto") -> list[str]:
    """Sample IDs of an expression file (normalised and checked), read without loading the matrix."""
    path = Path(path)
    what = "expression"
    if not path.exists():
        raise RxrankInputError(f"expression file not found: {path}. Check the path in your config.")
    if path.suffix.lower() == ".h5ad":
        backed = read_h5ad(path, what, backed="r")
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
    published = _published_layout(header)
    if published == "sanger_rma":
        cols = list(dict.fromkeys(_sanger_sample(c) for c in header[2:]))
        orientation = "genes_by_samples"
    elif published == "depmap":
        orientation = "samples_by_genes"
    genes_on_rows = _genes_on_rows(rows, cols, orientation, path=path, what=what)
    if genes_on_rows:
        where = [f"column {j + 2} of the header" for j in range(len(cols))]
        return _sample_ids(cols, where, path, what)[0]
    where = [f"line {i + 2}" for i in range(len(rows))]
    return _sample_ids(list(rows), where, path, what)[0]
