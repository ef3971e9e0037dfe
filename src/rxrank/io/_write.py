"""Atomic writers: an output appears whole under its name, or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


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


def write_parquet(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Write Parquet atomically: zstd, dictionary encoding for text columns only (repeated IDs
    shrink; floats would only grow)."""
    text = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    with atomic_path(path) as tmp:
        frame.to_parquet(
            tmp, engine="pyarrow", index=index, compression="zstd", use_dictionary=text
        )


def write_table(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> None:
    """Parquet for a ``.parquet`` path, TSV otherwise."""
    if str(path).lower().endswith(".parquet"):
        write_parquet(frame, path, index=index)
    else:
        write_tsv(frame, path, index=index)


def write_outputs(outputs: Mapping[str, pd.DataFrame | dict], outdir: str | Path) -> None:
    """Write a stage's outputs keyed by file name into ``outdir``: ``.json`` as JSON, else TSV."""
    for name, value in outputs.items():
        if name.endswith(".json"):
            with atomic_path(Path(outdir) / name) as tmp:
                tmp.write_text(json.dumps(value, indent=2, default=float))
        else:
            write_tsv(value, Path(outdir) / name)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MB blocks (manifests, provenance, saved models)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
