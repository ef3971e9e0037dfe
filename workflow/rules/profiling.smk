rule profile:
    input:
        expression=cohort_expression,
        clinical=config["cohort"]["clinical"],
        drugs=reference_file("drugs"),
        check=f"{OUT}/check/summary.json",
    output:
        cohort=f"{OUT}/profiling/cohort.h5ad",
        markers=report(f"{OUT}/profiling/markers.tsv", caption="../report/markers.rst", category="Profiling"),
        target_z=f"{OUT}/profiling/target_z.tsv",
        gene_ids=f"{OUT}/profiling/gene_ids.tsv",
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
