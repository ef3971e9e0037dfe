REPORT_INPUTS = dict(
    cohort=f"{OUT}/profiling/cohort.h5ad",
    target_z=f"{OUT}/profiling/target_z.tsv",
    rankings=f"{OUT}/ranking/rankings.parquet",
    metrics=f"{OUT}/sensitivity/metrics.tsv",
    response=reference_file("response"),
    prognosis=f"{OUT}/survival/patients.tsv",
    km=f"{OUT}/survival/km.tsv",
    patient_curves=f"{OUT}/survival/patient_curves.tsv",
    survival_metrics=f"{OUT}/survival/metrics.json",
    module_traits=f"{OUT}/correlation/module_traits.tsv",
    outcome_metrics=f"{OUT}/outcome/metrics.tsv",
    outcome_calibration=f"{OUT}/outcome/calibration.tsv",
    outcome_patients=f"{OUT}/outcome/patients.tsv",
    outcome_summary=f"{OUT}/outcome/summary.json",
    similar_lines=f"{OUT}/sensitivity/similar_lines.tsv",
)


# the scatter: each shard's patient pages, one job per shard (a SLURM job each)
rule report_pages:
    input:
        **REPORT_INPUTS,
    output:
        pages=directory(f"{OUT}/reports/pages/{{shard}}"),
    wildcard_constraints:
        shard=r"\d{3}",
    params:
        p=stage_params("cohort_name", "cohort", "reference", "privacy"),
        shards=len(REPORT_SHARDS),
    log:
        "logs/report_pages_{shard}.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank report --params {params.p:q} --cohort {input.cohort:q} "
        "--rankings {input.rankings:q} --metrics {input.metrics:q} --response {input.response:q} "
        "--prognosis {input.prognosis:q} --km {input.km:q} "
        "--patient-curves {input.patient_curves:q} --survival-metrics {input.survival_metrics:q} "
        "--target-z {input.target_z:q} --module-traits {input.module_traits:q} "
        "--outcome-metrics {input.outcome_metrics:q} --outcome-calibration {input.outcome_calibration:q} "
        "--outcome-patients {input.outcome_patients:q} --outcome-summary {input.outcome_summary:q} "
        "--similar-lines {input.similar_lines:q} --shards {params.shards} "
        "--shard {wildcards.shard} --outdir {output.pages:q} 2> {log:q}"


# the gather: the cohort index linking every shard's pages, and the run's provenance
rule report:
    input:
        **REPORT_INPUTS,
        pages=expand(f"{OUT}/reports/pages/{{shard}}", shard=REPORT_SHARDS),
    output:
        index=report(f"{OUT}/reports/index.html", caption="../report/index.rst", category="Reports"),
        provenance=f"{OUT}/provenance.json",
    params:
        p=stage_params("cohort_name", "cohort", "reference", "privacy"),
        shards=len(REPORT_SHARDS),
        outdir=subpath(output.index, parent=True),
    log:
        "logs/report.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank report --params {params.p:q} --cohort {input.cohort:q} "
        "--rankings {input.rankings:q} --metrics {input.metrics:q} --response {input.response:q} "
        "--prognosis {input.prognosis:q} --km {input.km:q} "
        "--patient-curves {input.patient_curves:q} --survival-metrics {input.survival_metrics:q} "
        "--target-z {input.target_z:q} --module-traits {input.module_traits:q} "
        "--outcome-metrics {input.outcome_metrics:q} --outcome-calibration {input.outcome_calibration:q} "
        "--outcome-patients {input.outcome_patients:q} --outcome-summary {input.outcome_summary:q} "
        "--similar-lines {input.similar_lines:q} --shards {params.shards} "
        "--outdir {params.outdir:q} --provenance {output.provenance:q} 2> {log:q}"
