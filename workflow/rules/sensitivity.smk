rule sensitivity:
    input:
        cohort="results/profiling/cohort.h5ad",
        reference_expression=config["reference"]["expression"],
        response=config["reference"]["response"],
        cell_lines=reference_cell_lines(),
    output:
        metrics=report("results/sensitivity/metrics.tsv", caption="../report/metrics.rst", category="Sensitivity"),
        predictions="results/sensitivity/predictions.tsv",
        model=directory("results/sensitivity/model"),
    params:
        p=stage_params("reference", "sensitivity"),
        cell_lines=cell_lines_option,
    log:
        "logs/sensitivity.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank sensitivity --params {params.p:q} --cohort {input.cohort:q} "
        "--reference-expression {input.reference_expression:q} --response {input.response:q} "
        "{params.cell_lines} --metrics {output.metrics:q} --predictions {output.predictions:q} "
        "--model-dir {output.model:q} 2> {log:q}"
