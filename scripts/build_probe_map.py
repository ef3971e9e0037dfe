"""Build ``src/rxrank/data/affy_probe_map.tsv.gz`` (package data): Affymetrix HG-U133A/B probe
set ID -> HGNC symbol, offline.

Source: the GEO platform tables of GPL96 (HG-U133A) and GPL97 (HG-U133B), which Debian's
``r-bioc-geoquery`` ships inside ``GEOquery/extdata/GSE781_family.soft.gz`` (Affymetrix annotation
of Mar 2009). HG-U133 Plus 2.0 carries every U133A and U133B probe set under the same ID, so those
IDs map on all three arrays; the ~9,900 probe sets only on Plus 2.0 are not in these tables. Each
probe set's Entrez Gene ID(s) are translated to today's symbol through ``gene_map.tsv.gz``
(Debian's ``r-bioc-org.hs.eg.db``, the gene map's own source), not through the 2009 symbol
column, so renamed genes get their current names. A probe set annotated to several genes gets one
symbol only when the others are read-through transcripts of it (``ANKHD1-EIF4EBP3`` beside
``EIF4EBP3``) or pseudogenes beside one protein-coding gene (``MMP23A`` beside ``MMP23B``); else it
stays unmapped and the candidates are listed. No R is needed:

    apt-get download r-bioc-geoquery r-bioc-org.hs.eg.db     # .debs, nothing installed
    dpkg -x r-bioc-geoquery_*_all.deb geoquery; dpkg -x r-bioc-org.hs.eg.db_*_all.deb orgdb
    python scripts/build_probe_map.py \\
        geoquery/usr/lib/R/site-library/GEOquery/extdata/GSE781_family.soft.gz \\
        orgdb/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite \\
        --package-version "$(dpkg-deb -f r-bioc-geoquery_*_all.deb Version)"

Output (tab-separated, gzipped without a timestamp), one row per probe set, sorted by ID:

    probe_id    Affymetrix probe set ID (e.g. 205225_at)
    platform    GPL96 or GPL97
    symbol      today's symbol; empty when the probe set has no gene or several
    candidates  every current symbol of its Entrez genes, ';'-joined
    entrez_ids  the platform table's Entrez Gene IDs, ';'-joined

``affy_probe_map.json`` next to it records the source package, its version and the counts.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sqlite3
from pathlib import Path

from build_gene_map import write_gzip  # noqa: E402 (a sibling script: scripts/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "rxrank" / "data"
PLATFORMS = {"GPL96": "HG-U133A", "GPL97": "HG-U133B"}


def platform_tables(soft: Path) -> dict[str, list[dict[str, str]]]:
    """The platform tables of a GEO family SOFT file, by GPL accession."""
    tables: dict[str, list[dict[str, str]]] = {}
    platform = None
    header: list[str] | None = None
    with gzip.open(soft, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("^PLATFORM"):
                platform = line.split("=", 1)[1].strip()
            elif line.startswith("^"):
                platform = None
            elif line == "!platform_table_begin" and platform:
                header = next(fh).rstrip("\n").split("\t")
                tables[platform] = []
            elif line == "!platform_table_end":
                header = None
            elif header is not None and platform:
                tables[platform].append(dict(zip(header, line.split("\t"), strict=False)))
    return tables


def entrez_genes(sqlite: Path) -> dict[str, tuple[str, str]]:
    """Entrez gene ID -> (today's symbol, gene type), from org.Hs.eg.db."""
    con = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT n.gene_id, g.symbol, COALESCE(t.gene_type, '') "
        "FROM genes n JOIN gene_info g USING (_id) LEFT JOIN genetype t USING (_id)"
    ).fetchall()
    con.close()
    return {e: (s, t) for e, s, t in rows}


def one_symbol(genes: list[tuple[str, str]]) -> str:
    """The symbol a probe set measures, or '' when its genes leave that open (see the docstring)."""
    symbols = {s for s, _ in genes}
    if len(symbols) <= 1:
        return next(iter(symbols), "")
    parts = [(s, t) for s, t in genes if not set(s.split("-")) & (symbols - {s})]
    coding = [(s, t) for s, t in parts if t == "protein-coding"]
    if (
        coding
        and len(coding) < len(parts)
        and all(t == "pseudo" for s, t in parts if t != "protein-coding")
    ):
        parts = coding
    left = {s for s, _ in parts}
    return next(iter(left)) if len(left) == 1 else ""


def build(soft: Path, orgdb: Path, out: Path, *, package_version: str) -> dict:
    tables = platform_tables(soft)
    missing = sorted(set(PLATFORMS) - set(tables))
    if missing:
        raise SystemExit(f"{soft}: no platform table for {missing}")
    gene_of = entrez_genes(orgdb)
    rows = []
    seen: set[str] = set()
    for gpl in PLATFORMS:
        for rec in tables[gpl]:
            if rec["ID"] in seen:  # the AFFX control probe sets are on both arrays
                continue
            seen.add(rec["ID"])
            ids = [e.strip() for e in rec.get("ENTREZ_GENE_ID", "").split("///") if e.strip()]
            genes = [gene_of[e] for e in ids if e in gene_of]
            candidates = sorted({s for s, _ in genes})
            rows.append((rec["ID"], gpl, one_symbol(genes), ";".join(candidates), ";".join(ids)))
    rows.sort()
    text = io.StringIO()
    text.write("probe_id\tplatform\tsymbol\tcandidates\tentrez_ids\n")
    for row in rows:
        text.write("\t".join(row) + "\n")
    write_gzip(out, text.getvalue())
    info = {
        "source_package": "r-bioc-geoquery (Debian)",
        "source_package_version": package_version,
        "source_file": f"GEOquery/extdata/{soft.name}",
        "platforms": PLATFORMS,
        "symbols_from": "Entrez Gene IDs of the platform tables, through org.Hs.eg.db "
        f"({orgdb.name}, as gene_map.json)",
        "probe_sets": len(rows),
        "one_symbol": sum(1 for r in rows if r[2]),
        "several_genes": sum(1 for r in rows if not r[2] and ";" in r[3]),
        "no_gene": sum(1 for r in rows if not r[3]),
        "build": "python scripts/build_probe_map.py <GSE781_family.soft.gz> <org.Hs.eg.sqlite> "
        "--package-version <v>",
    }
    out.with_suffix("").with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("soft", type=Path, help="GSE781_family.soft.gz from r-bioc-geoquery")
    ap.add_argument("orgdb", type=Path, help="org.Hs.eg.sqlite from r-bioc-org.hs.eg.db")
    ap.add_argument("--package-version", required=True, help="r-bioc-geoquery's version")
    ap.add_argument("--out", type=Path, default=DATA / "affy_probe_map.tsv.gz")
    args = ap.parse_args()
    info = build(args.soft, args.orgdb, args.out, package_version=args.package_version)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
