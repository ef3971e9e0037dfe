"""A patient's own mutations and copy-number calls, mapped onto the reference's binary features.

Patients bring a MAF-style mutation table (:func:`read_maf`) and/or a patient x feature table of
0/1 calls (:func:`read_patient_calls`). Both become one long table of events (patient, gene, kind,
partner), which :func:`patient_features` matches to the reference's feature names, GDSC style:
``BRAF_mut`` (a protein-altering mutation of BRAF), ``ERBB2_amp`` / ``gain:cnaPANCAN301
(CDK12,ERBB2,MED24)`` (an amplification of any gene of the segment), ``PTEN_del`` / ``loss:...``,
``EWSR1-FLI1_fusion`` (a fusion of both partners) and ``EGFR_alt`` (any of these in EGFR). The
result is a patients x features 0/1 matrix (NaN: not assessed) and a per-feature table of what
matched, so a user sees which of their calls reached the ranking.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RxrankInputError
from .gene_ids import load_gene_map
from .identifiers import clean_ids

__all__ = [
    "KINDS",
    "MAF_COLUMNS",
    "NON_SILENT",
    "SILENT",
    "parse_feature",
    "patient_features",
    "pseudonymise_events",
    "read_maf",
    "read_patient_calls",
]

MAF_COLUMNS = ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification")
#: protein-altering classes (MAF specification): these are mutations of their gene
NON_SILENT = frozenset(
    {
        "Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
        "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Translation_Start_Site",
        "Nonstop_Mutation",
    }
)  # fmt: skip
#: classes that leave the protein unchanged: read and left out
SILENT = frozenset(
    {
        "Silent", "Intron", "3'UTR", "5'UTR", "3'Flank", "5'Flank", "IGR", "RNA", "lincRNA",
        "Splice_Region", "De_novo_Start_InFrame", "De_novo_Start_OutOfFrame",
    }
)  # fmt: skip
KINDS = ("mut", "amp", "del", "fusion")
EVENT_COLUMNS = ["patient_id", "gene", "kind", "partner"]
_FEATURE = re.compile(r"^(?P<genes>[A-Za-z0-9.\-_]+?)_(?P<kind>mut|alt|amp|del|fusion)$")
_SEGMENT = re.compile(r"^(?P<kind>gain|loss):[^()]*\((?P<genes>[^()]*)\)\s*$")


def parse_feature(name: str) -> tuple[str, tuple[str, ...]] | None:
    """``(kind, genes)`` of a reference feature name, or None when it is not one rxrank reads.

    kind is mut, alt, amp, del or fusion; genes are upper-case symbols (a fusion's two partners,
    a segment's genes)."""
    text = str(name).strip()
    m = _SEGMENT.match(text)
    if m:
        genes = tuple(g.strip().upper() for g in m.group("genes").split(",") if g.strip())
        return ("amp" if m.group("kind") == "gain" else "del"), genes
    m = _FEATURE.match(text)
    if not m:
        return None
    kind, genes = m.group("kind"), m.group("genes").upper()
    if kind == "fusion":
        parts = tuple(p for p in re.split(r"[-_]", genes) if p)
        return (kind, parts) if len(parts) == 2 else None
    return kind, (genes,)


def _read_text_table(path: Path, what: str) -> pd.DataFrame:
    """A tab-separated table whose leading ``#`` lines (MAF version headers) are skipped."""
    if not path.exists():
        raise RxrankInputError(f"{what} file not found: {path}. Check the path in your config.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="strict") as fh:
            lines = [line for line in fh if not line.startswith("#")]
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise RxrankInputError(
            f"{what} file {path} cannot be read as UTF-8 text ({err}); export it again as "
            "tab-separated text."
        ) from None
    if not lines:
        raise RxrankInputError(f"{what} file {path} has no header line. Export the table again.")
    header = lines[0].rstrip("\r\n").split("\t")
    for i, line in enumerate(lines[1:], start=2):
        n = len(line.rstrip("\r\n").split("\t"))
        if line.strip() and n != len(header):
            raise RxrankInputError(
                f"{what} file {path}: data row {i - 1} (after the # lines) has {n} fields, the "
                f"header {len(header)}; fix that row (tab-separated, one field per column)."
            )
    return pd.read_csv(
        io.StringIO("".join(lines)), sep="\t", dtype=str, keep_default_na=False, quoting=3
    )


def read_maf(path: str | Path) -> pd.DataFrame:
    """Protein-altering mutations of a MAF file as events (patient_id, gene, kind, partner) plus
    ``protein_change`` (HGVSp_Short when given).

    ``#`` header lines and extra columns are ignored; silent and non-coding classes are read and
    left out (counted in ``.attrs``); an unknown class or an empty sample or gene is an error
    naming the row. Gene symbols take their official case (``braf`` -> ``BRAF``).
    """
    path = Path(path)
    frame = _read_text_table(path, "mutation (MAF)")
    missing = [c for c in MAF_COLUMNS if c not in frame.columns]
    if missing:
        raise RxrankInputError(
            f"mutation (MAF) file {path} has no column(s) {missing}; a MAF needs "
            f"{list(MAF_COLUMNS)} (HGVSp_Short is optional). Its columns: {list(frame.columns)[:8]}."
        )
    cls = frame["Variant_Classification"].str.strip()
    unknown = ~cls.isin(NON_SILENT | SILENT)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise RxrankInputError(
            f"mutation (MAF) file {path}, data row {i + 1}: Variant_Classification "
            f"{cls.iloc[i]!r} is not a MAF class; use one of {sorted(NON_SILENT)} (or a silent "
            "class such as Silent or Intron, which rxrank leaves out)."
        )
    for column in MAF_COLUMNS[:2]:
        empty = frame[column].str.strip() == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise RxrankInputError(
                f"mutation (MAF) file {path}, data row {i + 1}: {column} is empty; every row "
                "needs a sample and a gene."
            )
    keep = cls.isin(NON_SILENT).to_numpy()
    kept = frame.loc[keep]
    patients = clean_ids(
        list(kept["Tumor_Sample_Barcode"]), source=f"MAF file {path}", unique=False
    )
    symbols = load_gene_map().symbols
    genes = [symbols.get(g.strip().upper(), g.strip().upper()) for g in kept["Hugo_Symbol"]]
    change = kept["HGVSp_Short"].str.strip() if "HGVSp_Short" in kept else ""
    out = pd.DataFrame(
        {"patient_id": patients, "gene": genes, "kind": "mut", "partner": "",
         "protein_change": change}
    )  # fmt: skip
    out.attrs.update(
        rows=len(frame),
        silent=int((~keep).sum()),
        assessed=sorted(set(clean_ids(list(frame["Tumor_Sample_Barcode"]),
                                      source=f"MAF file {path}", unique=False))),
    )  # fmt: skip
    return out.drop_duplicates(["patient_id", "gene", "kind", "protein_change"]).reset_index(
        drop=True
    )


def read_patient_calls(path: str | Path) -> pd.DataFrame:
    """A patient x feature table of 0/1 calls (first column the patient ID; empty or NA: not
    assessed) as events, with every assessed (patient, feature) in ``.attrs["assessed"]``.

    Column names are reference feature names (``BRAF_mut``, ``ERBB2_amp``, ``PTEN_del``,
    ``EWSR1-FLI1_fusion``, ``gain:...(G1,G2)``); a name rxrank cannot read is an error naming it.
    """
    path = Path(path)
    frame = _read_text_table(path, "patient calls")
    if frame.shape[1] < 2:
        raise RxrankInputError(
            f"patient calls file {path} needs a patient ID column and at least one call column."
        )
    ids = clean_ids(list(frame.iloc[:, 0]), source=f"patient calls file {path}")
    events, assessed = [], []
    for col in frame.columns[1:]:
        parsed = parse_feature(col)
        if parsed is None or parsed[0] == "alt":
            raise RxrankInputError(
                f"patient calls file {path}: column {col!r} is not a call rxrank can read; name "
                "columns GENE_mut, GENE_amp, GENE_del, GENEA-GENEB_fusion (or the reference's "
                "own feature names, e.g. gain:cnaPANCAN301 (CDK12,ERBB2,MED24))."
            )
        kind, genes = parsed
        text = frame[col].str.strip().str.lower()
        value = text.map({"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0})
        bad = ~text.isin(["", "na", "nan"]) & value.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise RxrankInputError(
                f"patient calls file {path}, line {i + 2}, column {col!r}: "
                f"{frame[col].iloc[i]!r}; calls must be 0 or 1 (empty = not assessed)."
            )
        for pid, v in zip(ids, value, strict=True):
            if v == v:  # not NaN
                assessed.append((pid, kind))
                if v == 1:
                    partner = genes[1] if kind == "fusion" else ""
                    for gene in genes[:1] if kind == "fusion" else genes:
                        events.append((pid, gene, kind, partner))
    out = pd.DataFrame(events, columns=EVENT_COLUMNS).drop_duplicates().reset_index(drop=True)
    out.attrs["assessed"] = sorted(set(assessed))
    return out


def pseudonymise_events(events: pd.DataFrame, ids: dict[str, str]) -> tuple[pd.DataFrame, int]:
    """``events`` with patient IDs replaced through ``ids`` (the pseudonym map); patients not in
    it (not in the cohort) are dropped. Returns the events and how many patients were dropped."""
    known = events["patient_id"].isin(ids.keys())
    out = events.loc[known].copy()
    out["patient_id"] = out["patient_id"].map(ids)
    attrs = dict(events.attrs)
    assessed = attrs.get("assessed", [])
    if assessed and isinstance(assessed[0], tuple):
        attrs["assessed"] = sorted({(ids[p], k) for p, k in assessed if p in ids})
        unknown = {p for p, _ in assessed if p not in ids}
    else:
        attrs["assessed"] = sorted({ids[p] for p in assessed if p in ids})
        unknown = {p for p in assessed if p not in ids}
    out.attrs = attrs
    return out.reset_index(drop=True), len(unknown | set(events.loc[~known, "patient_id"]))


def patient_features(
    feature_names: list[str],
    patients: list[str],
    *,
    mutations: pd.DataFrame | None = None,
    calls: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The patients x reference features matrix (1 carries, 0 assessed without, NaN not assessed)
    and a per-feature table: feature, kind, genes, patients_assessed, patients_with, note.

    A patient is assessed for mutations when the MAF lists the patient at all (any row, silent
    included), and for the kinds of the call table's columns where a cell holds 0 or 1.
    """
    parts = [e for e in (mutations, calls) if e is not None and len(e)]
    events = (
        pd.concat([e[EVENT_COLUMNS] for e in parts], ignore_index=True)
        if parts
        else pd.DataFrame(columns=EVENT_COLUMNS)
    )
    assessed: dict[str, set[str]] = {k: set() for k in KINDS}
    if mutations is not None:
        assessed["mut"] |= set(mutations.attrs.get("assessed", mutations["patient_id"]))
    if calls is not None:
        for pid, kind in calls.attrs.get("assessed", []):
            assessed[kind].add(pid)
    index = pd.Index([str(p) for p in patients], name="patient_id")
    matrix = pd.DataFrame(np.nan, index=index, columns=list(map(str, feature_names)))
    rows = []
    by_kind = {k: events[events["kind"] == k] for k in KINDS}
    for name in matrix.columns:
        parsed = parse_feature(name)
        if parsed is None:
            rows.append([name, "", "", 0, 0, "name not read (not GENE_mut/_amp/_del/_alt/_fusion)"])
            continue
        kind, genes = parsed
        kinds = KINDS if kind == "alt" else (kind,)
        seen = set().union(*(assessed[k] for k in kinds))
        hit: set[str] = set()
        for k in kinds:
            ev = by_kind[k]
            if k == "fusion" and len(genes) == 2:
                pair = ((ev["gene"] == genes[0]) & (ev["partner"] == genes[1])) | (
                    (ev["gene"] == genes[1]) & (ev["partner"] == genes[0])
                )
                hit |= set(ev.loc[pair, "patient_id"])
            else:
                hit |= set(ev.loc[ev["gene"].str.upper().isin(genes), "patient_id"])
        inside = index.isin(sorted(seen))
        matrix.loc[inside, name] = 0.0
        matrix.loc[index.isin(sorted(hit)), name] = 1.0
        n_with = int((matrix[name] == 1).sum())
        note = (
            "no patient assessed for it"
            if not inside.any()
            else f"{n_with} patient(s) carry it"
            if n_with
            else "assessed, no patient carries it"
        )
        rows.append([name, kind, ",".join(genes), int(inside.sum()), n_with, note])
    table = pd.DataFrame(
        rows, columns=["feature", "kind", "genes", "patients_assessed", "patients_with", "note"]
    )
    return matrix, table
