rule survival:
    input:
        unpack(
            inputs_with_optional(
                {
                    "cohort": f"{OUT}/profiling/cohort.h5ad",
                    "eigengenes": f"{OUT}/correlation/eigengenes.tsv",
                    "predictions": f"{OUT}/sensitivity/predictions.parquet",
                },
                longitudinal=("survival", "longitudinal", "table"),
            )
        ),
    output:
        cox_summary=report(f"{OUT}/survival/cox_summary.tsv", caption="../report/cox_summary.rst", category="Survival"),
        metrics=f"{OUT}/survival/metrics.json",
        patients=f"{OUT}/survival/patients.tsv",
        km=f"{OUT}/survival/km.tsv",
        patient_curves=f"{OUT}/survival/patient_curves.tsv",
        treatment_effects=f"{OUT}/survival/treatment_effects.tsv",
        longitudinal=f"{OUT}/survival/longitudinal.tsv",
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
