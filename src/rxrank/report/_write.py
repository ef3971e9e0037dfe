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

__all__ = ["PLAIN_PROVENANCE", "render_index", "render_patient", "write_reports"]

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
    outdir = Path(outdir)
    cohort = Cohort(bundle)
    names = {pid: safe_filename(pid) for pid in cohort.patients}
    if "index.html" in names.values():
        raise ValueError("a patient called 'index' would overwrite the cohort index; rename it.")
    seal = _Sealer(bundle, sealing)
    written: list[Path] = []
    for pid, name in names.items():
        html = _render_patient(cohort, pid, max_rows=max_rows)
        # passphrases are keyed by file name (the pseudonym in a workflow run)
        written.append(_write(outdir / name, seal(Path(name).stem, html, "patient report")))
    index = render_page("index.html", index_context(cohort))
    written.append(_write(outdir / "index.html", seal("index", index, "cohort index")))
    if sealing is not None:  # merged into the file: other reports' entries are kept
        sealing.save(seal.passphrases)
    stale = [p for p in outdir.glob("*.html") if p.name not in {*names.values(), "index.html"}]
    stale = [p for p in stale if _written_by_rxrank(p)]
    for page in stale:  # another cohort's (or a dropped patient's) page must not ship with these
        page.unlink()
    if stale:
        log.warning(
            "removed %d report page(s) of patients not in this cohort from %s", len(stale), outdir
        )
    log.info("wrote %d patient reports and the index to %s", len(names), outdir)
    return written


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
