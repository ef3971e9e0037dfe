"""A reference bundle: the cell lines' expression, responses, tissues and drugs in one versioned,
checksummed folder, built once from the downloaded files (``rxrank reference build``) and reused by
later runs and other cohorts (``reference.bundle``).

The folder holds ``expression.h5ad`` (lines x genes, log scale as the stages use it, float32),
``response.tsv`` (cell_line, drug, value), ``cell_lines.tsv`` (cell_line, tissue), ``drugs.tsv``
(drug, targets, pathway, ...), optionally ``binary_features.tsv``, and ``manifest.json``: the
release label, the source files (name, size, SHA-256, the layout and metric read), the SHA-256 and
shape of every bundle file, and the counts. The manifest is written last, so a folder without one
is an interrupted build, and :func:`open_bundle` refuses a bundle whose files no longer match it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from . import __version__, io
from .config import ReferenceParams
from .io import RxrankInputError, file_sha256

__all__ = ["FORMAT", "MANIFEST", "build_bundle", "bundle_params", "is_bundle", "open_bundle"]

log = logging.getLogger(__name__)

FORMAT = "rxrank-reference/1"
MANIFEST = "manifest.json"
#: the bundle's files by the ``reference`` key they stand for
FILES = {
    "expression": "expression.h5ad",
    "response": "response.tsv",
    "cell_lines": "cell_lines.tsv",
    "drugs": "drugs.tsv",
    "binary_features": "binary_features.tsv",
}


def is_bundle(folder: str | Path) -> bool:
    """Whether ``folder`` holds a bundle's manifest."""
    return (Path(folder) / MANIFEST).is_file()


def _source(path: str | Path, **read) -> dict:
    path = Path(path)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path), **read}


def _by_label(given: pd.DataFrame, drug_ids: pd.DataFrame | None) -> pd.DataFrame:
    """Drug annotations keyed by plain names also annotate the screen's labelled drugs
    (``Afatinib (GDSC2:1032)`` takes the row of ``Afatinib``) unless a row names the label."""
    if drug_ids is None or "name" not in drug_ids:
        return given
    names = drug_ids["name"].astype(str)
    extra = names[~names.index.isin(given.index) & names.isin(given.index)]
    if extra.empty:
        return given
    return pd.concat([given, given.loc[extra.to_numpy()].set_axis(extra.index)])


def read_reference_files(ref: ReferenceParams) -> dict:
    """The downloaded reference files read as the stages read them: the lines x genes log
    expression (AnnData), the screen, each line's tissue, the drug annotations, binary features."""
    from .profiling import normalise
    from .screens import read_cell_lines, read_screen

    for key in ("expression", "response"):
        if not getattr(ref, key):
            raise RxrankInputError(f"reference.{key} is not set: name the downloaded file.")
    expression = io.read_expression(ref.expression, **ref.expression_options())
    normalise(expression, expression_type=ref.expression_type)
    screen = read_screen(ref.response, **ref.screen_options())
    tissues = screen.tissues
    if ref.cell_lines:
        given = read_cell_lines(ref.cell_lines, cell_line_id=ref.cell_line_id).astype(str)
        tissues = given if tissues is None else given.combine_first(tissues)
    drugs = screen.drugs
    if ref.drugs:
        given = _by_label(io.read_drugs(ref.drugs), screen.drug_ids)
        drugs = given if drugs is None else given.combine_first(drugs)[given.columns]
    if drugs is None:
        drugs = pd.DataFrame({"targets": "", "pathway": ""}, index=pd.Index([], name="drug"))
    missing = sorted(set(screen.response["drug"]) - set(drugs.index))
    if missing:
        log.warning(
            "%d drug(s) have no annotation (targets unknown): %s", len(missing), missing[:10]
        )
    cell_lines = pd.DataFrame({"cell_line": pd.Series([], dtype=str), "tissue": []})
    if tissues is not None:
        cell_lines = tissues.rename("tissue").rename_axis("cell_line").reset_index()
    features = io.read_binary_features(ref.binary_features) if ref.binary_features else None
    return {
        "expression": expression,
        "screen": screen,
        "response": screen.response[["cell_line", "drug", "value"]],
        "cell_lines": cell_lines,
        "drugs": drugs.rename_axis("drug"),
        "binary_features": features,
    }


def build_bundle(ref: ReferenceParams, out: str | Path, *, release: str | None = None) -> dict:
    """Read the downloaded files ``ref`` names and write them to ``out`` as a bundle; the manifest.

    ``out`` may be new, empty or an older bundle (its files are replaced, nothing else in it is
    touched); a folder holding other files is refused.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RxrankInputError(f"{out} is a file; name a folder for the reference bundle.")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in {*FILES.values(), MANIFEST})
        if foreign and not is_bundle(out):
            raise RxrankInputError(
                f"{out} holds files that are not a reference bundle's ({foreign[:5]}); name an "
                "empty or new folder."
            )
    tables = read_reference_files(ref)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # until the new one is written: not a bundle
    lines = tables["expression"]
    matrix = ad.AnnData(
        X=np.asarray(lines.X, dtype=np.float32),
        obs=pd.DataFrame(index=pd.Index(lines.obs_names.astype(str), name="cell_line")),
        var=pd.DataFrame(index=pd.Index(lines.var_names.astype(str), name="gene")),
    )
    with io.atomic_path(out / FILES["expression"]) as tmp:
        matrix.write_h5ad(tmp)
    io.write_tsv(tables["response"], out / FILES["response"])
    io.write_tsv(tables["cell_lines"], out / FILES["cell_lines"])
    io.write_tsv(tables["drugs"], out / FILES["drugs"], index=True)
    features = tables["binary_features"]
    if features is not None:
        io.write_tsv(features.rename_axis("cell_line"), out / FILES["binary_features"], index=True)
    else:
        (out / FILES["binary_features"]).unlink(missing_ok=True)
    screen = tables["screen"]
    options = {k: v for k, v in ref.expression_options().items() if k != "what"}
    sources = {
        "expression": _source(ref.expression, **options),
        "response": _source(
            ref.response,
            layout=screen.layout,
            metric=screen.metric,
            dataset=ref.dataset,
            cell_line_id=ref.cell_line_id,
        ),
    }
    for key in ("cell_lines", "drugs", "binary_features"):
        if getattr(ref, key):
            sources[key] = _source(getattr(ref, key))
    response = tables["response"]
    shapes = {
        "expression": {"rows": int(matrix.n_obs), "columns": int(matrix.n_vars)},
        "response": {"rows": len(response)},
        "cell_lines": {"rows": len(tables["cell_lines"])},
        "drugs": {"rows": len(tables["drugs"])},
        "binary_features": {}
        if features is None
        else dict(zip(("rows", "columns"), features.shape, strict=True)),
    }
    with_expression = response[response["cell_line"].isin(matrix.obs_names)]
    drugs = tables["drugs"]
    manifest = {
        "format": FORMAT,
        "release": release or "unlabelled",
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rxrank": __version__,
        "metric": screen.metric,
        "sources": sources,
        "files": {
            name: {"sha256": file_sha256(out / name), **shapes[key]}
            for key, name in FILES.items()
            if (out / name).exists()
        },
        "counts": {
            "cell_lines_with_expression": int(matrix.n_obs),
            "genes": int(matrix.n_vars),
            "drugs": int(response["drug"].nunique()),
            "responses": int(len(response)),
            "responses_with_expression": int(len(with_expression)),
            "cell_lines_with_tissue": int((tables["cell_lines"]["tissue"].astype(str) != "").sum()),
            "drugs_with_targets": int((drugs.get("targets", pd.Series(dtype=str)) != "").sum()),
        },
        "notes": list(screen.notes) + list(screen.warnings),
    }
    with io.atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    log.info(
        "reference bundle %s (%s): %d lines x %d genes, %d drugs, %d responses",
        out,
        manifest["release"],
        matrix.n_obs,
        matrix.n_vars,
        manifest["counts"]["drugs"],
        manifest["counts"]["responses"],
    )
    return manifest


def open_bundle(folder: str | Path) -> dict:
    """The manifest of the bundle in ``folder``, after checking every file against it."""
    folder = Path(folder)
    if not is_bundle(folder):
        raise RxrankInputError(
            f"{folder} is not a reference bundle (no {MANIFEST}; an interrupted build leaves none). "
            "Build one with: rxrank reference build --config CONFIG --out FOLDER"
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RxrankInputError(
            f"{folder / MANIFEST} is not valid JSON ({err}); rebuild it."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise RxrankInputError(
            f"{folder / MANIFEST} has format {found!r}; this rxrank reads {FORMAT!r}. Rebuild "
            "the bundle with this rxrank (rxrank reference build)."
        )
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise RxrankInputError(f"reference bundle {folder}: {name} is missing; rebuild it.")
        if file_sha256(path) != entry.get("sha256"):
            raise RxrankInputError(
                f"reference bundle {folder}: {name} changed since the bundle was built (its "
                "SHA-256 no longer matches manifest.json); rebuild the bundle rather than edit it."
            )
    for key in ("expression", "response"):
        if FILES[key] not in manifest.get("files", {}):
            raise RxrankInputError(f"reference bundle {folder} has no {FILES[key]}; rebuild it.")
    return manifest


def bundle_params(folder: str | Path, ref: ReferenceParams | None = None) -> ReferenceParams:
    """The ``reference`` settings that read the bundle in ``folder`` (after :func:`open_bundle`):
    its files, its log-scale expression and its long response table."""
    folder = Path(folder)
    manifest = open_bundle(folder)
    present = manifest["files"]
    base = ref or ReferenceParams()
    both = [key for key in FILES if getattr(base, key)]
    if both:
        raise RxrankInputError(
            f"reference.bundle is set and so is reference.{both[0]}: a bundle brings all the "
            "reference files. Remove the file settings, or remove reference.bundle."
        )
    return base.replace(
        bundle=str(folder),
        expression=str(folder / FILES["expression"]),
        expression_type="log",
        orientation="auto",
        expression_layer=None,
        response=str(folder / FILES["response"]),
        response_layout="long",
        response_metric=manifest.get("metric"),
        response_value_column="value",
        cell_line_id=None,
        dataset=None,
        **{
            key: str(folder / FILES[key]) if FILES[key] in present else None
            for key in ("cell_lines", "drugs", "binary_features")
        },
    )
