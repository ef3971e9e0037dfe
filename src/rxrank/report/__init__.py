"""HTML reports: one self-contained page per patient and a cohort index.

>>> from rxrank.report import ReportBundle, write_reports  # doctest: +SKIP
>>> write_reports(bundle, "results/reports")  # doctest: +SKIP
"""

from ._bundle import ReportBundle
from ._env import fmt_sig
from ._write import (
    render_index,
    render_patient,
    report_shards,
    shard_folder,
    write_index,
    write_pages,
    write_reports,
)

__all__ = [
    "ReportBundle",
    "fmt_sig",
    "render_index",
    "render_patient",
    "report_shards",
    "shard_folder",
    "write_index",
    "write_pages",
    "write_reports",
]
