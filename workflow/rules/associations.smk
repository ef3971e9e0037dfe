# Module-trait tests (the modules' eigengenes vs clinical traits and predicted sensitivities),
# gene-drug and binary-feature tests across the reference's cell lines.
rule associations:
    input:
        unpack(
            inputs_with_optional(
                {
                    "cohort": f"{OUT}/profiling/cohort.h5ad",
                    "eigengenes": f"{OUT}/correlation/eigengenes.tsv",
                    "predictions": f"{OUT}/sensitivity/predictions.parquet",
                    "reference_expression": reference_file("expression"),
                    "response": reference_file("response"),
                    "cell_lines": reference_file("cell_lines"),
                },
                binary_features=("reference", "binary_features"),
            )
        ),
    output:
        module_traits=report(f"{OUT}/correlation/module_traits.tsv", caption="../report/module_traits.rst", category="Correlation"),
        gene_drug=report(f"{OUT}/correlation/gene_drug.tsv", caption="../report/gene_drug.rst", category="Correlation"),
        feature_drug=f"{OUT}/correlation/feature_drug.tsv",
    params:
        p=stage_params("reference", "correlation"),
        outdir=subpath(output.module_traits, parent=True),
        options=optional_options("binary_features"),
    log:
        "logs/associations.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank associations --params {params.p:q} --cohort {input.cohort:q} "
        "--eigengenes {input.eigengenes:q} --predictions {input.predictions:q} "
        "--reference-expression {input.reference_expression:q} --response {input.response:q} "
        "--cell-lines {input.cell_lines:q} "
        "--outdir {params.outdir:q} {params.options} 2> {log:q}"
