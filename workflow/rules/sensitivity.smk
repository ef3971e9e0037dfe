rule sensitivity:
    input:
        cohort="results/profiling/cohort.h5ad",
        reference_expression=config["reference"]["expression"],
        response="results/reference/response.tsv",
        cell_lines="results/reference/cell_lines.tsv",
    output:
        metrics=report("results/sensitivity/metrics.tsv", caption="../report/metrics.rst", category="Sensitivity"),
        predictions="results/sensitivity/predictions.tsv",
        model=directory("results/sensitivity/model"),
    params:
        p=stage_params("reference", "sensitivity"),
    log:
        "logs/sensitivity.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank sensitivity --params {params.p:q} --cohort {input.cohort:q} "
        "--reference-expression {input.reference_expression:q} --response {input.response:q} "
        "--cell-lines {input.cell_lines:q} --metrics {output.metrics:q} --predictions {output.predictions:q} "
        "--model-dir {output.model:q} 2> {log:q}"
