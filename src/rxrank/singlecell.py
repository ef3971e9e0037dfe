"""Single-cell input: one ``.h5ad`` per patient aggregated to a pseudobulk profile per patient.

A samples sheet (TSV/CSV: ``patient_id``, ``h5ad``; relative paths start from the sheet's folder)
lists one file per patient. Each file holds that patient's cells: raw counts in ``.X`` or a named
layer, and the cell-type label of every cell in an ``obs`` column (``cohort.single_cell``).

* The **pseudobulk** of a patient is the sum of the raw counts over all of their cells (the
  "sum" aggregate of ``scanpy.get.aggregate``, computed here block by block from the file so that a
  patient's matrix is never loaded whole, and only one file is open at a time).
* The **composition** is the number and fraction of the patient's cells of each cell type.
* **Genes**: by default the *union* of the files' genes, a gene absent from a file counting 0. Files
  written from one annotation differ only when genes were filtered per sample (e.g.
  ``sc.pp.filter_genes``, which drops genes with no or few counts), so absent means (close to) zero,
  and an intersection would drop for the whole cohort exactly the genes switched off in some
  patients, such as the drivers that rank treatments. ``gene_join: intersection`` is there for
  files from different annotations, where absent means "not measured"; the check warns when the
  files' gene sets differ.

Every problem stops the run with an error naming the sheet or the file and the fix: a missing file,
no such ``obs`` column or layer, non-integer or negative "counts", a patient listed twice, a
patient with fewer than ``min_cells`` cells. Warnings and logs name patients through ``label`` (the
caller passes pseudonyms), never by file path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .identifiers import clean_ids
from .io import RxrankInputError, read_table

__all__ = [
    "Sample",
    "SingleCellScan",
    "composition_table",
    "pseudobulk",
    "read_samples",
    "scan_samples",
]

log = logging.getLogger(__name__)

KEY = "cohort.single_cell"
GENE_JOINS = ("union", "intersection")
PATH_COLUMNS = ("h5ad", "path", "file")
UNASSIGNED = "unassigned"
CHUNK = 10_000  # cells (or genes of a CSC matrix) read at a time


@dataclass(frozen=True)
class Sample:
    """One row of the samples sheet."""

    patient_id: str
    path: Path
    line: int  # line of the sheet (the header is line 1)


@dataclass
class FileScan:
    """What one file holds, read without its matrix."""

    sample: Sample
    n_cells: int
    genes: pd.Index
    cell_types: pd.Series  # cell type -> number of cells


@dataclass
class SingleCellScan:
    """Every file of a samples sheet, scanned: patients, genes kept, cells per cell type."""

    files: list[FileScan]
    genes: pd.Index
    gene_join: str
    warnings: list[str] = field(default_factory=list)

    @property
    def patients(self) -> list[str]:
        return [f.sample.patient_id for f in self.files]

    @property
    def n_cells(self) -> int:
        return sum(f.n_cells for f in self.files)


def read_samples(path: str | Path, *, id_column: str = "patient_id") -> list[Sample]:
    """The samples sheet: patient ID and ``.h5ad`` path per row, paths resolved from its folder."""
    path = Path(path).expanduser()
    sheet = read_table(path, what="single-cell samples sheet")
    ids = next((c for c in (id_column, "patient_id") if c in sheet.columns), None)
    files = next((c for c in PATH_COLUMNS if c in sheet.columns), None)
    if ids is None or files is None:
        raise RxrankInputError(
            f"single-cell samples sheet {path} needs a column {id_column!r} (patient IDs) and a "
            f"column 'h5ad' (one .h5ad path per patient); it has {list(sheet.columns)[:8]}. "
            "Rename its columns."
        )
    patient = sheet[ids].astype("string").str.strip()
    where = sheet[files].astype("string").str.strip()
    blank = patient.isna() | (patient == "") | where.isna() | (where == "")
    if blank.any():
        line = int(np.flatnonzero(blank.to_numpy())[0]) + 2
        raise RxrankInputError(
            f"single-cell samples sheet {path}, line {line}: empty patient ID or file path. Fill "
            "it in or delete the line."
        )
    try:
        patient = pd.Series(
            clean_ids(list(patient), source=f"single-cell samples sheet {path}"), dtype="string"
        )
    except RxrankInputError as err:
        if "same patient ID" not in str(err):
            raise
        raise RxrankInputError(
            f"{err} Each patient needs one line and one .h5ad file: merge the patient's files "
            "into one (anndata.concat) or delete the extra line."
        ) from None
    samples = []
    for i, (pid, rel) in enumerate(zip(patient, where, strict=True)):
        file = Path(str(rel)).expanduser()
        file = file if file.is_absolute() else path.parent / file
        samples.append(Sample(str(pid), file, i + 2))
    seen: dict[Path, Sample] = {}
    for s in samples:
        key = s.path.resolve()
        if key in seen:
            raise RxrankInputError(
                f"single-cell samples sheet {path}: lines {seen[key].line} and {s.line} point to "
                f"the same file {s.path}. Each patient needs their own .h5ad file."
            )
        seen[key] = s
    return samples


def _open(sample: Sample, sheet: Path) -> h5py.File:
    if not sample.path.exists():
        raise RxrankInputError(
            f"single-cell file not found: {sample.path} (samples sheet {sheet}, line "
            f"{sample.line}). Fix the path in the sheet; relative paths start from the sheet's "
            "folder."
        )
    try:
        return h5py.File(sample.path, "r")
    except OSError as err:
        raise RxrankInputError(
            f"single-cell file {sample.path} could not be read as .h5ad ({err}). Write it again "
            "with anndata (adata.write_h5ad)."
        ) from None


def _read_elem(elem):
    from anndata.io import read_elem

    return read_elem(elem)


def _frame_index(f: h5py.File, name: str, path: Path) -> pd.Index:
    group = f.get(name)
    if not isinstance(group, h5py.Group) or "_index" not in group.attrs:
        raise RxrankInputError(
            f"single-cell file {path} has no readable .{name} table (written by an old anndata?). "
            "Read it with anndata and write it again (adata.write_h5ad)."
        )
    return pd.Index(np.asarray(_read_elem(group[group.attrs["_index"]])).astype(str))


def _matrix(f: h5py.File, layer: str | None, path: Path):
    """The counts element (``.X`` or ``layers/<layer>``), its encoding and shape."""
    if layer:
        layers = f.get("layers")
        names = sorted(layers.keys()) if isinstance(layers, h5py.Group) else []
        if layer not in names:
            raise RxrankInputError(
                f"single-cell file {path} has no layer {layer!r}; its layers are {names}. Set "
                f"{KEY}.layer to the layer holding raw counts, or to null to use .X."
            )
        elem = layers[layer]
    else:
        elem = f.get("X")
        if elem is None:
            names = sorted(f["layers"].keys()) if "layers" in f else []
            raise RxrankInputError(
                f"single-cell file {path} has no .X matrix. Set {KEY}.layer to the layer holding "
                f"raw counts: {names}."
            )
    encoding = str(elem.attrs.get("encoding-type", "array"))
    if encoding in ("csr_matrix", "csc_matrix"):
        shape = tuple(int(n) for n in elem.attrs["shape"])
    elif isinstance(elem, h5py.Dataset) and elem.ndim == 2:
        shape = tuple(elem.shape)
    else:
        raise RxrankInputError(
            f"single-cell file {path}: {'layer ' + repr(layer) if layer else '.X'} is not a "
            f"matrix (encoding {encoding!r}). Store the raw counts as a dense or sparse matrix."
        )
    return elem, encoding, shape


def _blocks(elem, encoding: str, shape: tuple[int, int], chunk: int) -> Iterator[tuple]:
    """(block, cell offset, gene offset) over the matrix, as it is stored: rows of a CSR or dense
    matrix, columns of a CSC one."""
    if encoding == "array":
        for start in range(0, shape[0], chunk):
            yield np.asarray(elem[start : start + chunk]), start, 0
        return
    from anndata.io import sparse_dataset

    ds = sparse_dataset(elem)
    if encoding == "csc_matrix":
        for start in range(0, shape[1], chunk):
            yield ds[:, start : start + chunk], 0, start
    else:
        for start in range(0, shape[0], chunk):
            yield ds[start : start + chunk], start, 0


def _check_counts(block, cell0: int, gene0: int, f: h5py.File, path: Path, what: str) -> None:
    """Raw counts are non-negative integers; else an error naming the cell, the gene and the fix."""
    dense = isinstance(block, np.ndarray)
    values = np.asarray(block if dense else block.data, dtype=np.float64)
    bad = (values < 0) | (values != np.round(values)) | ~np.isfinite(values)
    if not bad.any():
        return
    if dense:
        r, c = np.argwhere(bad)[0]
        value = block[r, c]
    else:
        coo = block.tocoo()  # entries in the order of .data
        k = int(np.flatnonzero(bad)[0])
        r, c, value = coo.row[k], coo.col[k], coo.data[k]
    cell = _frame_index(f, "obs", path)[cell0 + int(r)]
    gene = _frame_index(f, "var", path)[gene0 + int(c)]
    kind = "negative" if value < 0 else "non-integer"
    raise RxrankInputError(
        f"single-cell file {path}: {what} should hold raw counts but has the {kind} value "
        f"{float(value):g} (cell {cell!r}, gene {gene!r}); normalised or log values cannot be "
        f"summed into a pseudobulk. Set {KEY}.layer to the layer with raw counts (often "
        "'counts'; adata.raw.X before normalisation), or round corrected counts (e.g. SoupX) to "
        "integers before writing the file."
    )


def _scan_file(
    sample: Sample,
    sheet: Path,
    *,
    cell_type_column: str,
    layer: str | None,
    min_cells: int,
    check_values: bool,
) -> FileScan:
    with _open(sample, sheet) as f:
        path = sample.path
        genes = _frame_index(f, "var", path)
        obs = f["obs"] if isinstance(f.get("obs"), h5py.Group) else None
        columns = [str(c) for c in (obs.attrs.get("column-order", []) if obs else [])]
        if cell_type_column not in columns:
            raise RxrankInputError(
                f"single-cell file {path} has no obs column {cell_type_column!r} with cell-type "
                f"labels; its obs columns are {columns[:12]}. Set {KEY}.cell_type_column to the "
                "column holding the cell types."
            )
        labels = pd.Series(np.asarray(_read_elem(obs[cell_type_column]), dtype=object))
        labels = labels.where(labels.notna(), UNASSIGNED).astype(str)
        elem, encoding, shape = _matrix(f, layer, path)
        if shape != (len(labels), len(genes)):
            raise RxrankInputError(
                f"single-cell file {path}: the matrix is {shape[0]} x {shape[1]} but the file has "
                f"{len(labels)} cells and {len(genes)} genes; the file is damaged. Write it again."
            )
        if len(labels) < min_cells:
            raise RxrankInputError(
                f"single-cell file {path} (patient {sample.patient_id!r}) has {len(labels)} "
                f"cells, fewer than {KEY}.min_cells={min_cells}: a pseudobulk of so few cells is "
                "too noisy to rank treatments on. Remove the patient from the samples sheet or "
                f"lower {KEY}.min_cells."
            )
        if check_values and len(labels):  # the first block: catches log-normalised .X early
            block, cell0, gene0 = next(_blocks(elem, encoding, shape, 1000))
            _check_counts(block, cell0, gene0, f, path, f"layer {layer!r}" if layer else ".X")
    counts = labels.value_counts().sort_index()
    return FileScan(sample, len(labels), genes, counts)


def scan_samples(
    samples: str | Path,
    *,
    cell_type_column: str = "cell_type",
    layer: str | None = None,
    min_cells: int = 50,
    gene_join: str = "union",
    id_column: str = "patient_id",
    check_values: bool = True,
    label: Callable[[str], str] = str,
    cell_types: Sequence[str] | None = None,
) -> SingleCellScan:
    """Read the sheet and every file's cells, genes and labels (not the matrices), one at a time.

    Everything that can be checked without summing the matrices is: files, obs column, layer,
    cell numbers, and (``check_values``) that the first cells' values are integer counts.
    ``label`` names patients in warnings (pass their pseudonyms). ``cell_types``: only these
    are summed later, so they must occur and each patient needs ``min_cells`` of them.
    """
    if gene_join not in GENE_JOINS:
        raise RxrankInputError(
            f"{KEY}.gene_join is {gene_join!r}; it must be union or intersection."
        )
    sheet = Path(samples).expanduser()
    rows = read_samples(sheet, id_column=id_column)
    files = [
        _scan_file(
            s,
            sheet,
            cell_type_column=cell_type_column,
            layer=layer,
            min_cells=min_cells,
            check_values=check_values,
        )
        for s in rows
    ]
    if not files:
        raise RxrankInputError(
            f"single-cell samples sheet {sheet} lists no patient. Add one line per patient."
        )
    if cell_types is not None:
        _check_cell_types(files, list(cell_types), min_cells, cell_type_column, label)
    order: dict[str, None] = {}
    for f in files:
        order.update(dict.fromkeys(f.genes))
    union = pd.Index(list(order))
    if gene_join == "union":
        genes = union
    else:
        common = set(files[0].genes)
        for f in files[1:]:
            common &= set(f.genes)
        genes = pd.Index([g for g in union if g in common])
    if len(genes) == 0:
        raise RxrankInputError(
            f"the .h5ad files of {sheet} share no gene ID; use the same gene identifiers in "
            f"every file or set {KEY}.gene_join: union."
        )
    warnings = []
    short = [(f, len(union) - len(set(f.genes))) for f in files if len(set(f.genes)) < len(union)]
    if short:
        worst, missing = max(short, key=lambda t: t[1])
        what = (
            "are counted as 0 in those patients"
            if gene_join == "union"
            else "are left out for everyone"
        )
        warnings.append(
            f"{len(short)} single-cell file(s) of {sheet} lack genes that other files have (e.g. "
            f"patient {label(worst.sample.patient_id)} lacks {missing} of {len(union)}); with "
            f"{KEY}.gene_join: {gene_join} those genes {what}. Files from one annotation with "
            "genes filtered per sample suit union; files from different annotations suit "
            "intersection."
        )
    return SingleCellScan(files, genes, gene_join, warnings)


def config_options(block: Mapping) -> dict:
    """Keyword arguments of :func:`scan_samples` and :func:`pseudobulk` from a
    ``cohort.single_cell`` config block, defaults from :class:`rxrank.config.SingleCellParams`."""
    from .config import SingleCellParams

    options = SingleCellParams.from_config(block).to_dict()
    options.pop("samples")
    return options


def _check_cell_types(
    files: list[FileScan],
    cell_types: list[str],
    min_cells: int,
    cell_type_column: str,
    label: Callable[[str], str],
) -> None:
    """The selected cell types occur, and every patient has ``min_cells`` cells of them."""
    seen = set().union(*(f.cell_types.index for f in files))
    unknown = [c for c in cell_types if c not in seen]
    if not cell_types or unknown:
        raise RxrankInputError(
            f"{KEY}.cell_types lists {unknown or cell_types}, which no file has in obs column "
            f"{cell_type_column!r}; the cell types present are {sorted(seen)[:20]}. List some of "
            f"those, or set {KEY}.cell_types: null to sum every cell."
        )
    short = [
        (f, int(f.cell_types.reindex(cell_types).fillna(0).sum()))
        for f in files
        if f.cell_types.reindex(cell_types).fillna(0).sum() < min_cells
    ]
    if short:
        f, n = short[0]
        raise RxrankInputError(
            f"{len(short)} patient(s) have fewer than {KEY}.min_cells={min_cells} cells of "
            f"{cell_types} (e.g. patient {label(f.sample.patient_id)}: {n} of {f.n_cells} cells, "
            f"file {f.sample.path}); a pseudobulk of so few cells is too noisy. Remove them from "
            f"the samples sheet, lower {KEY}.min_cells, or widen {KEY}.cell_types."
        )


def composition_table(scan: SingleCellScan) -> pd.DataFrame:
    """Patient x cell type, long: patient_id, cell_type, n_cells, fraction (0 rows included)."""
    counts = pd.DataFrame(
        {f.sample.patient_id: f.cell_types for f in scan.files}, dtype="float64"
    ).fillna(0)
    counts = counts.sort_index().astype(np.int64)
    long = counts.rename_axis("cell_type").reset_index()
    long = long.melt(id_vars="cell_type", var_name="patient_id", value_name="n_cells")
    total = long.groupby("patient_id", sort=False)["n_cells"].transform("sum")
    long["fraction"] = long["n_cells"] / total
    return long[["patient_id", "cell_type", "n_cells", "fraction"]].reset_index(drop=True)


def _file_sums(
    fs: FileScan,
    sheet: Path,
    layer: str | None,
    chunk: int,
    only: tuple[str, list[str]] | None = None,
) -> tuple[np.ndarray, int]:
    """Per-gene sum of one file's counts (float64, exact for integers below 2**53); ``only``:
    (obs column, cell types) to sum only those cells. Returns the sums and the cells summed."""
    with _open(fs.sample, sheet) as f:
        elem, encoding, shape = _matrix(f, layer, fs.sample.path)
        mask = None
        if only is not None:
            labels = pd.Series(np.asarray(_read_elem(f["obs"][only[0]]), dtype=object))
            mask = labels.where(labels.notna(), UNASSIGNED).astype(str).isin(only[1]).to_numpy()
        total = np.zeros(shape[1], dtype=np.float64)
        for block, cell0, gene0 in _blocks(elem, encoding, shape, chunk):
            _check_counts(
                block, cell0, gene0, f, fs.sample.path, f"layer {layer!r}" if layer else ".X"
            )
            if mask is not None:
                block = block[mask[cell0 : cell0 + block.shape[0]]]
            sums = np.asarray(block.sum(axis=0), dtype=np.float64).ravel()
            total[gene0 : gene0 + len(sums)] += sums
    return total, shape[0] if mask is None else int(mask.sum())


def pseudobulk(
    samples: str | Path,
    *,
    cell_type_column: str = "cell_type",
    layer: str | None = None,
    min_cells: int = 50,
    gene_join: str = "union",
    id_column: str = "patient_id",
    chunk: int = CHUNK,
    label: Callable[[str], str] = str,
    cell_types: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, SingleCellScan]:
    """Pseudobulk counts (genes x patients, int64), composition (long) and the scan.

    Every file is scanned first (so that a missing file or column stops the run before any
    matrix is read), then summed one file, and one block of cells, at a time. ``cell_types``
    (e.g. the malignant cells' label) sums only those cells, so that the profile is not diluted
    by how many stromal and immune cells each sample happens to hold; the composition still
    counts every cell.
    """
    sheet = Path(samples).expanduser()
    scan = scan_samples(
        sheet,
        cell_type_column=cell_type_column,
        layer=layer,
        min_cells=min_cells,
        gene_join=gene_join,
        id_column=id_column,
        check_values=True,
        label=label,
        cell_types=cell_types,
    )
    only = None if cell_types is None else (cell_type_column, list(cell_types))
    for w in scan.warnings:
        log.warning(w)
    out = np.zeros((len(scan.genes), len(scan.files)), dtype=np.int64)
    for j, fs in enumerate(scan.files):
        sums, n_cells = _file_sums(fs, sheet, layer, chunk, only)
        codes = scan.genes.get_indexer(fs.genes)  # -1: not kept (intersection)
        keep = codes >= 0
        column = np.zeros(len(scan.genes), dtype=np.float64)
        np.add.at(column, codes[keep], sums[keep])  # duplicate gene IDs in a file are summed
        out[:, j] = np.round(column).astype(np.int64)
        log.debug(
            "patient %s: %d cells, %d counts", label(fs.sample.patient_id), n_cells, out[:, j].sum()
        )
    counts = pd.DataFrame(
        out, index=pd.Index(scan.genes, name="gene_id"), columns=pd.Index(scan.patients)
    )
    return counts, composition_table(scan), scan
