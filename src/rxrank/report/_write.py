"""The public API of the reports: render a patient's page or the cohort index, and write them all
(:func:`write_reports`), encrypted when a :class:`rxrank.report.encrypt.Sealing` is given.

The template contexts are built in :mod:`rxrank.report._patient` and :mod:`rxrank.report._index`
over one :class:`rxrank.report._cohort.Cohort`; the figures live in :mod:`rxrank.report._figures`,
the layout in ``templates/`` and the filters and page cleaning in :mod:`rxrank.report._env`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rxrank.io import atomic_path

from ._bundle import ReportBundle, safe_filename
from ._cohort import Cohort
from ._env import render_page
from ._index import index_context
from ._patient import patient_context

__all__ = [
    "PLAIN_PROVENANCE",
    "render_index",
    "render_patient",
    "report_shards",
    "shard_folder",
    "write_index",
    "write_pages",
    "write_reports",
]

log = logging.getLogger(__name__)


def render_patient(bundle: ReportBundle, patient_id: str, *, max_rows: int = 15) -> str:
    """The self-contained HTML report of one patient (named by pseudonym only).

    ``max_rows`` drugs are shown in the ranked table; the rest follow in a collapsed table.
    """
    return _render_patient(Cohort(bundle), str(patient_id), max_rows=max_rows)


def _render_patient(cohort: Cohort, patient_id: str, *, max_rows: int) -> str:
    return render_page("patient.html", patient_context(cohort, patient_id, max_rows=max_rows))


def render_index(bundle: ReportBundle) -> str:
    """The cohort index: one row per patient linking to ``<patient_id>.html``, plus counts."""
    return render_page("index.html", index_context(Cohort(bundle)))


def write_reports(
    bundle: ReportBundle, outdir: str | Path, *, max_rows: int = 15, sealing: Any = None
) -> list[Path]:
    """Write ``<outdir>/<patient_id>.html`` for every ranked patient and ``<outdir>/index.html``.

    With ``sealing`` (a :class:`rxrank.report.encrypt.Sealing`) every page is encrypted under its
    own passphrase (the index under the passphrase of ``index``) and the passphrases are written to
    ``sealing.passphrase_file``; random passphrases already in it are kept, so a rerun re-encrypts
    each page under the passphrase handed out before. Each file is written atomically. Returns the
    paths, index last.
    """
    cohort = Cohort(bundle)
    written = write_pages(bundle, outdir, max_rows=max_rows, sealing=sealing, cohort=cohort)
    written.append(write_index(bundle, outdir, sealing=sealing, cohort=cohort))
    return written


def report_shards(patient_ids, shards: int) -> list[list[str]]:
    """The patients of each of ``shards`` report jobs: sorted IDs in contiguous, near-equal parts
    (the same split for every shard job and for the index that links their pages)."""
    ids = sorted({str(p) for p in patient_ids})
    n, k = len(ids), max(int(shards), 1)
    bounds = [n * i // k for i in range(k + 1)]
    return [ids[bounds[i] : bounds[i + 1]] for i in range(k)]


def shard_folder(number: int) -> str:
    """The folder of a shard's pages, relative to the index: ``pages/001`` for shard 1."""
    return f"pages/{number:03d}"


def write_pages(
    bundle: ReportBundle,
    outdir: str | Path,
    *,
    max_rows: int = 15,
    sealing: Any = None,
    cohort: Cohort | None = None,
) -> list[Path]:
    """Write ``<outdir>/<patient_id>.html`` for every patient in ``bundle.rankings`` (a shard's
    bundle holds only its patients' rankings) and remove rxrank pages of other patients there."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cohort = cohort or Cohort(bundle)
    names = _page_names(cohort)
    seal = _Sealer(bundle, sealing)
    written: list[Path] = []
    for pid, name in names.items():
        html = _render_patient(cohort, pid, max_rows=max_rows)
        # passphrases are keyed by file name (the pseudonym in a workflow run)
        written.append(_write(outdir / name, seal(Path(name).stem, html, "patient report")))
    if sealing is not None:  # merged into the file: other reports' entries are kept
        sealing.save(seal.passphrases)
    _remove_stale(outdir, {*names.values(), "index.html"})
    log.info("wrote %d patient reports to %s", len(names), outdir)
    return written


def write_index(
    bundle: ReportBundle,
    outdir: str | Path,
    *,
    sealing: Any = None,
    cohort: Cohort | None = None,
    shards: int | None = None,
) -> Path:
    """Write ``<outdir>/index.html``. With ``shards`` the pages are in ``pages/NNN/`` below it
    (:func:`report_shards`); flat pages and shard folders beyond ``shards`` left by an earlier
    run are removed, so no page of a patient outside this cohort ships beside its index."""
    outdir = Path(outdir)
    cohort = cohort or Cohort(bundle)
    folders = None
    if shards is not None:
        parts = report_shards(cohort.patients, shards)
        folders = {pid: shard_folder(i + 1) for i, part in enumerate(parts) for pid in part}
        _remove_stale(outdir, {"index.html"})
        kept = {shard_folder(i + 1).split("/")[1] for i in range(len(parts))}
        for folder in sorted((outdir / "pages").glob("*")):
            if folder.is_dir() and folder.name not in kept:
                _remove_stale(folder, set())
    else:
        _remove_stale(outdir, {*_page_names(cohort).values(), "index.html"})
    seal = _Sealer(bundle, sealing)
    index = render_page("index.html", index_context(cohort, folders))
    path = _write(outdir / "index.html", seal("index", index, "cohort index"))
    if sealing is not None:
        sealing.save(seal.passphrases)
    return path


def _page_names(cohort: Cohort) -> dict[str, str]:
    names = {pid: safe_filename(pid) for pid in cohort.patients}
    if "index.html" in names.values():
        raise ValueError("a patient called 'index' would overwrite the cohort index; rename it.")
    return names


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Remove rxrank pages in ``folder`` not named in ``keep``: another cohort's (or a dropped
    patient's) page must not ship with these. Other files are left alone."""
    stale = [p for p in folder.glob("*.html") if p.name not in keep and _written_by_rxrank(p)]
    for page in stale:
        page.unlink()
    if stale:
        log.warning(
            "removed %d report page(s) of patients not in this cohort from %s", len(stale), folder
        )


def _written_by_rxrank(path: Path) -> bool:
    """Whether an HTML file is an rxrank page (its generator tag); anything else is left alone."""
    with open(path, "rb") as handle:
        return b'<meta name="generator" content="rxrank' in handle.read(4096)


class _Sealer:
    """Turns a rendered page into the page written: encrypted when ``sealing`` is given."""

    def __init__(self, bundle: ReportBundle, sealing: Any) -> None:
        self.sealing = sealing
        prov = bundle.provenance or {}
        self.plain = {k: prov.get(k) for k in PLAIN_PROVENANCE if k in prov}
        self.passphrases: dict[str, str] = {}

    def __call__(self, name: str, html: str, kind: str) -> str:
        if self.sealing is None:
            return html
        from .encrypt import encrypt_page

        phrase = self.passphrases[name] = self.sealing.passphrase(name)
        return encrypt_page(
            html, phrase, provenance=self.plain, kind=kind, iterations=self.sealing.iterations
        )


#: provenance kept in plain text on encrypted pages: versions and checksums, no patient data
PLAIN_PROVENANCE = (
    "rxrank_version",
    "python",
    "libraries",
    "config_hash",
    "input_checksums",
    "created",
)


def _write(path: Path, html: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
        tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; reports follow the umask like open()
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
