"""Reading any table safely: memory budget, field counts, read errors that name the file."""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..config import LimitsParams
from ..errors import RxrankInputError

log = logging.getLogger(__name__)


def _sep_for(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


#: peak memory per cell while a table is parsed and validated (pandas frames, copies, checks):
#: 60 B for a 2,000 x 2,000 count matrix through read_expression, 74 B for a 400,000-row long
#: response table through read_response (peak RSS over the interpreter's, measured 2026-12-06)
BYTES_PER_CELL = 64
MEMORY_ENV = "RXRANK_INPUT_MEMORY_GB"
DEFAULT_INPUT_MEMORY_GB = LimitsParams.input_memory_gb  # the config's default


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


def read_output_table(
    path: str | Path, *, index_col: str | None = None, columns=None, filters=None
) -> pd.DataFrame:
    """An earlier stage's table, Parquet (``.parquet``) or TSV, with the same handling as
    :func:`read_output_tsv`; ``columns`` and pyarrow ``filters`` select what is read."""
    if not str(path).lower().endswith(".parquet"):
        frame = read_output_tsv(path, usecols=columns)
        for column, op, values in filters or ():
            if op != "in":
                raise ValueError(f"only 'in' filters are read from TSV, not {op!r}")
            frame = frame[frame[column].astype(str).isin({str(v) for v in values})]
        return frame.set_index(index_col) if index_col else frame
    with reading(path, "intermediate", REBUILD_FIX):
        try:
            frame = pd.read_parquet(path, engine="pyarrow", columns=columns, filters=filters)
        except (OSError, ValueError):
            raise  # named by reading(); ArrowInvalid is a ValueError, ArrowIOError an OSError
        except Exception as err:  # any other pyarrow error of a damaged file
            raise ValueError(f"{type(err).__name__}: {err}") from None
    return frame.set_index(index_col) if index_col else frame


H5AD_FIX = "Write it again with anndata (adata.write_h5ad)."


def read_h5ad(path: str | Path, what: str, fix: str = H5AD_FIX, **kwargs) -> ad.AnnData:
    """``anndata.read_h5ad`` with a message naming the file for any failure (h5py and anndata
    raise many types for a damaged or foreign file)."""
    with reading(path, what, fix):
        try:
            return ad.read_h5ad(path, **kwargs)
        except (RxrankInputError, FileNotFoundError):
            raise
        except Exception as err:
            raise RxrankInputError(
                f"{what} file {path} could not be read as .h5ad ({type(err).__name__}: {err}). "
                f"{fix}"
            ) from None


def read_output_h5ad(path: str | Path, **kwargs) -> ad.AnnData:
    """The profiled cohort (.h5ad), read with the same handling as :func:`read_output_tsv`."""
    return read_h5ad(path, "intermediate", REBUILD_FIX, **kwargs)


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
            seps = np.searchsorted(np.flatnonzero(arr == sepb), ends)  # delimiters before each end
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


def _check_unique(ids: pd.Index, path: Path, what: str, kind: str) -> None:
    dup = ids[ids.duplicated()]
    if len(dup):
        raise RxrankInputError(
            f"{what} file {path} has duplicate {kind} IDs, e.g. {list(dup[:3])}. "
            f"Each {kind} must appear once."
        )


def _shown(value) -> str:
    """A cell's value as the user wrote it, or 'empty'."""
    return "empty" if pd.isna(value) or str(value).strip() == "" else repr(str(value))
