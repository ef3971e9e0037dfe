"""The commands around the stages: check, decrypt, rotate passphrases, defaults, demo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .. import io
from ..config import PrivacyParams
from ._common import _params, log


def cmd_check(args) -> int:
    from ..check import load_config, run_check
    from ..privacy import write_mapping

    if args.params:
        config, where = _params(args.params), "the workflow config"
    elif args.config:
        config, where = load_config(args.config), args.config
    else:
        raise io.RxrankInputError("rxrank check needs a config file (rxrank check config.yaml).")
    io.set_input_memory_gb((config.get("limits") or {}).get("input_memory_gb"))
    report, ids = run_check(where, config)
    print(report.text(console=True))
    if not report.ok:
        return 2
    privacy = PrivacyParams.from_config(config.get("privacy"))
    if privacy.mapping_file and privacy.pseudonymize:
        write_mapping(ids, privacy.mapping_file)
    if args.out:
        summary = {"counts": report.counts, "warnings": report.warnings}
        with io.atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
    return 0


def cmd_decrypt(args) -> int:
    """Decrypt one encrypted report for scripted use (e.g. archiving it as PDF)."""

    from ..report.encrypt import decrypt_page, read_passphrases, write_private

    page = Path(args.report)
    if args.passphrase_file:
        phrases = read_passphrases(args.passphrase_file)
        if page.stem not in phrases:
            raise io.RxrankInputError(
                f"{args.passphrase_file} has no passphrase for {page.stem!r} (the report's file "
                "name without .html); pass the passphrase file written with these reports."
            )
        phrase = phrases[page.stem]
    elif os.environ.get(args.passphrase_env):
        phrase = os.environ[args.passphrase_env]
    else:
        raise io.RxrankInputError(
            f"no passphrase: pass --passphrase-file or set the environment variable "
            f"{args.passphrase_env} (never on the command line, where other users can see it)."
        )
    html = decrypt_page(page.read_text(encoding="utf-8"), phrase, source=str(page))
    if args.out in (None, "-"):
        sys.stdout.write(html)
        return 0
    write_private(args.out, html)  # mode 0600: it is patient data
    return 0


def cmd_rotate_passphrases(args) -> int:
    """New random passphrases on purpose: re-encrypt the reports in place, update the file."""
    from ..report.encrypt import rotate_passphrases

    settings, passphrase_file = {}, args.passphrase_file
    if args.config:
        from ..check import load_config

        privacy = PrivacyParams.from_config(load_config(args.config).get("privacy"))
        settings = {"iterations": privacy.kdf_iterations, "mode": privacy.passphrases}
        passphrase_file = passphrase_file or privacy.passphrase_file
    rotate_passphrases(args.reports, passphrase_file, args.patients, **settings)
    return 0


def cmd_defaults(args) -> None:
    from ..config import defaults_yaml

    sys.stdout.write(defaults_yaml())


def cmd_demo(args) -> None:
    from ..demo import write_demo

    for path in write_demo(args.outdir).values():
        log.info("wrote %s", path)
