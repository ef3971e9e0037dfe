"""The pieces every screen reader shares: the Screen result, notes, and a screen file as strings."""

from __future__ import annotations

import csv
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..io import RxrankInputError, check_fields, check_input_size, input_memory_gb, write_tsv

log = logging.getLogger("rxrank.screens")

NA_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A", "<NA>")
TRUE_TOKENS = ("true", "t", "1", "yes", "y")
FALSE_TOKENS = ("false", "f", "0", "no", "n")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SPREADSHEET_SUFFIXES = (".xls", ".ods")  # read by no reader here: export them as CSV
#: peak memory per cell while a screen is parsed (as io's budget for text tables)
BYTES_PER_CELL = 64


@dataclass(frozen=True)
class Screen:
    """A drug screen in rxrank's terms: long responses, tissues, drug annotations and provenance.

    ``drug_ids`` (index ``drug``, the label used in ``response``) gives each drug's name as the
    screen spells it, its dataset and its ID in the screen, where the screen has them.
    ``warnings`` are the notes a user must see (also logged as warnings).
    """

    response: pd.DataFrame
    tissues: pd.Series | None
    drugs: pd.DataFrame | None
    layout: str
    metric: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    drug_ids: pd.DataFrame | None = None

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
        self.warnings: list[str] = []
        self.drops: list[str] = []
        self.unit = "row(s)"

    def add(self, message: str) -> None:
        self.lines.append(message)
        log.info("%s: %s", self.path, message)

    def warn(self, message: str) -> None:
        self.lines.append(message)
        self.warnings.append(f"{self.path}: {message}")
        log.warning("%s: %s", self.path, message)

    def drop(self, count: int, reason: str, *, warn: bool = False) -> None:
        if count:
            self.drops.append(f"{count} {self.unit} {reason}")
            (self.warn if warn else self.add)(f"dropped {count} {self.unit} {reason}")


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

    def optional(self, name: str) -> pd.Series | str:
        """The column if the file has it, else the empty string (broadcast by pandas)."""
        return self.column(name) if self.has(name) else ""

    def name(self, name: str) -> str:
        """The column's name as spelled in the file."""
        return self.header[self.find(name)]

    def rows(self, keep) -> _Table:
        return _Table(path=self.path, header=self.header, body=self.body[keep])


def _per_unique(values: pd.Series, func) -> pd.Series:
    """Apply a string transform to each distinct value once (screen columns repeat a lot)."""
    codes, uniques = pd.factorize(values.fillna(""))
    done = func(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    return pd.Series(done[codes], index=values.index, dtype=object)


def _strip(values: pd.Series) -> pd.Series:
    return _per_unique(values, lambda s: s.str.strip())


def _integral(values: pd.Series) -> pd.Series:
    """IDs as integers where a spreadsheet wrote them as floats (683665.0 -> 683665)."""
    return _per_unique(values, lambda s: s.str.replace(r"^(\d+)\.0+$", r"\1", regex=True))


def _show(header: Sequence[str], limit: int = 15) -> str:
    shown = [str(h) for h in header[:limit]]
    more = f" ... ({len(header)} columns)" if len(header) > limit else ""
    return f"{shown}{more}"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of an .xlsx as strings (row numbers of the sheet as the index)."""
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a dependency of rxrank
        raise RxrankInputError(
            f"screen file {path} is an .xlsx workbook and openpyxl is not installed: install it "
            "(pip install openpyxl) or export the sheet as CSV."
        ) from None
    budget = input_memory_gb() * 1024**3 / BYTES_PER_CELL
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # zipfile, XML and openpyxl errors of a damaged or foreign file
        raise RxrankInputError(
            f"screen file {path} could not be read as an .xlsx workbook ({type(err).__name__}: "
            f"{err}). Check that it is the file you meant. Export the sheet as CSV (.csv) and read "
            "that if it is."
        ) from None
    try:
        sheet = book.worksheets[0]
        rows, cells, width = [], 0, 0
        for row in sheet.iter_rows(values_only=True):
            texts = [_cell_text(v).strip() for v in row]
            while texts and texts[-1] == "":
                texts.pop()
            if not rows and not texts:
                continue  # blank rows above the header
            rows.append(texts)
            width = max(width, len(texts))
            cells += len(texts)
            if cells > budget:
                raise RxrankInputError(
                    f"screen file {path} holds more than {cells:,} cells: reading it needs more "
                    f"memory than limits.input_memory_gb ({input_memory_gb():g} GB). Raise that "
                    "limit in the config if the machine has the memory, or cut the sheet."
                )
    finally:
        book.close()
    if not rows:
        raise RxrankInputError(f"screen file {path} has an empty first sheet. Export it again.")
    header_width = len(rows[0])
    for number, texts in enumerate(rows[1:], start=2):
        if len(texts) > header_width:
            raise RxrankInputError(
                f"screen file {path}, row {number} of the first sheet: a value in column "
                f"{len(texts)}, beyond the header's {header_width} columns. Name the column or "
                "remove the value."
            )
    raw = pd.DataFrame([t + [""] * (header_width - len(t)) for t in rows], dtype=object)
    return raw.fillna("")


def _read_text(path: Path) -> pd.DataFrame:
    gzipped = path.name.lower().endswith(".gz")
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    check_input_size(path, "screen")
    check_fields(path, "screen")
    try:
        return pd.read_csv(
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


def read_table(path: Path) -> _Table:
    """Read a TSV/CSV (optionally gzipped) or .xlsx as strings, keeping the header as written."""
    if not path.is_file():
        raise RxrankInputError(f"screen file not found: {path}. Check the path.")
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        raise RxrankInputError(
            f"screen file {path} is a {suffix} spreadsheet. Export the sheet as CSV (.csv) or "
            "tab-separated text (.tsv), or save it as .xlsx, and read that."
        )
    if path.stat().st_size == 0:
        raise RxrankInputError(f"screen file {path} is empty. Download or export it again.")
    raw = _read_excel(path) if suffix in EXCEL_SUFFIXES else _read_text(path)
    raw.index = pd.RangeIndex(1, len(raw) + 1)  # 1-based file line (or sheet row) numbers
    header = [str(h).strip() for h in raw.iloc[0]] if len(raw) else []
    if len(header) < 2:
        sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
        other = "comma" if sep == "\t" else "tab"
        raise RxrankInputError(
            f"screen file {path} has a single column; it is probably {other}-separated. "
            "Use the extension that matches its delimiter (.tsv for tabs, .csv for commas)."
        )
    return _Table(path=path, header=header, body=raw.iloc[1:])


def _join_targets(targets: pd.Series) -> pd.Series:
    """Normalise ``", "`` or ``;`` separated targets to ``;``-separated, without blanks or repeats."""
    parts = targets.str.split(r"\s*[,;]\s*", regex=True).explode().str.strip()
    frame = pd.DataFrame({"key": parts.index, "target": parts.to_numpy()})
    frame = frame[frame["target"].notna() & (frame["target"] != "")].drop_duplicates()
    joined = frame.groupby("key", sort=False)["target"].agg(";".join)
    return joined.reindex(targets.index, fill_value="")
