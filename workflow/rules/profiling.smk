rule profile:
    input:
        expression=cohort_expression,
        clinical=config["cohort"]["clinical"],
        drugs=reference_file("drugs"),
        check="results/check/summary.json",
    output:
        cohort="results/profiling/cohort.h5ad",
        markers=report("results/profiling/markers.tsv", caption="../report/markers.rst", category="Profiling"),
        target_z="results/profiling/target_z.tsv",
        gene_ids="results/profiling/gene_ids.tsv",
    params:
        p=stage_params("cohort", "profiling", "privacy"),
    log:
        "logs/profile.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank profile --params {params.p:q} --expression {input.expression:q} "
        "--clinical {input.clinical:q} --drugs {input.drugs:q} --cohort {output.cohort:q} "
        "--markers {output.markers:q} --target-z {output.target_z:q} "
        "--gene-ids {output.gene_ids:q} 2> {log:q}"
