"""``rxrank <stage>`` subcommands: the thin layer the workflow rules call with explicit paths."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import io

log = logging.getLogger("rxrank")


def _params(text: str | None) -> dict:
    return json.loads(text) if text else {}


def _read_json(path: str) -> dict:
    with io.reading(path, "intermediate", io.REBUILD_FIX):
        return json.loads(Path(path).read_text())


def _log_frame(adata) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(adata.X), index=adata.obs_names, columns=adata.var_names)


def _read_reference(args, params: dict):
    ref = io.read_expression(
        args.reference_expression,
        expression_type=params.get("expression_type", "log"),
        orientation=params.get("orientation", "auto"),
        layer=params.get("expression_layer"),
        what="reference expression",
    )
    from .profiling import normalise

    normalise(ref, expression_type=params.get("expression_type", "log"))
    response = io.read_response(args.response, value_column="value")
    return _log_frame(ref), response


def cmd_check(args) -> int:
    from .check import load_config, run_check
    from .privacy import write_mapping

    if args.params:
        config, where = _params(args.params), "the workflow config"
    elif args.config:
        config, where = load_config(args.config), args.config
    else:
        raise io.RxrankInputError("rxrank check needs a config file (rxrank check config.yaml).")
    io.set_input_memory_gb((config.get("limits") or {}).get("input_memory_gb"))
    report, ids = run_check(where, config)
    print(report.text())
    if not report.ok:
        return 2
    mapping_file = (config.get("privacy") or {}).get("mapping_file")
    if mapping_file and config.get("privacy", {}).get("pseudonymize", True):
        write_mapping(ids, mapping_file)
    if args.out:
        summary = {"counts": report.counts, "warnings": report.warnings}
        with io.atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
    return 0


def cmd_reference(args) -> None:
    from .screens import read_screen

    ref = _params(args.params)["reference"]
    screen = read_screen(
        args.response,
        layout=ref.get("response_layout", "auto"),
        metric=ref.get("response_metric", "ln_ic50"),
        value_column=ref.get("response_value_column"),
        cell_line_id=ref.get("cell_line_id"),
    )
    tissues = screen.tissues
    if args.cell_lines:
        table = io.read_table(args.cell_lines, what="cell-line annotation")
        given = table.set_index(table.columns[0])[table.columns[1]].astype(str)
        tissues = given if tissues is None else given.combine_first(tissues)
    drugs = screen.drugs
    if args.drugs:
        given = io.read_drugs(args.drugs)
        drugs = given if drugs is None else given.combine_first(drugs)[given.columns]
    if drugs is None:
        drugs = pd.DataFrame({"targets": "", "pathway": ""}, index=pd.Index([], name="drug"))
    missing = sorted(set(screen.response["drug"]) - set(drugs.index))
    if missing:
        log.warning(
            "%d drug(s) have no annotation (targets unknown): %s", len(missing), missing[:10]
        )
    io.write_tsv(screen.response[["cell_line", "drug", "value"]], args.out_response)
    cell_lines = pd.DataFrame({"cell_line": [], "tissue": []})
    if tissues is not None:
        cell_lines = tissues.rename("tissue").rename_axis("cell_line").reset_index()
    io.write_tsv(cell_lines, args.out_cell_lines)
    io.write_tsv(drugs.rename_axis("drug"), args.out_drugs, index=True)


def cmd_pseudobulk(args) -> None:
    """Single-cell input: pseudobulk counts (genes x patients) and composition, pseudonymised."""
    from .privacy import pseudonym_map
    from .singlecell import config_options, pseudobulk, read_samples

    p = _params(args.params)
    cohort = p["cohort"]
    sc = cohort["single_cell"]
    id_column = cohort.get("id_column", "patient_id")
    patients = [s.patient_id for s in read_samples(args.samples, id_column=id_column)]
    ids = pseudonym_map(patients, p.get("privacy", {}))
    counts, composition, scan = pseudobulk(
        args.samples, id_column=id_column, label=ids.__getitem__, **config_options(sc)
    )
    counts.columns = [ids[c] for c in counts.columns]
    composition["patient_id"] = composition["patient_id"].map(ids)
    log.info(
        "pseudobulk: %d patients, %d cells, %d genes (%s of the files' genes)",
        counts.shape[1],
        scan.n_cells,
        counts.shape[0],
        scan.gene_join,
    )
    with io.atomic_path(args.pseudobulk) as tmp:
        counts.to_csv(tmp, sep="\t", compression={"method": "gzip", "mtime": 0})
    io.write_tsv(composition, args.composition)


def cmd_profile(args) -> None:
    from .privacy import pseudonym_map
    from .profiling import markers, profile, target_zscores

    p = _params(args.params)
    cohort = dict(p["cohort"])
    single_cell = cohort.get("single_cell")
    if single_cell:  # the pseudobulk: counts, genes x patients, IDs pseudonymised already
        cohort.update(expression_type="counts", orientation="genes_by_samples")
        cohort["expression_layer"] = None
    adata = io.read_expression(
        args.expression,
        expression_type=cohort["expression_type"],
        orientation=cohort.get("orientation", "auto"),
        layer=cohort.get("expression_layer"),
    )
    gene_ids = adata.uns["rxrank_io"].pop("gene_ids")  # written last: no output on failure
    clinical = io.read_clinical(
        args.clinical,
        id_column=cohort.get("id_column", "patient_id"),
        time_column=cohort["time_column"],
        event_column=cohort["event_column"],
    )
    # pseudonymise as soon as IDs are read, so that no original ID reaches any output
    ids = pseudonym_map(set(clinical.index), p.get("privacy", {}))
    if not single_cell:
        ids = pseudonym_map(set(adata.obs_names) | set(clinical.index), p.get("privacy", {}))
        adata.obs_names = [ids[i] for i in adata.obs_names]
    clinical.index = pd.Index([ids[i] for i in clinical.index], name=clinical.index.name)
    prof = p.get("profiling", {})
    adata = profile(
        adata,
        clinical,
        expression_type=cohort["expression_type"],
        n_top_genes=prof.get("n_top_genes", 1000),
        n_pcs=prof.get("n_pcs", 20),
        n_neighbors=prof.get("n_neighbors", 10),
        resolutions=tuple(prof.get("resolutions", (0.2, 0.3, 0.5, 0.8, 1.0))),
        drop_outliers=prof.get("drop_outliers", False),
        seed=prof.get("seed", 0),
    )
    if single_cell:
        from .singlecell import config_options

        options = config_options(single_cell)
        adata.uns["rxrank"]["single_cell"] = {
            **options,
            "layer": options["layer"] or "X",
            "cell_types": options["cell_types"] or "all",
            "aggregation": "sum of raw counts over each patient's cells",
        }
    drugs = io.read_drugs(args.drugs)
    io.write_tsv(markers(adata), args.markers)
    io.write_tsv(target_zscores(adata, drugs), args.target_z, index=True)
    for col in adata.obs.columns:
        if adata.obs[col].dtype == object:
            adata.obs[col] = adata.obs[col].astype(str)
    with io.atomic_path(args.cohort) as tmp:
        adata.write_h5ad(tmp)
    if args.gene_ids:
        io.write_tsv(gene_ids, args.gene_ids)


def cmd_sensitivity(args) -> None:
    from .sensitivity import run_sensitivity, save_model

    p = _params(args.params)
    cohort = io.read_output_h5ad(args.cohort)
    lines, response = _read_reference(args, p["reference"])
    cl = io.read_output_tsv(args.cell_lines, dtype=str)
    tissues = cl.set_index("cell_line")["tissue"] if len(cl) else None
    result = run_sensitivity(
        _log_frame(cohort), lines, response, tissues=tissues, params=p["sensitivity"]
    )
    save_model(args.model_dir, result)
    io.write_tsv(result.predictions, args.predictions)
    io.write_tsv(result.metrics, args.metrics)


def cmd_modules(args) -> None:
    from .coexpression import run_modules

    out = run_modules(io.read_output_h5ad(args.cohort), params=_params(args.params)["correlation"])
    io.write_outputs(out, args.outdir)


def cmd_associations(args) -> None:
    from .associations import build_traits, run_associations

    p = _params(args.params)
    obs = io.read_output_h5ad(args.cohort, backed="r").obs.copy()
    traits = build_traits(obs, io.read_output_tsv(args.predictions))
    eigengenes = io.read_output_tsv(
        args.eigengenes, index_col="patient_id", dtype={"patient_id": str}
    )
    lines, response = _read_reference(args, p["reference"])
    features = io.read_binary_features(args.binary_features) if args.binary_features else None
    out = run_associations(
        eigengenes, traits, lines, response, params=p["correlation"], binary_features=features
    )
    io.write_outputs(out, args.outdir)


def _survival_inputs(args, p: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """What the survival and outcome stages read: the cohort's clinical columns, the features
    (eigengenes, ``sensitivity:<drug>``) and the ``survival`` section with the cohort's defaults."""
    cohort = p["cohort"]
    obs = io.read_output_h5ad(args.cohort, backed="r").obs.copy()
    eigengenes = io.read_output_tsv(args.eigengenes, index_col="patient_id")
    predictions = io.read_output_tsv(args.predictions)
    sens = predictions.pivot(index="patient_id", columns="drug", values="predicted")
    sens.columns = [f"sensitivity:{d}" for d in sens.columns]
    features = eigengenes.join(sens)
    params = dict(p["survival"])
    params.setdefault("time_column", cohort["time_column"])
    params.setdefault("event_column", cohort["event_column"])
    params.setdefault("covariates", cohort.get("covariates", []))
    if not params.get("features"):
        params["features"] = list(eigengenes.columns)
    treatment = cohort.get("treatment_column")
    if treatment and treatment in obs:
        params.setdefault("treatment_column", treatment)
        params.setdefault("reference_arm", cohort.get("reference_arm"))
        if params.get("adjust_for") is None:
            # the clinical covariates and the molecular prognostic features: prognostic variation
            # left out of a Cox model biases its treatment effects towards no effect
            params["adjust_for"] = [*cohort.get("covariates", []), *params["features"]]
        arms = [a for a in obs[treatment].astype(str).unique() if a != params["reference_arm"]]
        # predicted sensitivity to the arm's drug when it is in the reference; the config's
        # `survival.biomarkers` names a feature for any other arm (or overrides the default)
        params["biomarkers"] = {
            **{a: f"sensitivity:{a}" for a in arms if f"sensitivity:{a}" in features},
            **(params.get("biomarkers") or {}),
        }
    return obs, features, params


def cmd_survival(args) -> None:
    from .survival import run_survival

    p = _params(args.params)
    obs, features, params = _survival_inputs(args, p)
    longitudinal = None
    if getattr(args, "longitudinal", None):
        from .identifiers import clean_ids
        from .privacy import pseudonym_map

        longitudinal = io.read_table(args.longitudinal, what="longitudinal covariates")
        id_col = (params.get("longitudinal") or {}).get("id_column", "patient_id")
        if id_col in longitudinal.columns:  # the same pseudonyms as the profiled cohort
            ids = clean_ids(
                list(longitudinal[id_col].astype(str)),
                source=f"longitudinal covariates file {args.longitudinal}, column {id_col!r}",
                unique=False,
            )
            longitudinal[id_col] = pd.Series(ids, index=longitudinal.index).map(
                pseudonym_map(set(ids), p.get("privacy", {}))
            )
        params["longitudinal"] = {
            **(params.get("longitudinal") or {}),
            "source": f"longitudinal table {args.longitudinal}",
        }
    out = run_survival(
        obs,
        features,
        params=params,
        longitudinal=longitudinal,
        source=f"clinical table {p['cohort'].get('clinical', '')}".strip(),
    )
    io.write_outputs(out, args.outdir)


def cmd_outcome(args) -> None:
    from .outcome import run_outcome_stage

    obs, features, params = _survival_inputs(args, _params(args.params))
    io.write_outputs(run_outcome_stage(obs, features, params=params), args.outdir)


def cmd_rank(args) -> None:
    from .ranking import rank_treatments

    p = _params(args.params)
    response = io.read_response(args.response, value_column="value")
    read = io.read_output_tsv
    table = rank_treatments(
        read(args.predictions),
        read(args.metrics),
        response.groupby("drug")["value"].median(),
        drugs=io.read_drugs(args.drugs),
        target_z=read(args.target_z, index_col=0),
        treatment_effects=read(args.treatment_effects),
        module_traits=read(args.module_traits),
        eigengenes=read(args.eigengenes, index_col="patient_id"),
        params=p.get("ranking"),
    )
    io.write_tsv(table, args.out)


def cmd_report(args) -> None:
    from .check import INPUT_KEYS
    from .privacy import provenance
    from .ranking import TIERS
    from .report import ReportBundle, write_reports

    p = _params(args.params)
    read = io.read_output_tsv
    cohort = io.read_output_h5ad(args.cohort)
    allowed = (p.get("privacy") or {}).get("report_clinical_columns", [])
    obs = cohort.obs[["subtype", *[c for c in allowed if c in cohort.obs]]].copy()
    obs.index.name = "patient_id"
    umap = pd.DataFrame(cohort.obsm["X_umap"][:, :2], index=obs.index, columns=["umap1", "umap2"])
    qc = cohort.obs[[c for c in ("total_counts", "n_genes", "qc_outlier") if c in cohort.obs]]
    rankings = read(args.rankings)
    response = io.read_response(args.response, value_column="value")
    inputs = {f"{s}.{k}": p[s].get(k) for s, k in INPUT_KEYS}
    bundle = ReportBundle(
        rankings=rankings,
        metrics=read(args.metrics),
        reference_response=response,
        prognosis=read(args.prognosis, index_col=0),
        km=read(args.km),
        patient_curves=read(args.patient_curves),
        survival_metrics=_read_json(args.survival_metrics),
        obs=obs,
        umap=umap,
        target_z=read(args.target_z, index_col=0),
        provenance=provenance(p, inputs),
        pseudonyms={pid: pid for pid in obs.index},
        pseudonymised=bool((p.get("privacy") or {}).get("pseudonymize", True)),
        age_column=(p.get("privacy") or {}).get("age_column", "age"),
        cohort_name=p.get("cohort_name", "cohort"),
        tier_table=TIERS,
        qc=qc,
        module_traits=read(args.module_traits),
        outcome_metrics=read(args.outcome_metrics),
        outcome_calibration=read(args.outcome_calibration),
        outcome_patients=read(args.outcome_patients),
        outcome_summary=_read_json(args.outcome_summary),
    )
    sealing = None
    if (p.get("privacy") or {}).get("encrypt_reports"):
        from .report.encrypt import sealing_from_config

        sealing = sealing_from_config(p["privacy"], results=Path(args.outdir).parent)
    write_reports(bundle, args.outdir, sealing=sealing)
    with io.atomic_path(args.provenance) as tmp:
        tmp.write_text(json.dumps(bundle.provenance, indent=2))


def cmd_decrypt(args) -> int:
    """Decrypt one encrypted report for scripted use (e.g. archiving it as PDF)."""
    import os

    from .report.encrypt import decrypt_page, read_passphrases, write_private

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
    from .report.encrypt import rotate_passphrases

    privacy: dict = {}
    if args.config:
        from .check import load_config

        privacy = load_config(args.config).get("privacy") or {}
    rotate_passphrases(
        args.reports,
        args.passphrase_file or privacy.get("passphrase_file"),
        args.patients,
        iterations=privacy.get("kdf_iterations"),
        mode=privacy.get("passphrases", "random"),
    )
    return 0


def cmd_defaults(args) -> None:
    from .config import defaults_yaml

    sys.stdout.write(defaults_yaml())


def cmd_demo(args) -> None:
    from .demo import write_demo

    for path in write_demo(args.outdir).values():
        log.info("wrote %s", path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rxrank", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
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

    add(
        "reference",
        cmd_reference,
        "response",
        "cell-lines?",
        "drugs?",
        "out-response",
        "out-cell-lines",
        "out-drugs",
        help="read the drug screen (GDSC, PRISM, wide or long) into rxrank's tables",
    )
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
        help="drug-sensitivity models",
    )
    add("modules", cmd_modules, "cohort", "outdir", help="co-expression modules and eigengenes")
    add(
        "associations", cmd_associations, "cohort", "eigengenes", "predictions",
        "reference-expression", "response", "binary-features?", "outdir",
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
        "out",
        help="per-patient rankings",
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
        "outdir",
        "provenance",
        help="HTML reports",
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


if __name__ == "__main__":
    sys.exit(main())
