"""The stage commands: each reads its files, calls one ``run_*`` of its stage, writes its files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..config import (
    CohortParams,
    PrivacyParams,
    ProfilingParams,
    RankingParams,
    ReferenceParams,
    SensitivityParams,
    defaults,
)
from ._common import _log_frame, _params, _read_json, _read_reference, log


def cmd_reference_build(args) -> None:
    """Build a reference bundle from the downloaded files (workflow: ``--params``; by hand:
    ``--config``), each file given on the command line overriding the config's."""
    from ..bundle import build_bundle
    from ..check import load_config

    section = _params(args.params).get("reference")
    if args.config:
        section = load_config(args.config).get("reference")
    ref = ReferenceParams.from_config(section)
    if ref.bundle:
        raise io.RxrankInputError(
            "reference.bundle is set: that bundle is built already. To build a new one, name "
            "the downloaded files in the reference section (expression, response, ...) instead."
        )
    given = {
        key: getattr(args, key)
        for key in ("expression", "response", "cell_lines", "drugs", "binary_features")
        if getattr(args, key)
    }
    manifest = build_bundle(ref.replace(**given), args.out, release=args.release)
    counts = manifest["counts"]
    print(
        f"reference bundle {args.out} ({manifest['release']}): "
        f"{counts['cell_lines_with_expression']} cell lines x {counts['genes']} genes, "
        f"{counts['drugs']} drugs, {counts['responses']} responses ({manifest['metric']}); "
        f"use it with reference.bundle: {args.out}"
    )


def cmd_reference_verify(args) -> None:
    """Check a bundle's files against its manifest and print what it holds."""
    from ..bundle import open_bundle

    manifest = open_bundle(args.folder)
    print(
        f"reference bundle {args.folder}: OK ({manifest['release']}, built {manifest['created']})"
    )
    for role, source in manifest["sources"].items():
        print(f"  {role}: {source['file']} (sha256 {source['sha256'][:12]}...)")
    for key, value in manifest["counts"].items():
        print(f"  {key.replace('_', ' ')}: {value}")


def cmd_pseudobulk(args) -> None:
    """Single-cell input: pseudobulk counts (genes x patients) and composition, pseudonymised."""
    from ..privacy import pseudonym_map
    from ..singlecell import config_options, pseudobulk, read_samples

    p = _params(args.params)
    sc = p["cohort"]["single_cell"]
    id_column = CohortParams.from_config(p["cohort"]).id_column
    patients = [s.patient_id for s in read_samples(args.samples, id_column=id_column)]
    ids = pseudonym_map(patients, p.get("privacy"))
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


def _patient_genomics(args, ids: dict[str, str], patients: list[str]) -> None:
    """The patients' mutations and calls on the reference's binary features, pseudonymised:
    ``profiling/patient_features.tsv`` (patients x features, 1/0/empty) and the per-feature
    ``profiling/patient_feature_map.tsv``; headers only without genomic input."""
    from ..genomics import (
        patient_features,
        pseudonymise_events,
        read_maf,
        read_patient_calls,
    )

    names = (
        list(io.read_binary_features(args.binary_features).columns) if args.binary_features else []
    )
    events = {}
    for key, reader in (("mutations", read_maf), ("calls", read_patient_calls)):
        path = getattr(args, key)
        if path:
            events[key], dropped = pseudonymise_events(reader(path), ids)
            if dropped:
                log.warning("%s: %d patient(s) not in the cohort left out", path, dropped)
    matrix, table = patient_features(names, patients, **events)
    log.info(
        "patient genomics: %d patient(s) with calls, %d of %d reference features carried",
        int(matrix.notna().any(axis=1).sum()), int((table["patients_with"] > 0).sum()), len(names),
    )  # fmt: skip
    io.write_tsv(table, args.feature_map)
    io.write_tsv(matrix, args.patient_features, index=True)


def cmd_profile(args) -> None:
    from ..privacy import pseudonym_map
    from ..profiling import markers, profile, target_zscores

    p = _params(args.params)
    cohort = CohortParams.from_config(p["cohort"])
    single_cell = p["cohort"].get("single_cell")
    if single_cell:  # the pseudobulk: counts, genes x patients, IDs pseudonymised already
        cohort = cohort.replace(
            expression_type="counts", orientation="genes_by_samples", expression_layer=None
        )
    adata = io.read_expression(
        args.expression,
        expression_type=cohort.expression_type,
        orientation=cohort.orientation,
        layer=cohort.expression_layer,
    )
    gene_ids = adata.uns["rxrank_io"].pop("gene_ids")  # written last: no output on failure
    clinical = io.read_clinical(
        args.clinical,
        id_column=cohort.id_column,
        time_column=cohort.time_column,
        event_column=cohort.event_column,
    )
    # pseudonymise as soon as IDs are read, so that no original ID reaches any output
    ids = pseudonym_map(set(clinical.index), p.get("privacy"))
    if not single_cell:
        ids = pseudonym_map(set(adata.obs_names) | set(clinical.index), p.get("privacy"))
        adata.obs_names = [ids[i] for i in adata.obs_names]
    clinical.index = pd.Index([ids[i] for i in clinical.index], name=clinical.index.name)
    prof = ProfilingParams.from_config(p.get("profiling"))
    adata = profile(
        adata, clinical, expression_type=cohort.expression_type, **dataclasses.asdict(prof)
    )
    if single_cell:
        from ..singlecell import config_options

        options = config_options(single_cell)
        adata.uns["rxrank"]["single_cell"] = {
            **options,
            "layer": options["layer"] or "X",
            "cell_types": options["cell_types"] or "all",
            "aggregation": "sum of raw counts over each patient's cells",
        }
    drugs = io.read_drugs(args.drugs)
    if args.patient_features:
        _patient_genomics(args, ids, list(adata.obs_names))
    io.write_tsv(markers(adata), args.markers)
    io.write_tsv(target_zscores(adata, drugs), args.target_z, index=True)
    for col in adata.obs.columns:
        if adata.obs[col].dtype == object:
            adata.obs[col] = adata.obs[col].astype(str)
    with io.atomic_path(args.cohort) as tmp:
        adata.write_h5ad(tmp)
    if args.gene_ids:
        io.write_tsv(gene_ids, args.gene_ids)


def _tissues(path) -> pd.Series | None:
    """Each cell line's tissue from the reference's ``cell_lines.tsv`` (None when it is empty)."""
    cl = io.read_output_tsv(path, dtype=str)
    return cl.set_index("cell_line")["tissue"] if len(cl) else None


def cmd_sensitivity(args) -> None:
    from ..sensitivity import run_sensitivity, save_model

    p = _params(args.params)
    cohort = io.read_output_h5ad(args.cohort)
    lines, response = _read_reference(args, p["reference"])
    result = run_sensitivity(
        _log_frame(cohort), lines, response, tissues=_tissues(args.cell_lines),
        params=p["sensitivity"],
    )  # fmt: skip
    save_model(args.model_dir, result)
    if args.similar_lines:
        io.write_tsv(result.similar, args.similar_lines)
    io.write_table(result.predictions, args.predictions)
    io.write_tsv(result.metrics, args.metrics)


def cmd_predict(args) -> None:
    """Apply a saved reference model to a profiled cohort, without retraining: the predictions,
    and the model's cross-validated metrics (what the ranking and reports cite) beside them. Given
    the reference too, the model must have been trained on it."""
    from ..sensitivity import load_model

    p = _params(args.params)
    reference = None
    if args.reference_expression or args.response:
        if not (args.reference_expression and args.response):
            raise io.RxrankInputError(
                "give both --reference-expression and --response (to check the model was "
                "trained on them), or neither."
            )
        reference = _read_reference(args, p.get("reference"))
    model = load_model(args.model, reference=reference)
    if args.model_dir and Path(args.model_dir).resolve() == Path(args.model).resolve():
        raise io.RxrankInputError(
            f"--model-dir {args.model_dir} is the model being applied; copy the model elsewhere "
            "(e.g. models/my_reference) and point sensitivity.fitted_model there."
        )
    patients = _log_frame(io.read_output_h5ad(args.cohort))
    if args.similar_lines:  # needs the reference's expression: headers only without it
        from ..sensitivity._similar import SIMILAR_COLUMNS, similar_to_patients

        similar = pd.DataFrame(columns=SIMILAR_COLUMNS)
        if reference is not None:
            k = SensitivityParams.from_config(p.get("sensitivity")).similar_lines
            frame = patients.reindex(columns=model.genes, fill_value=0.0)
            similar = similar_to_patients(
                model.harmoniser.for_target(frame.to_numpy(np.float32)), model.genes, frame,
                reference[0], tissues=model.tissues, k=k,
            )  # fmt: skip
        io.write_tsv(similar, args.similar_lines)
    io.write_table(model.predict(patients, source=args.cohort), args.predictions)
    with io.atomic_path(args.metrics) as tmp:
        shutil.copyfile(Path(args.model) / "metrics.tsv", tmp)
    if args.model_dir:  # the applied model beside its predictions, as the training run leaves it
        Path(args.model_dir).mkdir(parents=True, exist_ok=True)
        for name in ("model.npz", "metrics.tsv", "metadata.json"):
            with io.atomic_path(Path(args.model_dir) / name) as tmp:
                shutil.copyfile(Path(args.model) / name, tmp)


def cmd_modules(args) -> None:
    from ..coexpression import run_modules

    out = run_modules(io.read_output_h5ad(args.cohort), params=_params(args.params)["correlation"])
    io.write_outputs(out, args.outdir)


def cmd_associations(args) -> None:
    from ..associations import build_traits, run_associations

    p = _params(args.params)
    obs = io.read_output_h5ad(args.cohort, backed="r").obs.copy()
    traits = build_traits(obs, io.read_output_table(args.predictions))
    eigengenes = io.read_output_tsv(
        args.eigengenes, index_col="patient_id", dtype={"patient_id": str}
    )
    lines, response = _read_reference(args, p["reference"])
    features = io.read_binary_features(args.binary_features) if args.binary_features else None
    out = run_associations(
        eigengenes, traits, lines, response, params=p["correlation"], binary_features=features,
        tissues=_tissues(args.cell_lines) if args.cell_lines else None,
    )  # fmt: skip
    io.write_outputs(out, args.outdir)


def _survival_inputs(args, p: dict):
    """What the survival and outcome stages read: the cohort's clinical columns, the features
    (eigengenes, ``sensitivity:<drug>``) and their settings completed from the data."""
    from ..survival import stage_settings

    obs = io.read_output_h5ad(args.cohort, backed="r").obs.copy()
    eigengenes = io.read_output_tsv(args.eigengenes, index_col="patient_id")
    predictions = io.read_output_table(args.predictions)
    sens = predictions.pivot(index="patient_id", columns="drug", values="predicted")
    sens.columns = [f"sensitivity:{d}" for d in sens.columns]
    features = eigengenes.join(sens)
    return obs, features, *stage_settings(obs, features, p["survival"], p["cohort"])


def cmd_survival(args) -> None:
    from ..survival import run_survival

    p = _params(args.params)
    obs, features, surv, cohort = _survival_inputs(args, p)
    longitudinal = None
    if args.longitudinal:
        from ..identifiers import clean_ids
        from ..privacy import pseudonym_map

        longitudinal = io.read_table(args.longitudinal, what="longitudinal covariates")
        id_col = surv.longitudinal.id_column
        if id_col in longitudinal.columns:  # the same pseudonyms as the profiled cohort
            ids = clean_ids(
                list(longitudinal[id_col].astype(str)),
                source=f"longitudinal covariates file {args.longitudinal}, column {id_col!r}",
                unique=False,
            )
            longitudinal[id_col] = pd.Series(ids, index=longitudinal.index).map(
                pseudonym_map(set(ids), p.get("privacy"))
            )
    out = run_survival(
        obs,
        features,
        params=surv,
        cohort=cohort,
        longitudinal=longitudinal,
        source=f"clinical table {cohort.clinical or ''}".strip(),
        longitudinal_source=f"longitudinal table {args.longitudinal}",
    )
    io.write_outputs(out, args.outdir)


def cmd_outcome(args) -> None:
    from ..outcome import run_outcome_stage

    obs, features, surv, cohort = _survival_inputs(args, _params(args.params))
    io.write_outputs(run_outcome_stage(obs, features, params=surv, cohort=cohort), args.outdir)


def cmd_rank(args) -> None:
    from ..ranking import rank_treatments, rows_for_reading

    p = _params(args.params)
    response = io.read_response(args.response, value_column="value")
    read = io.read_output_tsv
    genomic = None
    if args.feature_drug and args.patient_features:
        from ..genomic_evidence import patient_evidence

        effects = read(args.feature_drug)
        if "q_tissue" in effects and len(effects):
            effects = effects.drop(columns=["p", "q"]).rename(
                columns={"p_tissue": "p", "q_tissue": "q"}
            )
            carried = read(args.patient_features, index_col="patient_id")
            q_max = RankingParams.from_config(p.get("ranking")).genomic_q
            genomic = patient_evidence(carried, effects.dropna(subset=["q"]), q_max=q_max)
    table = rank_treatments(
        io.read_output_table(args.predictions),
        read(args.metrics),
        response.groupby("drug")["value"].median(),
        drugs=io.read_drugs(args.drugs),
        target_z=read(args.target_z, index_col=0),
        treatment_effects=read(args.treatment_effects),
        module_traits=read(args.module_traits),
        eigengenes=read(args.eigengenes, index_col="patient_id"),
        genomic_evidence=genomic,
        params=p.get("ranking"),
    )
    io.write_table(table, args.out)
    if args.tsv:
        rows, top = rows_for_reading(
            table, RankingParams.from_config(p.get("ranking")).tsv_max_rows
        )
        if top is not None:
            log.info(
                "%s holds each patient's top %d drugs (%d rows); every drug is in %s",
                args.tsv, top, len(rows), args.out,
            )  # fmt: skip
        io.write_tsv(rows, args.tsv)


def _response_metric(response: str) -> str:
    """The metric of the reference's responses, as the bundle holding them recorded it."""
    from ..bundle import MANIFEST, is_bundle

    folder = Path(response).parent
    if is_bundle(folder):
        return str(json.loads((folder / MANIFEST).read_text()).get("metric") or "ln_ic50")
    return "ln_ic50"


def _report_rankings(path: str, shards: int | None, shard: int | None) -> pd.DataFrame:
    """The rankings a report job reads: every row, or only its shard's patients' (a Parquet
    filter: the other patients' rows are never held)."""
    from ..report import report_shards

    if shard is None:
        return io.read_output_table(path)
    ids = io.read_output_table(path, columns=["patient_id"])["patient_id"].unique()
    parts = report_shards(ids, shards)
    if not 1 <= shard <= len(parts):
        raise io.RxrankInputError(f"--shard {shard} is not one of the {len(parts)} shards.")
    return io.read_output_table(path, filters=[("patient_id", "in", parts[shard - 1])])


def cmd_report(args) -> None:
    from ..check import INPUT_KEYS
    from ..privacy import provenance
    from ..ranking import TIERS
    from ..report import ReportBundle, write_index, write_pages, write_reports

    p = _params(args.params)
    read = io.read_output_tsv
    shards = int(args.shards) if args.shards else None
    shard = int(args.shard) if args.shard else None
    if shard is not None and shards is None:
        raise io.RxrankInputError("--shard needs --shards (the number of shards).")
    privacy = PrivacyParams.from_config(p.get("privacy"))
    bundle = ReportBundle.from_stage_outputs(
        io.read_output_h5ad(args.cohort, backed="r"),  # obs and the UMAP only: not the matrix
        privacy=privacy,
        cohort_name=p.get("cohort_name") or defaults()["cohort_name"],
        provenance=provenance(p, {f"{s}.{k}": p[s].get(k) for s, k in INPUT_KEYS}),
        rankings=_report_rankings(args.rankings, shards, shard),
        metrics=read(args.metrics),
        reference_response=io.read_response(args.response, value_column="value"),
        prognosis=read(args.prognosis, index_col=0),
        km=read(args.km),
        patient_curves=read(args.patient_curves),
        survival_metrics=_read_json(args.survival_metrics),
        target_z=read(args.target_z, index_col=0),
        tier_table=TIERS,
        module_traits=read(args.module_traits),
        outcome_metrics=read(args.outcome_metrics),
        outcome_calibration=read(args.outcome_calibration),
        outcome_patients=read(args.outcome_patients),
        outcome_summary=_read_json(args.outcome_summary),
        response_metric=_response_metric(args.response),
        similar_lines=read(args.similar_lines) if args.similar_lines else None,
    )
    sealing = None
    if privacy.encrypt_reports:
        from ..report.encrypt import sealing_from_config

        results = Path(args.outdir).parent
        if shard is not None:  # <outdir>/reports/pages/NNN
            results = Path(args.outdir).parents[2]
        sealing = sealing_from_config(p["privacy"], results=results)
    if shard is not None:
        write_pages(bundle, args.outdir, sealing=sealing)
    elif shards is not None:
        write_index(bundle, args.outdir, sealing=sealing, shards=shards)
    else:
        write_reports(bundle, args.outdir, sealing=sealing)
    if args.provenance:
        with io.atomic_path(args.provenance) as tmp:
            tmp.write_text(json.dumps(bundle.provenance, indent=2))
