"""Build ``src/rxrank/data/gene_map.tsv.gz`` (package data): Ensembl gene ID <-> HGNC symbol, offline.

Source: Debian's ``r-bioc-org.hs.eg.db`` (Bioconductor OrgDb for Homo sapiens), which ships the
SQLite file ``org.Hs.eg.sqlite`` (Entrez Gene symbols + Ensembl gene IDs). No R is needed:

    apt-get download r-bioc-org.hs.eg.db          # ~37 MB .deb, nothing installed
    dpkg -x r-bioc-org.hs.eg.db_*_all.deb orgdb
    python scripts/build_gene_map.py \\
        orgdb/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite \\
        --package-version "$(dpkg-deb -f r-bioc-org.hs.eg.db_*_all.deb Version)"

Output (tab-separated, gzipped without a timestamp so rebuilding gives the same bytes), one row per
(Entrez gene, Ensembl gene) pair, sorted by symbol then Ensembl ID:

    symbol      official symbol (HGNC case, e.g. TP53, C11orf58)
    ensembl_id  Ensembl gene ID without version; empty for genes with no Ensembl ID
    entrez_id   NCBI Entrez gene ID

Every symbol appears, with or without an Ensembl ID, so the table is also the list of known human
symbols (used to tell gene axes from sample axes). ``gene_map.json`` next to it records the source
package, its version, the source dates and the row counts.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_gzip(out: Path, text: str) -> None:
    """``text`` gzipped without a timestamp, so that rebuilding gives the same bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(text.encode())


def build(sqlite: Path, out: Path, *, package_version: str) -> dict:
    con = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT g.symbol, COALESCE(e.ensembl_id, ''), n.gene_id "
        "FROM gene_info g JOIN genes n USING (_id) LEFT JOIN ensembl e USING (_id) "
        "ORDER BY g.symbol, e.ensembl_id, CAST(n.gene_id AS INTEGER)"
    ).fetchall()
    meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
    con.close()
    text = io.StringIO()
    text.write("symbol\tensembl_id\tentrez_id\n")
    for symbol, ensembl_id, entrez_id in rows:
        text.write(f"{symbol}\t{ensembl_id}\t{entrez_id}\n")
    write_gzip(out, text.getvalue())
    info = {
        "source_package": "r-bioc-org.hs.eg.db (Debian)",
        "source_package_version": package_version,
        "source_file": "org.Hs.eg.sqlite",
        "entrez_gene_date": meta.get("EGSOURCEDATE"),
        "ensembl_date": meta.get("ENSOURCEDATE"),
        "rows": len(rows),
        "symbols": len({r[0] for r in rows}),
        "ensembl_ids": len({r[1] for r in rows if r[1]}),
        "build": "python scripts/build_gene_map.py <org.Hs.eg.sqlite> --package-version <v>",
    }
    out.with_name("gene_map.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sqlite", type=Path, help="org.Hs.eg.sqlite from r-bioc-org.hs.eg.db")
    parser.add_argument("--package-version", required=True, help="the .deb version, e.g. 3.16.0-1")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src" / "rxrank" / "data" / "gene_map.tsv.gz"
    )
    args = parser.parse_args()
    print(json.dumps(build(args.sqlite, args.out, package_version=args.package_version), indent=2))


if __name__ == "__main__":
    main()
