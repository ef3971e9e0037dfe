"""Gene identifiers: Ensembl IDs (version suffix stripped, mapped to HGNC symbols), Affymetrix
HG-U133A/B/Plus 2.0 probe set IDs (mapped to symbols) and symbols (case variants normalised), with a
table saying what happened to every input ID.

The maps are package data: ``rxrank/data/gene_map.tsv.gz`` (built by ``scripts/build_gene_map.py``
from Debian's ``r-bioc-org.hs.eg.db``) and ``rxrank/data/affy_probe_map.tsv.gz`` (built by
``scripts/build_probe_map.py`` from the GEO platform tables in Debian's ``r-bioc-geoquery``).
Everything here is a plain function of IDs and those maps.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pandas as pd

__all__ = [
    "AFFY_PROBE",
    "ENSEMBL",
    "GeneMap",
    "default_gene_map_path",
    "default_probe_map_path",
    "gene_like_fraction",
    "load_gene_map",
    "normalise_gene_ids",
]

log = logging.getLogger(__name__)

ENSEMBL = re.compile(r"^(ENS[A-Z]*G\d{6,})(\.\d+)?(_PAR_Y)?$", re.IGNORECASE)
#: Affymetrix probe set IDs (``205225_at``, ``1007_s_at``, ``AFFX-BioB-5_at``); R's
#: ``make.names`` prefixes an ``X`` (``X205225_at``), as in scikit-survival's GSE7390.
AFFY_PROBE = re.compile(r"^X?(\d+(?:_[a-z])?_at|AFFX-[\w/.-]+_at)$")
PROBE_MAP_NAME = "HG-U133A/B annotation"
GENE_ID_COLUMNS = ["input_id", "gene", "id_type", "action", "detail"]


@dataclass(frozen=True)
class GeneMap:
    """Ensembl -> symbol(s) and upper-case symbol -> official symbol."""

    ensembl: dict[str, tuple[str, ...]] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)
    source: str = "none"
    #: probe set ID -> (symbol or '', the candidate symbols ';'-joined)
    probes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.symbols)


def default_gene_map_path() -> Path:
    """The map shipped inside the package (``rxrank/data/gene_map.tsv.gz``), so a wheel install
    maps Ensembl IDs as an editable one does."""
    return Path(str(files("rxrank") / "data" / "gene_map.tsv.gz"))


def default_probe_map_path() -> Path:
    """The Affymetrix probe set map shipped inside the package."""
    return Path(str(files("rxrank") / "data" / "affy_probe_map.tsv.gz"))


def _load_probe_map(path: Path) -> dict[str, tuple[str, str]]:
    if not path.exists():
        log.warning("probe map %s not found: Affymetrix probe IDs are not mapped", path)
        return {}
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return dict(
        zip(table["probe_id"], zip(table["symbol"], table["candidates"], strict=True), strict=True)
    )


@functools.lru_cache(maxsize=4)
def load_gene_map(path: str | Path | None = None) -> GeneMap:
    """Read the symbol/Ensembl table (and the probe map); an absent default map gives an empty map
    (IDs kept as given)."""
    path = Path(path) if path else default_gene_map_path()
    if not path.exists():
        log.warning("gene map %s not found: Ensembl IDs are not mapped to symbols", path)
        return GeneMap()
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    symbols: dict[str, str] = {}
    for sym in table["symbol"]:
        symbols.setdefault(sym.upper(), sym)
    pairs = table.loc[table["ensembl_id"] != "", ["ensembl_id", "symbol"]].drop_duplicates()
    ensembl = {
        k.upper(): tuple(sorted(v))
        for k, v in pairs.groupby("ensembl_id")["symbol"].agg(set).items()
    }
    probes = _load_probe_map(default_probe_map_path())
    return GeneMap(ensembl=ensembl, symbols=symbols, source=str(path), probes=probes)


def _blank(text: str) -> bool:
    return text.strip().lower() in {"", "nan", "na", "none", "null", "-"}


def gene_like_fraction(ids: Iterable, gene_map: GeneMap) -> float:
    """Share of ``ids`` that are Ensembl gene IDs, Affymetrix probe set IDs or known human symbols
    (any case)."""
    ids = [str(i).strip() for i in ids]
    if not ids:
        return 0.0
    hits = sum(
        bool(ENSEMBL.match(i) or AFFY_PROBE.match(i)) or i.upper() in gene_map.symbols for i in ids
    )
    return hits / len(ids)


def _probe(raw: str, probe: str, gene_map: GeneMap) -> tuple[str, str, str]:
    """New ID, action and detail for an Affymetrix probe set ID."""
    symbol, candidates = gene_map.probes.get(probe, ("", ""))
    if symbol:
        return symbol, "mapped", f"{probe} -> {symbol} ({PROBE_MAP_NAME})"
    action = "renamed" if probe != raw else "kept"
    if candidates:
        why = f"measures several genes ({candidates.replace(';', ', ')})"
    elif probe in gene_map.probes:
        why = f"no gene in the {PROBE_MAP_NAME}"
    elif gene_map.probes:
        why = f"not in the {PROBE_MAP_NAME} (HG-U133 Plus 2.0-only probe sets are not covered)"
    else:
        why = "no probe map installed"
    return probe, action, f"{why}; kept as the probe ID"


def normalise_gene_ids(
    ids: Iterable, gene_map: GeneMap, *, merge: str = "sum"
) -> tuple[list[str | None], pd.DataFrame]:
    """Clean gene IDs; return the new ID per input ID (``None``: drop) and the per-ID table.

    - Ensembl IDs: version suffix stripped, upper case; mapped to the symbol when the map gives
      exactly one; ambiguous or unknown IDs stay as the bare Ensembl ID. ``_PAR_Y`` copies
      (GENCODE's pseudo-autosomal Y duplicates) are dropped.
    - Affymetrix probe set IDs (HG-U133A/B and the same IDs on Plus 2.0, ``X``-prefixed too):
      mapped to the symbol of their gene; probe sets of several genes or none keep their ID;
      ``AFFX-`` control probe sets with no gene are dropped.
    - Symbols: the official case when the map knows the symbol (``tp53`` -> ``TP53``,
      ``C11ORF58`` -> ``C11orf58``), else upper case.
    - Empty or NA IDs are dropped.
    - IDs that end up the same are merged (``merge``: ``sum`` or ``mean``, done by the caller).

    Table columns: input_id, gene (ID in the output; empty if dropped), id_type (ensembl,
    affy_probe, symbol, missing), action (kept, renamed, mapped, merged, dropped), detail (why, in words).
    """
    ids = [str(i) for i in ids]
    out: list[str | None] = []
    rows = []
    for raw in ids:
        text = raw.strip()
        if _blank(text):
            out.append(None)
            rows.append([raw, "", "missing", "dropped", "empty or NA gene ID"])
            continue
        m = ENSEMBL.match(text)
        if m:
            bare = m.group(1).upper()
            if m.group(3):
                out.append(None)
                rows.append([raw, "", "ensembl", "dropped", "GENCODE _PAR_Y copy of a chrX gene"])
                continue
            notes = [f"version {m.group(2)} stripped"] if m.group(2) else []
            hits = gene_map.ensembl.get(bare, ())
            if len(hits) == 1:
                new, action = hits[0], "mapped"
                notes.append(f"{bare} -> {hits[0]} (gene map)")
            else:
                new = bare
                action = "renamed" if new != text else "kept"
                if len(hits) > 1:
                    notes.append(f"ambiguous: {bare} maps to {';'.join(hits)}; kept as Ensembl ID")
                elif gene_map:
                    notes.append("not in the gene map; kept as Ensembl ID")
            out.append(new)
            rows.append([raw, new, "ensembl", action, "; ".join(notes)])
            continue
        m = AFFY_PROBE.match(text)
        if m:
            new, action, detail = _probe(raw, m.group(1), gene_map)
            if action != "mapped" and new.upper().startswith("AFFX-"):
                new, action, detail = "", "dropped", "Affymetrix control probe set (no gene)"
            out.append(new or None)
            rows.append([raw, new, "affy_probe", action, detail])
            continue
        new = gene_map.symbols.get(text.upper(), text.upper())
        known = text.upper() in gene_map.symbols
        if new != raw:
            notes = []
            if new != text:
                notes.append(f"{text!r} -> {new!r} ({'official' if known else 'upper'} case)")
            if raw != text:
                notes.append("whitespace trimmed")
            rows.append([raw, new, "symbol", "renamed", "; ".join(notes)])
        else:
            rows.append([raw, new, "symbol", "kept", "HGNC symbol" if known else "not in gene map"])
        out.append(new)
    table = pd.DataFrame(rows, columns=GENE_ID_COLUMNS)
    kept = table["gene"] != ""
    sizes = table.loc[kept].groupby("gene")["input_id"].transform("size")
    multi = sizes[sizes > 1].index
    for i in multi:
        n = int(sizes[i]) - 1
        note = (
            f"merged with {n} other ID{'s' if n > 1 else ''} into {table.at[i, 'gene']} ({merge})"
        )
        prior = table.at[i, "detail"]
        table.at[i, "detail"] = f"{prior}; {note}" if prior else note
        table.at[i, "action"] = "merged"
    return out, table
