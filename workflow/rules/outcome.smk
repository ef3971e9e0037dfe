# Reads what it really needs (the profiled cohort, eigengenes, predictions): it runs beside survival.
# Its settings stay under `survival.outcome`, whose defaults are the survival section's features,
# covariates, biomarkers and seed, so it gets the survival section too.
rule outcome:
    input:
        cohort=f"{OUT}/profiling/cohort.h5ad",
        eigengenes=f"{OUT}/correlation/eigengenes.tsv",
        predictions=f"{OUT}/sensitivity/predictions.parquet",
    output:
        metrics=report(f"{OUT}/outcome/metrics.tsv", caption="../report/outcome_metrics.rst", category="Outcome"),
        calibration=f"{OUT}/outcome/calibration.tsv",
        patients=f"{OUT}/outcome/patients.tsv",
        summary=f"{OUT}/outcome/summary.json",
    params:
        p=stage_params("cohort", "survival"),
        outdir=subpath(output.metrics, parent=True),
    log:
        "logs/outcome.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank outcome --params {params.p:q} --cohort {input.cohort:q} "
        "--eigengenes {input.eigengenes:q} --predictions {input.predictions:q} "
        "--outdir {params.outdir:q} 2> {log:q}"
