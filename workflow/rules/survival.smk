rule survival:
    input:
        unpack(
            inputs_with_optional(
                {
                    "cohort": "results/profiling/cohort.h5ad",
                    "eigengenes": "results/correlation/eigengenes.tsv",
                    "predictions": "results/sensitivity/predictions.tsv",
                },
                longitudinal=("survival", "longitudinal", "table"),
            )
        ),
    output:
        cox_summary=report("results/survival/cox_summary.tsv", caption="../report/cox_summary.rst", category="Survival"),
        metrics="results/survival/metrics.json",
        patients="results/survival/patients.tsv",
        km="results/survival/km.tsv",
        patient_curves="results/survival/patient_curves.tsv",
        treatment_effects="results/survival/treatment_effects.tsv",
        longitudinal="results/survival/longitudinal.tsv",
    params:
        p=stage_params("cohort", "survival", "privacy"),
        outdir=subpath(output.cox_summary, parent=True),
        options=optional_options("longitudinal"),
    log:
        "logs/survival.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank survival --params {params.p:q} --cohort {input.cohort:q} "
        "--eigengenes {input.eigengenes:q} --predictions {input.predictions:q} "
        "--outdir {params.outdir:q} {params.options} 2> {log:q}"
