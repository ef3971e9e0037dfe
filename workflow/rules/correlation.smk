rule correlation:
    input:
        unpack(
            inputs_with_optional(
                {
                    "cohort": "results/profiling/cohort.h5ad",
                    "reference_expression": config["reference"]["expression"],
                    "response": "results/reference/response.tsv",
                    "predictions": "results/sensitivity/predictions.tsv",
                },
                binary_features=("reference", "binary_features"),
            )
        ),
    output:
        modules="results/correlation/modules.tsv",
        hub_genes="results/correlation/hub_genes.tsv",
        eigengenes="results/correlation/eigengenes.tsv",
        soft_threshold="results/correlation/soft_threshold.tsv",
        module_traits=report("results/correlation/module_traits.tsv", caption="../report/module_traits.rst", category="Correlation"),
        gene_drug=report("results/correlation/gene_drug.tsv", caption="../report/gene_drug.rst", category="Correlation"),
        feature_drug="results/correlation/feature_drug.tsv",
    params:
        p=stage_params("reference", "correlation"),
        outdir=subpath(output.modules, parent=True),
        options=optional_options("binary_features"),
    log:
        "logs/correlation.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank correlation --params {params.p:q} --cohort {input.cohort:q} "
        "--reference-expression {input.reference_expression:q} --response {input.response:q} "
        "--predictions {input.predictions:q} --outdir {params.outdir:q} {params.options} 2> {log:q}"
