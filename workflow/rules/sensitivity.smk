# Trains the drug models on the reference (cross-validated against the baselines) and predicts the
# patients; with sensitivity.fitted_model set, applies that saved model instead (no retraining; it
# must have been trained on this reference, which `rxrank predict` checks by its checksum).
FITTED_MODEL = config["sensitivity"]["fitted_model"]


rule sensitivity:
    input:
        unpack(
            inputs_with_optional(
                {
                    "cohort": f"{OUT}/profiling/cohort.h5ad",
                    "reference_expression": reference_file("expression"),
                    "response": reference_file("response"),
                    "cell_lines": reference_file("cell_lines"),
                },
                fitted_model=("sensitivity", "fitted_model"),
            )
        ),
    output:
        metrics=report(f"{OUT}/sensitivity/metrics.tsv", caption="../report/metrics.rst", category="Sensitivity"),
        predictions=f"{OUT}/sensitivity/predictions.parquet",
        model=directory(f"{OUT}/sensitivity/model"),
        similar=f"{OUT}/sensitivity/similar_lines.tsv",
    params:
        p=stage_params("reference", "sensitivity"),
    log:
        "logs/sensitivity.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        (
            "rxrank predict --params {params.p:q} --model {input.fitted_model:q} "
            "--cohort {input.cohort:q} --reference-expression {input.reference_expression:q} "
            "--response {input.response:q} --metrics {output.metrics:q} "
            "--predictions {output.predictions:q} --model-dir {output.model:q} "
            "--similar-lines {output.similar:q} 2> {log:q}"
        )
        if FITTED_MODEL
        else (
            "rxrank sensitivity --params {params.p:q} --cohort {input.cohort:q} "
            "--reference-expression {input.reference_expression:q} --response {input.response:q} "
            "--cell-lines {input.cell_lines:q} --metrics {output.metrics:q} "
            "--predictions {output.predictions:q} --model-dir {output.model:q} "
            "--similar-lines {output.similar:q} 2> {log:q}"
        )
