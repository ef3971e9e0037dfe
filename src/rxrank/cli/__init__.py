"""``rxrank <stage>`` subcommands: the thin layer the workflow rules call with explicit paths."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__, io
from ._stages import (
    cmd_associations,
    cmd_modules,
    cmd_outcome,
    cmd_predict,
    cmd_profile,
    cmd_pseudobulk,
    cmd_rank,
    cmd_reference_build,
    cmd_reference_verify,
    cmd_report,
    cmd_sensitivity,
    cmd_survival,
)
from ._tools import (
    cmd_check,
    cmd_decrypt,
    cmd_defaults,
    cmd_demo,
    cmd_rotate_passphrases,
)

log = logging.getLogger("rxrank")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rxrank", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"rxrank {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, func, *opts, **help_):
        sp = sub.add_parser(name, help=help_.get("help"))
        sp.set_defaults(func=func)
        sp.add_argument(
            "--params", help="stage parameters as JSON (the workflow passes its config)"
        )
        for opt in opts:
            sp.add_argument(f"--{opt.rstrip('?')}", required=not opt.endswith("?"))
        return sp

    reference = sub.add_parser(
        "reference", help="build or verify a reference bundle from the downloaded drug screen"
    ).add_subparsers(dest="action", required=True)
    build = reference.add_parser(
        "build",
        help="read the downloaded reference files into one versioned, checksummed folder",
        description="Files come from the config's reference section (--config, or --params as "
        "the workflow passes it); a file given here overrides the config's.",
    )
    build.set_defaults(func=cmd_reference_build)
    build.add_argument("--params", help="stage parameters as JSON (the workflow passes its config)")
    build.add_argument("--config", help="a config file whose reference section names the files")
    for name in ("expression", "response", "cell-lines", "drugs", "binary-features"):
        build.add_argument(f"--{name}")
    build.add_argument("--release", help="a label for the bundle, e.g. 'GDSC2 release 8.5'")
    build.add_argument("--out", required=True, help="the bundle's folder (new, empty or a bundle)")
    verify = reference.add_parser("verify", help="check a bundle's files against its manifest")
    verify.set_defaults(func=cmd_reference_verify)
    verify.add_argument("folder")
    add(
        "pseudobulk",
        cmd_pseudobulk,
        "samples",
        "pseudobulk",
        "composition",
        help="single-cell input: pseudobulk counts per patient and cell-type composition",
    )
    add(
        "profile",
        cmd_profile,
        "expression",
        "clinical",
        "drugs",
        "cohort",
        "markers",
        "target-z",
        "gene-ids?",
        "mutations?",
        "calls?",
        "binary-features?",
        "patient-features?",
        "feature-map?",
        help="profile the cohort's expression",
    )
    add(
        "sensitivity",
        cmd_sensitivity,
        "cohort",
        "reference-expression",
        "response",
        "cell-lines",
        "metrics",
        "predictions",
        "model-dir",
        "similar-lines?",
        help="drug-sensitivity models",
    )
    add(
        "predict", cmd_predict, "model", "cohort", "predictions", "metrics",
        "reference-expression?", "response?", "model-dir?", "similar-lines?",
        help="apply a saved sensitivity model (--model results/sensitivity/model) to a cohort",
    )  # fmt: skip
    add("modules", cmd_modules, "cohort", "outdir", help="co-expression modules and eigengenes")
    add(
        "associations", cmd_associations, "cohort", "eigengenes", "predictions",
        "reference-expression", "response", "binary-features?", "cell-lines?", "outdir",
        help="module-trait, gene-drug and binary-feature associations",
    )  # fmt: skip
    add(
        "survival",
        cmd_survival,
        "cohort",
        "eigengenes",
        "predictions",
        "outdir",
        "longitudinal?",
        help="Cox models, prognosis, treatment effects",
    )
    add(
        "outcome",
        cmd_outcome,
        "cohort",
        "eigengenes",
        "predictions",
        "outdir",
        help="binary-outcome classifiers (nested-CV AUROC vs the baseline, calibration)",
    )
    add(
        "rank",
        cmd_rank,
        "predictions",
        "metrics",
        "response",
        "drugs",
        "target-z",
        "treatment-effects",
        "module-traits",
        "eigengenes",
        "feature-drug?",
        "patient-features?",
        "out",
        "tsv?",
        help="per-patient rankings (--out: every row, .parquet or .tsv; --tsv: the rows to read by "
        "hand, at most ranking.tsv_max_rows)",
    )
    add(
        "report",
        cmd_report,
        "cohort",
        "rankings",
        "metrics",
        "response",
        "prognosis",
        "km",
        "patient-curves",
        "survival-metrics",
        "target-z",
        "module-traits",
        "outcome-metrics",
        "outcome-calibration",
        "outcome-patients",
        "outcome-summary",
        "similar-lines?",
        "outdir",
        "provenance?",
        "shards?",
        "shard?",
        help="HTML reports: every page and the index in --outdir; with --shards N and --shard I "
        "the pages of shard I only; with --shards N alone the index linking pages/NNN/",
    )
    sp = sub.add_parser("check", help="validate the config and every input before running")
    sp.add_argument("config", nargs="?", help="config YAML (or pass --params)")
    sp.add_argument("--params", help="the config as JSON (the workflow passes its own)")
    sp.add_argument("--out", help="write the summary (counts, warnings) as JSON here")
    sp.set_defaults(func=cmd_check)
    sp = sub.add_parser("decrypt", help="decrypt an encrypted report (privacy.encrypt_reports)")
    sp.add_argument("report", help="the encrypted report (.html)")
    sp.add_argument("--passphrase-file", help="the passphrase file written with the reports")
    sp.add_argument(
        "--passphrase-env",
        default="RXRANK_REPORT_PASSPHRASE",
        help="environment variable holding the passphrase (default RXRANK_REPORT_PASSPHRASE)",
    )
    sp.add_argument(
        "-o", "--out", help="write the plaintext report here (mode 0600); default stdout"
    )
    sp.set_defaults(func=cmd_decrypt)
    sp = sub.add_parser(
        "rotate-passphrases",
        help="give encrypted reports new random passphrases (re-encrypts them in place)",
    )
    sp.add_argument("reports", help="the folder of encrypted reports (e.g. results/reports)")
    sp.add_argument("--passphrase-file", help="the passphrase file (default: from --config)")
    sp.add_argument("--config", help="config YAML: privacy.passphrase_file, passphrases, kdf")
    sp.add_argument(
        "--patients", nargs="+", metavar="RX-...", help="only these reports (default: all)"
    )
    sp.set_defaults(func=cmd_rotate_passphrases)
    sp = sub.add_parser("defaults", help="print every setting with its default (YAML)")
    sp.set_defaults(func=cmd_defaults)
    sp = sub.add_parser("demo", help="write the demo cohort and reference")
    sp.add_argument("outdir", nargs="?", default="resources")
    sp.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; every failure ends in one message (a traceback only with --debug)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose or args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args) or 0
    except io.RxrankInputError as err:
        if args.debug:
            raise
        log.error("%s", err)
        return 2
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:
        if args.debug:
            raise
        log.error(
            "rxrank %s stopped on an error it did not expect (%s: %s). Run the same command "
            "with --debug for the traceback, and report it with this log.",
            args.command,
            type(err).__name__,
            err,
        )
        return 1
