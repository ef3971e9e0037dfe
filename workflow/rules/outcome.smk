# Reads what it really needs (the profiled cohort, eigengenes, predictions): it runs beside survival.
# Its settings stay under `survival.outcome`, whose defaults are the survival section's features,
# covariates, biomarkers and seed, so it gets the survival section too.
rule outcome:
    input:
        cohort="results/profiling/cohort.h5ad",
        eigengenes="results/correlation/eigengenes.tsv",
        predictions="results/sensitivity/predictions.tsv",
    output:
        metrics=report("results/outcome/metrics.tsv", caption="../report/outcome_metrics.rst", category="Outcome"),
        calibration="results/outcome/calibration.tsv",
        patients="results/outcome/patients.tsv",
        summary="results/outcome/summary.json",
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
